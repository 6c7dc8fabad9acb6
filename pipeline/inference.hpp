#pragma once
/// \file
/// Segmentation of a preprocessed scan with a SegmentationModel: intensity normalisation,
/// resampling to the model's input spacing, sliding-window inference with Gaussian
/// importance blending, and class probabilities interpolated back to the preprocessed grid
/// before the argmax. models/sliding_window.py is the same algorithm in Python; the two
/// agree so that held-out Dice measured in training is what `neurocohort run` delivers.

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/volume.hpp"
#include "kernels/common/backend.hpp"
#include "kernels/common/device_array.hpp"
#include "pipeline/preprocess.hpp"
#include "pipeline/segmentation_model.hpp"
#include "qc/measures.hpp"

namespace nc::pipeline {

/// How the network covers a volume: overlapping windows of the training patch, blended; or one
/// forward pass over the whole volume zero-padded to a multiple of kWholeVolumeMultiple, where
/// that is at most kWholeVolumePatches patches of voxels (else windows). docs/models.md has the
/// Dice and seconds of each plan.
enum class WindowPlan { Windows, Whole };
inline constexpr std::int64_t kWholeVolumeMultiple = 16;  ///< four stride-2 levels at most
inline constexpr std::int64_t kWholeVolumePatches = 4;

/// "windows", "whole": the names the command line takes.
const char* window_plan_name(WindowPlan plan);

struct SlidingWindowOptions {
  int batch = 2;          ///< windows per forward pass
  double overlap = 0.5;   ///< fraction of the patch shared by neighbouring windows, in [0, 1)
  WindowPlan plan = WindowPlan::Windows;
};

/// The volume a whole-volume pass runs on: `size` rounded up to kWholeVolumeMultiple per axis;
/// nullopt when that exceeds kWholeVolumePatches × the patch's voxels.
std::optional<std::array<std::int64_t, 3>> whole_volume_size(const std::array<std::int64_t, 3>& size,
                                                             const std::array<std::int64_t, 3>& patch);

/// Window start positions along one axis: a step of patch·(1 − overlap), the last window
/// flush with the end; one window at 0 when the axis is not longer than the patch (the
/// volume is then padded with zeros to the patch).
std::vector<std::int64_t> window_starts(std::int64_t size, std::int64_t patch, double overlap);

/// The blending weight of each patch voxel: a Gaussian of sigma = patch / 8 per axis, 1 at the
/// centre, at least 1e-3 at the corners; laid out [k][j][i].
std::vector<float> gaussian_importance(const std::array<std::int64_t, 3>& patch);

/// Softmax probabilities [class][k][j][i] of `input` (on the model's grid, normalised), from
/// overlapping windows blended by gaussian_importance, or from one pass over the whole volume.
/// \throws ModelError from the network; Error for invalid options.
std::vector<float> sliding_window_probabilities(const SegmentationModel& model, const ImageVolume& input,
                                                const SlidingWindowOptions& options);
/// The same on the GPU (a CUDA model): windows cut from the device volume, the network on
/// device memory, the blend and the softmax by kernels; nothing crosses to the host.
kernels::DeviceArray<float> sliding_window_probabilities(const SegmentationModel& model,
                                                         const kernels::DeviceVolume<float>& input,
                                                         const SlidingWindowOptions& options);

struct Segmentation {
  LabelVolume labels;         ///< on the scan's preprocessed grid, 0 outside its brain mask
  qc::Confidence confidence;  ///< of the network inside the brain mask, on the model's grid
  /// A scan preprocessed on the GPU: `labels` also on the device, to go on to the native grid there.
  std::optional<kernels::DeviceVolume<std::uint16_t>> on_device;
};

/// The model's label map of a preprocessed scan and how sure the network was of it. A scan
/// preprocessed on the device (`on_device`) is segmented there, whatever `backend` says.
Segmentation segment(const SegmentationModel& model, const PreprocessedScan& scan, const SlidingWindowOptions& options,
                    kernels::Backend backend);

}  // namespace nc::pipeline
