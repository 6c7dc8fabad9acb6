#include "kernels/label_stats/label_stats.hpp"

#include <string>

#include "kernels/label_stats/label_stats_math.hpp"

namespace nc::kernels {

namespace detail {

OverlapCounts unpack_counts(const std::vector<std::int64_t>& histograms, int num_labels) {
  const std::size_t bins = std::size_t(num_labels) + 1;
  OverlapCounts counts;
  counts.predicted.assign(histograms.begin(), histograms.begin() + num_labels);
  counts.truth.assign(histograms.begin() + bins, histograms.begin() + bins + num_labels);
  counts.intersection.assign(histograms.begin() + 2 * bins, histograms.begin() + 2 * bins + num_labels);
  counts.predicted_out_of_range = histograms[bins - 1];
  counts.truth_out_of_range = histograms[2 * bins - 1];
  return counts;
}

// A label without voxels gets LabelBox{}, whatever "largest" its backend cleared the box with
// (the CPU the grid's largest size, the GPU INT_MAX), so both backends' boxes compare equal.
std::vector<LabelBox> unpack_boxes(const std::vector<std::int64_t>& packed, int num_labels) {
  std::vector<LabelBox> boxes(static_cast<std::size_t>(num_labels));
  for (std::size_t l = 1; l < boxes.size(); ++l) {
    LabelBox box;
    for (std::size_t a = 0; a < 3; ++a) {
      box.lo[a] = packed[kBoxBounds * l + a];
      box.hi[a] = packed[kBoxBounds * l + 3 + a];
    }
    if (!box.empty()) boxes[l] = box;
  }
  return boxes;
}

}  // namespace detail

namespace {

void validate(std::size_t predicted, std::size_t truth, int num_labels) {
  if (num_labels < 1 || num_labels > kMaxLabels)
    throw Error("label statistics: num_labels " + std::to_string(num_labels) + " is outside [1, " +
                std::to_string(kMaxLabels) + "]");
  if (truth != 0 && truth != predicted)
    throw Error("label statistics: the maps differ in size (" + std::to_string(predicted) + " and " +
                std::to_string(truth) + " voxels)");
}

OverlapCounts dispatch(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                       std::array<std::int64_t, 3> size, int num_labels, Backend backend) {
  if (backend == Backend::Cuda) {
    require_cuda("label statistics");
    return detail::count_label_overlap_cuda(predicted, truth, size, num_labels);
  }
  return detail::count_label_overlap_cpu(predicted, truth, size, num_labels);
}

}  // namespace

OverlapCounts count_label_overlap(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                  int num_labels, Backend backend) {
  validate(predicted.size(), truth.size(), num_labels);
  if (truth.size() != predicted.size())
    throw Error("label statistics: the ground truth is empty");
  return dispatch(predicted, truth, {0, 0, 0}, num_labels, backend);
}

OverlapCounts count_label_overlap(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                  std::array<std::int64_t, 3> size, int num_labels, Backend backend) {
  validate(predicted.size(), truth.size(), num_labels);
  if (truth.size() != predicted.size()) throw Error("label statistics: the ground truth is empty");
  if (size[0] < 1 || size[1] < 1 || size[2] < 1 || std::uint64_t(size[0] * size[1] * size[2]) != predicted.size())
    throw Error("label statistics: a grid of " + std::to_string(size[0]) + "x" + std::to_string(size[1]) + "x" +
                std::to_string(size[2]) + " does not hold " + std::to_string(predicted.size()) + " voxels");
  return dispatch(predicted, truth, size, num_labels, backend);
}

OverlapCounts count_labels(std::span<const std::uint16_t> labels, int num_labels, Backend backend) {
  validate(labels.size(), 0, num_labels);
  return dispatch(labels, {}, {0, 0, 0}, num_labels, backend);
}

}  // namespace nc::kernels
