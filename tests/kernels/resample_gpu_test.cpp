// CPU/CUDA parity for resampling. Both evaluate resample_voxel in double; fused multiply-adds
// may differ between the compilers, so images agree to 1e-6 relative (then rounded to float),
// and labels exactly except for samples that fall within rounding of a tie.
#include <gtest/gtest.h>

#include "kernels/resample/resample.hpp"
#include "tests/support/itk_convert.hpp"

namespace nc::kernels {
namespace {

TEST(ResampleGpu, CudaEqualsCpu) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const ImageVolume in = test::smooth_volume(test::oblique_ct_grid({256, 256, 120}));
  const ImageVolume cpu = resample(in, {.spacing_mm = 1.0, .outside_value = -1000.0f}, Backend::Cpu);
  const ImageVolume gpu = resample(in, {.spacing_mm = 1.0, .outside_value = -1000.0f}, Backend::Cuda);
  ASSERT_EQ(cpu.geometry, gpu.geometry);
  for (std::size_t n = 0; n < cpu.voxels.size(); ++n)
    ASSERT_NEAR(gpu.voxels[n], cpu.voxels[n], 1e-6 * std::max(1.0f, std::abs(cpu.voxels[n]))) << n;

  LabelVolume labels(in.geometry);
  for (std::size_t n = 0; n < labels.voxels.size(); ++n) labels.voxels[n] = std::uint16_t((n / 97) % 11);
  const LabelVolume l_cpu = resample_labels_onto(labels, cpu.geometry, Backend::Cpu);
  const LabelVolume l_gpu = resample_labels_onto(labels, cpu.geometry, Backend::Cuda);
  std::size_t differ = 0;
  for (std::size_t n = 0; n < l_cpu.voxels.size(); ++n) differ += l_cpu.voxels[n] != l_gpu.voxels[n];
  EXPECT_LE(differ, l_cpu.voxels.size() / 100000);
}

}  // namespace
}  // namespace nc::kernels
