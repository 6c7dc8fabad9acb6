// CPU-only builds: dispatch calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/label_stats/label_stats.hpp"

namespace nc::kernels::detail {

OverlapCounts count_label_overlap_cuda(std::span<const std::uint16_t>, std::span<const std::uint16_t>,
                                       std::array<std::int64_t, 3>, int) {
  require_cuda("label statistics");
  return {};
}

}  // namespace nc::kernels::detail
