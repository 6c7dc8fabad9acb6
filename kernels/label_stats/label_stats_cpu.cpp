#include <tbb/blocked_range.h>
#include <tbb/parallel_reduce.h>

#include "kernels/label_stats/label_stats.hpp"
#include "kernels/label_stats/label_stats_math.hpp"

namespace nc::kernels::detail {

OverlapCounts count_label_overlap_cpu(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                      int num_labels) {
  using Histograms = std::vector<std::int64_t>;
  const std::size_t bins = std::size_t(num_labels) + 1;
  const bool with_truth = !truth.empty();
  // Per-task partial histograms merged at the end: integer counts, so any split gives the same result.
  const Histograms total = tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, predicted.size(), 1 << 16), Histograms(3 * bins, 0),
      [&](const tbb::blocked_range<std::size_t>& range, Histograms partial) {
        const auto increment = [&partial](int bin) { ++partial[std::size_t(bin)]; };
        for (std::size_t n = range.begin(); n != range.end(); ++n) {
          if (with_truth)
            count_overlap_voxel(predicted[n], truth[n], num_labels, increment);
          else
            increment(label_bin(predicted[n], num_labels));
        }
        return partial;
      },
      [](Histograms a, const Histograms& b) {
        for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
        return a;
      });
  return unpack_counts(total, num_labels);
}

}  // namespace nc::kernels::detail
