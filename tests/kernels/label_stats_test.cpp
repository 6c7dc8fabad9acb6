#include "kernels/label_stats/label_stats.hpp"

#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

// The deliberately naive reference: one loop, one voxel at a time.
OverlapCounts naive_overlap(const std::vector<std::uint16_t>& p, const std::vector<std::uint16_t>& t, int labels) {
  OverlapCounts c;
  c.predicted.assign(labels, 0);
  c.truth.assign(labels, 0);
  c.intersection.assign(labels, 0);
  for (std::size_t n = 0; n < p.size(); ++n) {
    if (p[n] < labels) ++c.predicted[p[n]]; else ++c.predicted_out_of_range;
    if (t[n] < labels) ++c.truth[t[n]]; else ++c.truth_out_of_range;
    if (p[n] == t[n] && p[n] < labels) ++c.intersection[p[n]];
  }
  return c;
}

TEST(LabelStats, MatchesNaiveReferenceIncludingOutOfRangeLabels) {
  const auto predicted = test::random_labels({61, 47, 33}, 14, 1).voxels;
  auto truth = test::random_labels({61, 47, 33}, 14, 2).voxels;
  for (std::size_t n = 0; n < truth.size(); n += 3) truth[n] = predicted[n];  // real overlap
  const auto counts = count_label_overlap(predicted, truth, 12, Backend::Cpu);  // 12, 13 are out of range
  EXPECT_EQ(counts, naive_overlap(predicted, truth, 12));
  EXPECT_GT(counts.predicted_out_of_range, 0);
}

// Boxes the naive way: every voxel of either map widens its label's box.
std::vector<LabelBox> naive_boxes(const LabelVolume& p, const LabelVolume& t, int labels) {
  const auto& s = p.geometry.size;
  std::vector<LabelBox> boxes(std::size_t(labels), LabelBox{{s[0], s[0], s[0]}, {0, 0, 0}});
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t i = 0; i < s[0]; ++i)
        for (const std::uint16_t l : {p.at(i, j, k), t.at(i, j, k)}) {
          if (l == 0 || l >= labels) continue;
          LabelBox& b = boxes[l];
          b.lo = {std::min(b.lo[0], i), std::min(b.lo[1], j), std::min(b.lo[2], k)};
          b.hi = {std::max(b.hi[0], i + 1), std::max(b.hi[1], j + 1), std::max(b.hi[2], k + 1)};
        }
  boxes[0] = LabelBox{};
  return boxes;
}

// Sparse blobs (long runs of background, as in a head) and one label in a single voxel.
LabelVolume blob_labels(std::array<std::int64_t, 3> size, unsigned seed) {
  LabelVolume v = test::random_labels(size, 9, seed);
  for (auto& l : v.voxels)
    if (l > 3) l = 0;
  v.at(size[0] - 1, 0, size[2] / 2) = 7;
  return v;
}

TEST(LabelStats, BoxesComeFromTheSamePassAndMatchNaiveBoxes) {
  const LabelVolume p = blob_labels({61, 47, 33}, 6), t = blob_labels({61, 47, 33}, 7);
  const auto with_boxes = count_label_overlap(p.voxels, t.voxels, p.geometry.size, 9, Backend::Cpu);
  const auto expected = naive_boxes(p, t, 9);
  ASSERT_EQ(with_boxes.boxes.size(), expected.size());
  for (int l = 0; l < 9; ++l) {
    if (expected[std::size_t(l)].hi[0] == 0) {
      EXPECT_TRUE(with_boxes.boxes[std::size_t(l)].empty()) << l;
      continue;
    }
    EXPECT_EQ(with_boxes.boxes[std::size_t(l)], expected[std::size_t(l)]) << l;
  }
  EXPECT_EQ(with_boxes.boxes[7].lo, (std::array<std::int64_t, 3>{60, 0, 16}));
  EXPECT_EQ(with_boxes.boxes[8], LabelBox{});  // absent: the one empty box every backend gives
  OverlapCounts counts_only = with_boxes;
  counts_only.boxes.clear();
  EXPECT_EQ(counts_only, count_label_overlap(p.voxels, t.voxels, 9, Backend::Cpu));
  EXPECT_THROW(count_label_overlap(p.voxels, t.voxels, {61, 47, 32}, 9, Backend::Cpu), Error);
}

TEST(LabelStats, CountsAreIdenticalForAnyThreadCount) {
  const auto a = test::random_labels({80, 80, 40}, 11, 3).voxels;
  const auto b = test::random_labels({80, 80, 40}, 11, 4).voxels;
  OverlapCounts one_thread;
  {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
    one_thread = count_label_overlap(a, b, {80, 80, 40}, 11, Backend::Cpu);
  }
  EXPECT_EQ(count_label_overlap(a, b, {80, 80, 40}, 11, Backend::Cpu), one_thread);
}

TEST(LabelStats, SingleMapCountsSumToVoxelCount) {
  const auto labels = test::random_labels({20, 20, 20}, 5, 5).voxels;
  const auto counts = count_labels(labels, 5, Backend::Cpu);
  std::int64_t total = 0;
  for (auto c : counts.predicted) total += c;
  EXPECT_EQ(total, 8000);
}

TEST(LabelStats, EmptyMapsGiveZeroCounts) {
  const std::vector<std::uint16_t> none;
  const auto counts = count_label_overlap(none, none, 3, Backend::Cpu);
  EXPECT_EQ(counts.predicted, std::vector<std::int64_t>(3, 0));
}

TEST(LabelStats, RejectsMismatchedSizesAndLabelCounts) {
  const std::vector<std::uint16_t> a(10), b(11);
  EXPECT_THROW(count_label_overlap(a, b, 3, Backend::Cpu), Error);
  EXPECT_THROW(count_label_overlap(a, a, 0, Backend::Cpu), Error);
  EXPECT_THROW(count_label_overlap(a, a, kMaxLabels + 1, Backend::Cpu), Error);
}

TEST(LabelStats, CudaBackendWithoutDeviceIsAClearError) {
  if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is present; the gpu label covers this backend";
  const std::vector<std::uint16_t> a(10);
  EXPECT_THROW(count_label_overlap(a, a, 3, Backend::Cuda), CudaError);
}

}  // namespace
}  // namespace nc::kernels
