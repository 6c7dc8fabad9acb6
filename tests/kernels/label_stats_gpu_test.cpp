// CPU/CUDA parity. Label counts are integers: the two backends must agree exactly.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/label_stats/label_stats.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

TEST(LabelStatsGpu, CudaCountsEqualCpuCounts) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  for (const int labels : {2, 11, 117, kMaxLabels}) {
    auto a = test::random_labels({97, 83, 71}, labels + 2, 10).voxels;
    auto b = test::random_labels({97, 83, 71}, labels + 2, 11).voxels;
    for (std::size_t n = 0; n < b.size(); n += 2) b[n] = a[n];
    // Label 1 in neither map: its (empty) box must come back the same from both backends.
    for (auto* map : {&a, &b}) std::replace(map->begin(), map->end(), std::uint16_t{1}, std::uint16_t{0});
    EXPECT_EQ(count_label_overlap(a, b, labels, Backend::Cuda), count_label_overlap(a, b, labels, Backend::Cpu))
        << labels << " labels";
    EXPECT_EQ(count_labels(a, labels, Backend::Cuda), count_labels(a, labels, Backend::Cpu));
    const std::array<std::int64_t, 3> grid{97, 83, 71};
    EXPECT_EQ(count_label_overlap(a, b, grid, labels, Backend::Cuda), count_label_overlap(a, b, grid, labels, Backend::Cpu))
        << labels << " labels, with boxes";
  }
}

}  // namespace
}  // namespace nc::kernels
