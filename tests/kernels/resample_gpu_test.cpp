// CPU/CUDA parity for resampling. Both run the per-voxel code of resample_math.hpp (the index
// map in double, the blend in float), and neither contracts multiply-adds (the CUDA build
// passes --fmad=false), so label maps agree exactly. Images agree to 1e-6 relative: the CPU
// steps the index along a row's interior (start + i · step) where the GPU maps each voxel,
// which may round the index's last bits differently.
#include <gtest/gtest.h>

#include "kernels/resample/resample.hpp"
#include "tests/support/itk_convert.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

TEST(ResampleGpu, CudaEqualsCpu) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
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
  EXPECT_EQ(differ, 0u);
}

TEST(ResampleGpu, ProbabilitiesToLabelsCudaEqualsCpu) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  Geometry coarse;
  coarse.size = {60, 70, 50};
  coarse.spacing_mm = {2, 2, 2};
  const Geometry fine = resampled_grid(coarse, 1.0);
  const int classes = 11;
  std::vector<float> p(std::size_t(classes * coarse.voxel_count()));
  for (std::size_t n = 0; n < p.size(); ++n) p[n] = float((n * 2654435761u) % 1000) / 1000.0f;
  const LabelVolume cpu = probabilities_to_labels(p, classes, coarse, fine, Backend::Cpu);
  const LabelVolume gpu = probabilities_to_labels(p, classes, coarse, fine, Backend::Cuda);
  std::size_t differ = 0;  // the same float math, rounded alike
  for (std::size_t n = 0; n < cpu.voxels.size(); ++n) differ += cpu.voxels[n] != gpu.voxels[n];
  EXPECT_EQ(differ, 0u);
}

TEST(ResampleGpu, CropOnTheDeviceCopiesTheBoxAndFillsBeyondTheGrid) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  const ImageVolume in = test::indexed_volume({40, 30, 20});
  DeviceVolume<float> on_device(in.geometry);
  on_device.voxels.upload(std::span<const float>(in.voxels));
  const std::array<std::int64_t, 3> first = {-3, 5, 12};  // starts before the grid, ends past it
  Geometry box = in.geometry;
  box.size = {20, 10, 14};
  const DeviceVolume<float> cropped = crop_on_device(on_device, first, box, -7.0f);
  ImageVolume out(box);
  cropped.voxels.download(std::span<float>(out.voxels));
  for (std::int64_t k = 0; k < box.size[2]; ++k)
    for (std::int64_t j = 0; j < box.size[1]; ++j)
      for (std::int64_t i = 0; i < box.size[0]; ++i) {
        const std::int64_t x = first[0] + i, y = first[1] + j, z = first[2] + k;
        const bool inside = x >= 0 && x < 40 && y < 30 && z < 20;
        ASSERT_EQ(out.at(i, j, k), inside ? in.at(x, y, z) : -7.0f) << i << " " << j << " " << k;
      }
}

}  // namespace
}  // namespace nc::kernels
