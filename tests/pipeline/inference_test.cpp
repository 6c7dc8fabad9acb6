#include "pipeline/inference.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/segmentation/segmentation_math.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::pipeline {
namespace {

namespace fs = std::filesystem;
using Size3 = std::array<std::int64_t, 3>;

// The tiny networks of export_tiny_model.py (3 classes, 8³ patch), exported once.
const SegmentationModel& tiny_model(bool spatial) {
  static test::TempDir dir;
  static const auto load = [](bool s) {
    const fs::path out = dir / (s ? "spatial.pt" : "pointwise.pt");
    const auto r = test::run_command("/usr/bin/python3 " NC_TEST_SOURCE_DIR "/pipeline/export_tiny_model.py " +
                                     out.string() + " 3" + (s ? " --spatial" : "") + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error(r.output);
    return SegmentationModel::load(out);
  };
  static const SegmentationModel spatial_model = load(true), pointwise_model = load(false);
  return spatial ? spatial_model : pointwise_model;
}

ImageVolume random_volume(const Size3& size, unsigned seed) {
  Geometry g;
  g.size = size;
  ImageVolume v(g);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (auto& x : v.voxels) x = normal(rng);
  return v;
}

// Softmax over classes of logits [class][voxel].
std::vector<float> softmax(const std::vector<float>& logits, std::int64_t classes) {
  const std::size_t n = logits.size() / std::size_t(classes);
  std::vector<float> p(logits.size());
  for (std::size_t v = 0; v < n; ++v) {
    double sum = 0;
    for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(double(logits[std::size_t(c) * n + v]));
    for (std::int64_t c = 0; c < classes; ++c)
      p[std::size_t(c) * n + v] = float(std::exp(double(logits[std::size_t(c) * n + v])) / sum);
  }
  return p;
}

TEST(SlidingWindow, WindowStartsStepByHalfAPatchAndEndFlush) {
  EXPECT_EQ(window_starts(20, 8, 0.5), (std::vector<std::int64_t>{0, 4, 8, 12}));
  EXPECT_EQ(window_starts(10, 8, 0.5), (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(window_starts(8, 8, 0.5), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(window_starts(5, 8, 0.5), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(window_starts(20, 8, 0.0), (std::vector<std::int64_t>{0, 8, 12}));
}

TEST(SlidingWindow, GaussianImportancePeaksAtTheCentre) {
  const auto w = gaussian_importance({8, 8, 8});
  const auto at = [&](int i, int j, int k) { return w[std::size_t(i + 8 * (j + 8 * k))]; };
  EXPECT_FLOAT_EQ(at(3, 4, 4), at(4, 3, 3));  // symmetric about the centre 3.5
  EXPECT_GT(at(3, 3, 3), at(1, 3, 3));
  EXPECT_NEAR(at(0, 0, 0), 1e-3f, 1e-6f);    // floor at the corners
}

TEST(SlidingWindow, OneWindowCoveringTheVolumeEqualsOneForwardPass) {
  const auto& model = tiny_model(true);
  const ImageVolume volume = random_volume({8, 8, 8}, 1);
  std::vector<float> logits(3 * 512);
  model.forward(volume.voxels, 1, {8, 8, 8}, logits);
  const auto expected = softmax(logits, 3);
  const auto probabilities = sliding_window_probabilities(model, volume, {});
  ASSERT_EQ(probabilities.size(), expected.size());
  for (std::size_t n = 0; n < expected.size(); ++n) ASSERT_NEAR(probabilities[n], expected[n], 1e-6) << n;
}

TEST(SlidingWindow, VolumeSmallerThanThePatchIsZeroPadded) {
  const auto& model = tiny_model(true);
  const ImageVolume volume = random_volume({5, 6, 7}, 2);
  ImageVolume padded = random_volume({8, 8, 8}, 0);
  std::fill(padded.voxels.begin(), padded.voxels.end(), 0.0f);
  for (std::int64_t k = 0; k < 7; ++k)
    for (std::int64_t j = 0; j < 6; ++j)
      for (std::int64_t i = 0; i < 5; ++i) padded.at(i, j, k) = volume.at(i, j, k);
  std::vector<float> logits(3 * 512);
  model.forward(padded.voxels, 1, {8, 8, 8}, logits);
  const auto expected = softmax(logits, 3);
  const auto probabilities = sliding_window_probabilities(model, volume, {});
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t k = 0; k < 7; ++k)
      for (std::int64_t j = 0; j < 6; ++j)
        for (std::int64_t i = 0; i < 5; ++i)
          ASSERT_NEAR(probabilities[std::size_t(c * 210 + volume.geometry.linear_index(i, j, k))],
                      expected[std::size_t(c * 512 + padded.geometry.linear_index(i, j, k))], 1e-6);
}

TEST(SlidingWindow, BlendKeepsOrRetakesTheExponentialsToTheSameBits) {
  // A model with more classes than the blend keeps exponentials for takes the rest again: the
  // classes on both sides of the limit, given equal logits, must get identical probabilities,
  // and every class its softmax.
  constexpr long long classes = kernels::kBlendKeptClasses + 8;
  std::vector<float> logits(classes);
  for (long long c = 0; c < classes; ++c) logits[std::size_t(c)] = 0.37f * float(c % 7) - 1.0f;
  const long long last_kept = kernels::kBlendKeptClasses - 1, first_retaken = kernels::kBlendKeptClasses;
  logits[std::size_t(first_retaken)] = logits[std::size_t(last_kept)];
  std::vector<float> total(classes, 0.0f);
  float norm = 0;
  kernels::blend_softmax_voxel(logits.data(), classes, 1, 0, 0.5f, total.data(), 1, 0, &norm);
  EXPECT_EQ(total[std::size_t(last_kept)], total[std::size_t(first_retaken)]);
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l));
  for (long long c = 0; c < classes; ++c)
    EXPECT_NEAR(total[std::size_t(c)], 0.5 * std::exp(double(logits[std::size_t(c)])) / sum, 1e-7) << "class " << c;
  EXPECT_EQ(norm, 0.5f);
}

TEST(SlidingWindow, OverlappingWindowsBlendToTheSameProbabilities) {
  // A pointwise network gives every window the same value at a voxel, so any correctly
  // normalised blend must reproduce softmax(x + c) exactly; batches of 1 and 3 agree.
  const auto& model = tiny_model(false);
  const ImageVolume volume = random_volume({20, 9, 13}, 3);
  const std::int64_t n = volume.geometry.voxel_count();
  std::vector<float> logits(std::size_t(3 * n));
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t v = 0; v < n; ++v) logits[std::size_t(c * n + v)] = volume.voxels[std::size_t(v)] + float(c);
  const auto expected = softmax(logits, 3);
  for (int batch : {1, 3}) {
    const auto probabilities = sliding_window_probabilities(model, volume, {batch, 0.5});
    for (std::size_t q = 0; q < expected.size(); ++q) ASSERT_NEAR(probabilities[q], expected[q], 1e-5) << q;
  }
}

TEST(SlidingWindow, TheWholeVolumeIsPaddedToAMultipleOf16WithinFourPatches) {
  EXPECT_EQ(whole_volume_size({75, 90, 75}, {64, 64, 64}), (Size3{80, 96, 80}));
  EXPECT_EQ(whole_volume_size({16, 1, 33}, {64, 64, 64}), (Size3{16, 16, 48}));
  EXPECT_EQ(whole_volume_size({100, 110, 100}, {64, 64, 64}), std::nullopt);  // 112·112·112 > 4·64³
}

// The whole plan is one forward pass over the volume zero-padded at its far ends; a volume too
// large for it gets windows.
TEST(SlidingWindow, WholePlanIsOnePassOverThePaddedVolume) {
  static test::TempDir dir;
  const fs::path path = dir / "spatial16.pt";
  const auto r = test::run_command("/usr/bin/python3 " NC_TEST_SOURCE_DIR "/pipeline/export_tiny_model.py " +
                                   path.string() + " 3 --spatial --patch 16 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto model = SegmentationModel::load(path);
  const ImageVolume volume = random_volume({20, 18, 12}, 4);  // padded to 32 × 32 × 16 = 4 patches
  ImageVolume padded = random_volume({32, 32, 16}, 0);
  std::fill(padded.voxels.begin(), padded.voxels.end(), 0.0f);
  for (std::int64_t k = 0; k < 12; ++k)
    for (std::int64_t j = 0; j < 18; ++j)
      for (std::int64_t i = 0; i < 20; ++i) padded.at(i, j, k) = volume.at(i, j, k);
  const std::size_t nv = std::size_t(volume.geometry.voxel_count()), pv = std::size_t(padded.geometry.voxel_count());
  std::vector<float> logits(3 * pv);
  model.forward(padded.voxels, 1, {32, 32, 16}, logits);
  const auto expected = softmax(logits, 3);
  const auto whole = sliding_window_probabilities(model, volume, {.plan = WindowPlan::Whole});
  ASSERT_EQ(whole.size(), 3 * nv);
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t k = 0; k < 12; ++k)
      for (std::int64_t j = 0; j < 18; ++j)
        for (std::int64_t i = 0; i < 20; ++i)
          ASSERT_NEAR(whole[std::size_t(c) * nv + std::size_t(volume.geometry.linear_index(i, j, k))],
                      expected[std::size_t(c) * pv + std::size_t(padded.geometry.linear_index(i, j, k))], 1e-6);
  const ImageVolume large = random_volume({40, 40, 20}, 5);  // 48 · 48 · 32 > 4 · 16³: windows
  EXPECT_EQ(sliding_window_probabilities(model, large, {.plan = WindowPlan::Whole}),
            sliding_window_probabilities(model, large, {}));
}

TEST(SlidingWindow, InvalidOptionsAreErrors) {
  const ImageVolume volume = random_volume({8, 8, 8}, 4);
  EXPECT_THROW(sliding_window_probabilities(tiny_model(false), volume, {0, 0.5}), Error);
  EXPECT_THROW(sliding_window_probabilities(tiny_model(false), volume, {1, 1.0}), Error);
}

}  // namespace
}  // namespace nc::pipeline
