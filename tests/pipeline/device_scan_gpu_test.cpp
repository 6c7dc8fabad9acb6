// A scan through the CUDA path as `run` takes it: uploaded once, preprocessed, segmented and
// brought to its native grid on the device, then its label map downloaded once. The map agrees
// with the CPU path's, and the bytes that crossed are what the design says: the native image
// up; the 1 mm image (for the QC measures), the packed mask of the host steps, the 1 mm map
// (for the QC of its regions) and the native map down; everything else is small.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <vector>

#include "io/image_io.hpp"
#include "kernels/common/backend.hpp"
#include "kernels/common/upload.hpp"
#include "kernels/resample/resample.hpp"
#include "pipeline/inference.hpp"

namespace nc::pipeline {
namespace {

// In the InferenceGpu suite with the other tests that run LibTorch: verify.sh's memcheck pass
// leaves that suite out (cuDNN under memcheck would take its whole time).
TEST(InferenceGpu, AScanCrossesOnceEachWayAndAgreesWithTheCpu) {
  if (!kernels::cuda_device_available()) GTEST_SKIP() << kernels::cuda_unavailable_reason();
  if (!libtorch_sees_cuda()) GTEST_SKIP() << "this LibTorch was built without CUDA";
  const ImageVolume native = io::read_image(NC_TEMPLATE_DIR "/ch2.nii.gz");
  const auto cpu_model = SegmentationModel::load(NC_DEFAULT_MODEL);
  const PreprocessedScan cpu_scan = preprocess(native, jobs::Modality::MR, {}, kernels::Backend::Cpu);
  const LabelVolume cpu_labels = kernels::resample_labels_onto(
      segment(cpu_model, cpu_scan, {}, kernels::Backend::Cpu).labels, native.geometry, kernels::Backend::Cpu);

  const auto gpu_model = SegmentationModel::load(NC_DEFAULT_MODEL, std::nullopt, Device::Cuda);
  kernels::TransferBytes copied;
  std::optional<kernels::CountTransfersInto> count(std::in_place, copied);
  const PreprocessedScan scan = preprocess_on_device(native, jobs::Modality::MR, {});
  ASSERT_TRUE(scan.on_device);
  EXPECT_TRUE(scan.image.voxels.empty());
  const Segmentation segmentation = segment(gpu_model, scan, {}, kernels::Backend::Cuda);
  ASSERT_TRUE(segmentation.on_device);
  LabelVolume labels(native.geometry);
  kernels::resample_labels_onto(*segmentation.on_device, native.geometry)
      .voxels.download(std::span<std::uint16_t>(labels.voxels));
  count.reset();

  EXPECT_NEAR(scan.icv_ml, cpu_scan.icv_ml, 1e-3 * cpu_scan.icv_ml);
  std::size_t brain = 0, same = 0;
  for (std::size_t v = 0; v < labels.voxels.size(); ++v) {
    if (!labels.voxels[v] && !cpu_labels.voxels[v]) continue;
    ++brain;
    same += labels.voxels[v] == cpu_labels.voxels[v];
  }
  EXPECT_GE(double(same) / double(brain), 0.995);

  // The image goes up as int16 where its values allow (upload.hpp): Colin27's do.
  std::vector<std::int16_t> packed(native.voxels.size());
  const std::uint64_t native_image =
      native.voxels.size() * (kernels::detail::pack_as_int16(native.voxels, packed) ? 2 : 4);
  const std::uint64_t native_map = native.voxels.size() * sizeof(std::uint16_t);
  const std::uint64_t iso_voxels = std::uint64_t(kernels::resampled_grid(native.geometry, 1.0).voxel_count());
  // Up besides the image: the brain mask (a byte a voxel of the crop, once for AHE and the
  // normalisation), the packed mask three times, the blending weights: under 3 bytes a 1 mm voxel.
  EXPECT_GE(copied.host_to_device, native_image);
  EXPECT_LT(copied.host_to_device, native_image + 3 * iso_voxels);
  // Down besides the 1 mm image and the native map: the 1 mm map of the crop (2 bytes a voxel)
  // and the packed mask three times.
  EXPECT_GE(copied.device_to_host, iso_voxels * sizeof(float) + native_map);
  EXPECT_LT(copied.device_to_host, iso_voxels * sizeof(float) + native_map + 3 * iso_voxels);
}

// Needs no LibTorch: runs wherever a device is, whatever LibTorch the build links.
TEST(DeviceScanGpu, PreprocessingOnTheDeviceAgreesWithTheCpu) {
  if (!kernels::cuda_device_available()) GTEST_SKIP() << kernels::cuda_unavailable_reason();
  const ImageVolume native = io::read_image(NC_TEMPLATE_DIR "/ch2.nii.gz");
  const PreprocessedScan cpu = preprocess(native, jobs::Modality::MR, {}, kernels::Backend::Cpu);
  const PreprocessedScan gpu = preprocess(native, jobs::Modality::MR, {}, kernels::Backend::Cuda);
  ASSERT_FALSE(gpu.on_device);  // brought to the host for callers on the CPU
  EXPECT_NEAR(gpu.icv_ml, cpu.icv_ml, 1e-3 * cpu.icv_ml);
  ASSERT_TRUE(gpu.brain_mask.geometry == cpu.brain_mask.geometry);
  ASSERT_TRUE(gpu.image.geometry == cpu.image.geometry);
  std::size_t mask_same = 0, image_close = 0;
  const auto [lo, hi] = std::minmax_element(cpu.image.voxels.begin(), cpu.image.voxels.end());
  const float tolerance = 1e-4f * (*hi - *lo);
  for (std::size_t v = 0; v < cpu.image.voxels.size(); ++v) {
    mask_same += gpu.brain_mask.voxels[v] == cpu.brain_mask.voxels[v];
    image_close += std::abs(gpu.image.voxels[v] - cpu.image.voxels[v]) <= tolerance;
  }
  const double n = double(cpu.image.voxels.size());
  EXPECT_GE(double(mask_same) / n, 0.9999);
  EXPECT_GE(double(image_close) / n, 0.999);
}

// A GPU machine whose runtime sees no device (a driver older than the toolkit, a missing
// device node) would otherwise skip every test here and report them passed.
TEST(DevicePresenceGpu, ALoadedNvidiaDriverMeansTheRuntimeSeesADevice) {
  if (!std::filesystem::exists("/proc/driver/nvidia/version")) GTEST_SKIP() << "no NVIDIA driver is loaded here";
  EXPECT_TRUE(kernels::cuda_device_available()) << kernels::cuda_unavailable_reason();
}

}  // namespace
}  // namespace nc::pipeline
