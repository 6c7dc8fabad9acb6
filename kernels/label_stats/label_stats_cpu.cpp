#include <tbb/blocked_range.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>

#include "kernels/label_stats/label_stats.hpp"
#include "kernels/label_stats/label_stats_math.hpp"

namespace nc::kernels::detail {
namespace {

// Per-task partial sums merged at the end: integer counts and min/max bounds, so any split
// gives the same result.
struct Partial {
  std::vector<std::int64_t> histograms, boxes;
};

Partial empty_partial(int num_labels, bool with_boxes, std::int64_t largest) {
  Partial p{std::vector<std::int64_t>(3 * (std::size_t(num_labels) + 1), 0), {}};
  if (with_boxes) {
    p.boxes.resize(std::size_t(kBoxBounds) * std::size_t(num_labels));
    for (int l = 0; l < num_labels; ++l) clear_box(&p.boxes[std::size_t(kBoxBounds * l)], largest);
  }
  return p;
}

Partial merge(Partial a, const Partial& b) {
  for (std::size_t i = 0; i < a.histograms.size(); ++i) a.histograms[i] += b.histograms[i];
  for (std::size_t i = 0; i < a.boxes.size(); ++i)
    a.boxes[i] = i % kBoxBounds < 3 ? std::min(a.boxes[i], b.boxes[i]) : std::max(a.boxes[i], b.boxes[i]);
  return a;
}

// One row of the grid, as runs of equal (predicted, truth) pairs: label maps are mostly long
// runs, so the counts and boxes are updated once per run rather than once per voxel.
void count_row(const std::uint16_t* predicted, const std::uint16_t* truth, std::int64_t n, std::int64_t j,
               std::int64_t k, int num_labels, Partial& partial) {
  const bool with_boxes = !partial.boxes.empty();
  const auto lower = [&](int bound, long long v) {
    auto& b = partial.boxes[std::size_t(bound)];
    b = std::min<std::int64_t>(b, v);
  };
  const auto raise = [&](int bound, long long v) {
    auto& b = partial.boxes[std::size_t(bound)];
    b = std::max<std::int64_t>(b, v);
  };
  for (std::int64_t i = 0; i < n;) {
    const std::uint16_t p = predicted[i], t = truth ? truth[i] : 0;
    std::int64_t end = i + 1;
    if (truth)
      while (end < n && predicted[end] == p && truth[end] == t) ++end;
    else
      while (end < n && predicted[end] == p) ++end;
    const std::int64_t run = end - i;
    const auto add = [&](int bin) { partial.histograms[std::size_t(bin)] += run; };
    if (truth)
      count_overlap_voxel(p, t, num_labels, add);
    else
      add(label_bin(p, num_labels));
    if (with_boxes) {
      include_run(p, num_labels, i, end, j, k, lower, raise);
      if (truth && t != p) include_run(t, num_labels, i, end, j, k, lower, raise);
    }
    i = end;
  }
}

}  // namespace

OverlapCounts count_label_overlap_cpu(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                      std::array<std::int64_t, 3> size, int num_labels) {
  const bool with_boxes = size[0] > 0;
  // Without a grid the maps are counted as rows of 64 Ki voxels; the runs never need it.
  const std::int64_t row = with_boxes ? size[0] : std::int64_t{1} << 16;
  const std::int64_t rows = (std::int64_t(predicted.size()) + row - 1) / row;
  const std::int64_t rows_per_slice = with_boxes ? size[1] : rows;
  const std::int64_t largest = std::max({size[0], size[1], size[2]});
  const Partial total = tbb::parallel_reduce(
      tbb::blocked_range<std::int64_t>(0, rows, std::max<std::int64_t>(1, (std::int64_t(1) << 16) / row)),
      empty_partial(num_labels, with_boxes, largest),
      [&](const tbb::blocked_range<std::int64_t>& range, Partial partial) {
        for (std::int64_t r = range.begin(); r != range.end(); ++r) {
          const std::size_t start = std::size_t(r * row);
          const std::int64_t n = std::min<std::int64_t>(row, std::int64_t(predicted.size()) - r * row);
          count_row(predicted.data() + start, truth.empty() ? nullptr : truth.data() + start, n,
                    r % rows_per_slice, r / rows_per_slice, num_labels, partial);
        }
        return partial;
      },
      merge);
  OverlapCounts counts = unpack_counts(total.histograms, num_labels);
  if (with_boxes) counts.boxes = unpack_boxes(total.boxes, num_labels);
  return counts;
}

}  // namespace nc::kernels::detail
