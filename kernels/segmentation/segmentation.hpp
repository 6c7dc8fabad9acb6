#pragma once
/// \file
/// The segmentation network's input and output on the device (the CUDA path of
/// pipeline/inference.cpp, which keeps a scan on the device from its upload to its label map):
/// z-score normalisation inside the brain mask, cutting windows out of the volume, blending
/// each window's softmax into the class sums, and the confidence measures of the result. The
/// CPU path does the same on host memory, through the per-voxel math of segmentation_math.hpp.
/// Without CUDA every function throws CudaError.

#include <array>
#include <cstdint>

#include "kernels/common/device_array.hpp"

namespace nc::kernels {

using Size3 = std::array<std::int64_t, 3>;

/// image ← (image − mean) / sd inside `mask` (mean and standard deviation over the mask, sd at
/// least 1e-6), 0 outside. \throws Error when the mask is empty.
void zscore_in_mask(DeviceVolume<float>& image, const DeviceArray<std::uint8_t>& mask);

/// Copies the window at `start` (size `patch`) of `volume` into `window` (patch voxels, i
/// fastest), zeros beyond the volume's end.
void extract_window(const DeviceVolume<float>& volume, const Size3& start, const Size3& patch, float* window);

/// Adds the softmax of one window's logits (`classes` × patch voxels), weighted by `weights`
/// (patch voxels), into `total` (classes × the volume's voxels) and the weights into `norm`.
void blend_window_softmax(const float* logits, int classes, const DeviceArray<float>& weights, const Size3& start,
                          const Size3& patch, const Size3& size, DeviceArray<float>& total, DeviceArray<float>& norm);

/// total[c][v] ← total[c][v] / norm[v]: the blended probabilities.
void divide_by_weights(DeviceArray<float>& total, const DeviceArray<float>& norm, int classes);

/// The network's confidence over the voxels where `mask` is set (qc::Confidence's two
/// measures): the mean largest class probability, and the share of voxels whose two largest
/// probabilities lie less than `low_margin` apart. \throws Error when the mask is empty.
struct DeviceConfidence {
  double mean_max_probability = 0;
  double low_margin_fraction = 0;
};
DeviceConfidence confidence_in_mask(const DeviceArray<float>& probabilities, int classes,
                                    const DeviceArray<std::uint16_t>& mask, double low_margin);

/// labels[v] ← mask[v] ? ids[labels[v]] : 0: network classes to label ids, inside the brain.
void mask_and_map_labels(DeviceVolume<std::uint16_t>& labels, const DeviceArray<std::uint8_t>& mask,
                         const DeviceArray<std::uint16_t>& ids);

}  // namespace nc::kernels
