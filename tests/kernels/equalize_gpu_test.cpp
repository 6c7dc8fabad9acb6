// CPU/CUDA parity for adaptive equalization. Both use the same levels and term table; the CPU
// sums in float along a sliding histogram, the GPU in double voxel by voxel (equalize_math.hpp
// says why), so outputs agree to 1e-4 of the intensity range.
#include <gtest/gtest.h>

#include "kernels/equalize/equalize.hpp"
#include "tests/support/itk_convert.hpp"

namespace nc::kernels {
namespace {

TEST(AdaptiveEqualizeGpu, CudaEqualsCpu) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Geometry g;
  g.size = {96, 80, 64};
  const ImageVolume in = test::smooth_volume(g);
  const auto [lo, hi] = std::minmax_element(in.voxels.begin(), in.voxels.end());
  const ImageVolume cpu = adaptive_equalize(in, {}, Backend::Cpu);
  const ImageVolume gpu = adaptive_equalize(in, {}, Backend::Cuda);
  for (std::size_t n = 0; n < cpu.voxels.size(); ++n) ASSERT_NEAR(gpu.voxels[n], cpu.voxels[n], 1e-4 * (*hi - *lo)) << n;
}

}  // namespace
}  // namespace nc::kernels
