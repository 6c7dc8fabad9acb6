#pragma once
/// \file
/// Voxel counts per label and per-label overlap against a ground-truth map, in one pass, and
/// where the grid is given, each label's bounding box in the same pass. Measurement (volumes,
/// Dice, precision, recall, and the boxes HD95 works in) is built on these integers, which are
/// identical on every backend and thread count.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/common/backend.hpp"

namespace nc::kernels {

/// Largest num_labels: three histograms of it fit a block's shared memory on the GPU.
inline constexpr int kMaxLabels = 1024;

/// Voxel indices [lo, hi) per axis; lo >= hi on every axis for a label no voxel has.
struct LabelBox {
  std::array<std::int64_t, 3> lo{}, hi{};
  bool empty() const { return lo[0] >= hi[0]; }
  bool operator==(const LabelBox&) const = default;
};

/// Per-label counts; index = label, for labels 0 .. num_labels-1.
struct OverlapCounts {
  std::vector<std::int64_t> predicted;     ///< voxels labelled l in the prediction
  std::vector<std::int64_t> truth;         ///< voxels labelled l in the ground truth
  std::vector<std::int64_t> intersection;  ///< voxels labelled l in both (true positives)
  std::int64_t predicted_out_of_range = 0;  ///< prediction voxels with a label >= num_labels
  std::int64_t truth_out_of_range = 0;      ///< truth voxels with a label >= num_labels
  /// With the grid given: per label 1 .. num_labels-1 (index = label), the bounding box of its
  /// voxels in either map; LabelBox{} (empty) otherwise. Background (label 0) gets LabelBox{}, as it
  /// covers the grid and nothing is measured on it.
  std::vector<LabelBox> boxes;
  bool operator==(const OverlapCounts&) const = default;
};

/// Counts both maps and their per-label intersection.
/// \param predicted,truth label maps on the same grid (same length)
/// \param num_labels labels 0 .. num_labels-1 are counted one by one; 1 <= num_labels <= kMaxLabels
/// \throws Error on different lengths or num_labels out of range; CudaError for Backend::Cuda
///         without a device
OverlapCounts count_label_overlap(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                  int num_labels, Backend backend);

/// The same counts and, in the same pass, each label's bounding box over both maps (`boxes`).
/// \param size the grid's voxels per axis, i fastest; its product is the maps' length
/// \throws Error as above, and when `size` does not match the maps' length
OverlapCounts count_label_overlap(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                  std::array<std::int64_t, 3> size, int num_labels, Backend backend);

/// Counts one map: the `predicted` and `predicted_out_of_range` fields of the result.
OverlapCounts count_labels(std::span<const std::uint16_t> labels, int num_labels, Backend backend);

namespace detail {
/// Backend implementations after validation. `truth` may be empty (count one map only);
/// `size` is all zeros when no boxes are wanted.
OverlapCounts count_label_overlap_cpu(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                      std::array<std::int64_t, 3> size, int num_labels);
OverlapCounts count_label_overlap_cuda(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                       std::array<std::int64_t, 3> size, int num_labels);
/// Turns three concatenated histograms of num_labels+1 bins into OverlapCounts.
OverlapCounts unpack_counts(const std::vector<std::int64_t>& histograms, int num_labels);
/// Turns the packed boxes (label_stats_math.hpp: six bounds per label) into LabelBoxes.
std::vector<LabelBox> unpack_boxes(const std::vector<std::int64_t>& packed, int num_labels);
}  // namespace detail

}  // namespace nc::kernels
