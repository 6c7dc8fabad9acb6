// CPU/CUDA parity for skull stripping. Both threshold the same floats, and the morphology and
// the components are integer work on bit masks (the ball's rows made once on the host), so the
// masks must be identical.
#include <gtest/gtest.h>

#include <random>

#include "kernels/skull_strip/skull_strip.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

TEST(SkullStripGpu, CudaMaskEqualsCpuMask) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device on this machine";
  ImageVolume ct = test::head_phantom(160, 60, 66, 72);
  std::mt19937 rng(9);
  std::normal_distribution<float> noise(0.0f, 5.0f);
  for (float& v : ct.voxels) v += noise(rng);
  for (const auto method : {StripMethod::CtWindow, StripMethod::MrOtsu}) {
    const auto params = SkullStripParams::defaults_for(method);
    const auto cpu = skull_strip(ct, method, params, Backend::Cpu);
    const auto gpu = skull_strip(ct, method, params, Backend::Cuda);
    EXPECT_EQ(gpu.mask.voxels, cpu.mask.voxels);
    EXPECT_EQ(gpu.icv_ml, cpu.icv_ml);
  }
}

}  // namespace
}  // namespace nc::kernels
