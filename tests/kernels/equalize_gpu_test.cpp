// CPU/CUDA parity for adaptive equalization. Both use the same levels and term table; the CPU
// sums in float along a sliding histogram, the GPU in double voxel by voxel (equalize_math.hpp
// says why), so outputs agree to 1e-4 of the intensity range: with the brain mask the pipeline
// passes, on a volume large enough for many grid-stride rounds, and from several threads. A
// radius above kCudaAheMaxRadius runs the CPU's algorithm, so it equals the CPU bit for bit.
#include <gtest/gtest.h>

#include <thread>

#include "kernels/equalize/equalize.hpp"
#include "tests/support/itk_convert.hpp"

namespace nc::kernels {
namespace {

// A ball-shaped mask over most of the grid, as a brain mask is.
Volume<std::uint8_t> ball_mask(const Geometry& g) {
  Volume<std::uint8_t> mask(g);
  for (std::int64_t k = 0; k < g.size[2]; ++k)
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i) {
        const double x = (i - g.size[0] / 2.0) / (0.45 * g.size[0]), y = (j - g.size[1] / 2.0) / (0.45 * g.size[1]),
                     z = (k - g.size[2] / 2.0) / (0.45 * g.size[2]);
        mask.at(i, j, k) = x * x + y * y + z * z <= 1.0;
      }
  return mask;
}

void expect_close(const ImageVolume& gpu, const ImageVolume& cpu, const ImageVolume& in) {
  const auto [lo, hi] = std::minmax_element(in.voxels.begin(), in.voxels.end());
  for (std::size_t n = 0; n < cpu.voxels.size(); ++n) ASSERT_NEAR(gpu.voxels[n], cpu.voxels[n], 1e-4 * (*hi - *lo)) << n;
}

TEST(AdaptiveEqualizeGpu, CudaEqualsCpu) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  Geometry g;
  g.size = {96, 80, 64};
  const ImageVolume in = test::smooth_volume(g);
  expect_close(adaptive_equalize(in, {}, Backend::Cuda), adaptive_equalize(in, {}, Backend::Cpu), in);
}

TEST(AdaptiveEqualizeGpu, CudaEqualsCpuInsideABrainMaskOnALargeVolume) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  Geometry g;
  g.size = {192, 224, 192};  // 8.3 M voxels: dozens of grid-stride rounds on any GPU
  const ImageVolume in = test::smooth_volume(g);
  const Volume<std::uint8_t> mask = ball_mask(g);
  const ImageVolume cpu = adaptive_equalize(in, {}, Backend::Cpu, &mask);
  expect_close(adaptive_equalize(in, {}, Backend::Cuda, &mask), cpu, in);
}

TEST(AdaptiveEqualizeGpu, ThreadsEqualizeAtOnce) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  Geometry g;
  g.size = {96, 80, 64};
  const ImageVolume in = test::smooth_volume(g);
  const Volume<std::uint8_t> mask = ball_mask(g);
  const ImageVolume cpu = adaptive_equalize(in, {}, Backend::Cpu, &mask);
  std::vector<ImageVolume> out(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < out.size(); ++t)
    threads.emplace_back([&, t] { out[t] = adaptive_equalize(in, {}, Backend::Cuda, &mask); });
  for (auto& thread : threads) thread.join();
  for (const ImageVolume& gpu : out) expect_close(gpu, cpu, in);
}

TEST(AdaptiveEqualizeGpu, ARadiusAboveTheCapRunsTheCpuAlgorithm) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  Geometry g;
  g.size = {96, 80, 64};
  const ImageVolume in = test::smooth_volume(g);
  const AheParams wide{.radius = kCudaAheMaxRadius + 12};
  EXPECT_EQ(adaptive_equalize(in, wide, Backend::Cuda).voxels, adaptive_equalize(in, wide, Backend::Cpu).voxels);
}

}  // namespace
}  // namespace nc::kernels
