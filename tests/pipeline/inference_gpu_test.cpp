// The shipped model on the GPU against the same model on the CPU, on one preprocessed MR scan
// (Colin27). fp32 is IEEE float32 on both devices (TF32 off) and differs only by the order of
// floating-point sums (cuDNN's convolution algorithms), so the label maps agree on nearly every
// brain voxel; tf32, bf16 and fp16 round the convolutions and move labels along region borders.
// Agreement is counted inside the brain mask (outside it both sides are 0 by construction),
// and each region's Dice against the CPU's map has a floor of its own.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "io/image_io.hpp"
#include "kernels/common/backend.hpp"
#include "kernels/resample/resample.hpp"
#include "pipeline/inference.hpp"

namespace nc::pipeline {
namespace {

const PreprocessedScan& colin27() {
  static const PreprocessedScan scan = preprocess(io::read_image(NC_TEMPLATE_DIR "/ch2.nii.gz"),
                                                  jobs::Modality::MR, {}, kernels::Backend::Cpu);
  return scan;
}

double agreement_in_brain(const LabelVolume& a, const LabelVolume& b, const Volume<std::uint8_t>& brain) {
  std::size_t same = 0, inside = 0;
  for (std::size_t n = 0; n < a.voxels.size(); ++n) {
    if (!brain.voxels[n]) continue;
    ++inside;
    same += a.voxels[n] == b.voxels[n];
  }
  return double(same) / double(inside);
}

// The smallest Dice of a region of `reference` in `labels`.
double lowest_region_dice(const LabelVolume& labels, const LabelVolume& reference, std::uint16_t& worst) {
  std::map<std::uint16_t, std::array<std::size_t, 3>> counts;  // in labels, in reference, in both
  for (std::size_t n = 0; n < labels.voxels.size(); ++n) {
    const std::uint16_t a = labels.voxels[n], b = reference.voxels[n];
    if (a) ++counts[a][0];
    if (b) ++counts[b][1];
    if (a && a == b) ++counts[a][2];
  }
  double lowest = 1.0;
  for (const auto& [label, c] : counts) {
    const double dice = 2.0 * double(c[2]) / double(c[0] + c[1]);
    if (dice < lowest) lowest = dice, worst = label;
  }
  return lowest;
}

TEST(InferenceGpu, CudaModelAgreesWithTheCpuModelInEachPrecision) {
  if (!kernels::cuda_device_available()) GTEST_SKIP() << kernels::cuda_unavailable_reason();
  if (!libtorch_sees_cuda()) GTEST_SKIP() << "this LibTorch was built without CUDA";
  const auto cpu = SegmentationModel::load(NC_DEFAULT_MODEL);
  const LabelVolume reference = segment(cpu, colin27(), {}, kernels::Backend::Cpu).labels;
  struct Floor {
    Precision precision;
    double agreement, dice;
  };
  for (const Floor floor : {Floor{Precision::Float32, 0.999, 0.998}, Floor{Precision::TensorFloat32, 0.99, 0.98},
                            Floor{Precision::BFloat16, 0.97, 0.95}, Floor{Precision::Float16, 0.99, 0.98}}) {
    const auto gpu = SegmentationModel::load(NC_DEFAULT_MODEL, std::nullopt, Device::Cuda, floor.precision);
    const LabelVolume labels = segment(gpu, colin27(), {}, kernels::Backend::Cuda).labels;
    ASSERT_EQ(labels.geometry, reference.geometry);
    std::uint16_t worst = 0;
    EXPECT_GE(agreement_in_brain(labels, reference, colin27().brain_mask), floor.agreement)
        << precision_name(floor.precision);
    EXPECT_GE(lowest_region_dice(labels, reference, worst), floor.dice)
        << precision_name(floor.precision) << ", label " << worst;
  }
}

TEST(InferenceGpu, AForwardPassFromAnotherThreadRunsOnTheBoundDevice) {
  if (!kernels::cuda_device_available()) GTEST_SKIP() << kernels::cuda_unavailable_reason();
  if (!libtorch_sees_cuda()) GTEST_SKIP() << "this LibTorch was built without CUDA";
  const int device = kernels::bind_cuda_device(kernels::cuda_device_count() - 1);  // not device 0 on a node of several
  const auto gpu = SegmentationModel::load(NC_DEFAULT_MODEL, std::nullopt, Device::Cuda);
  const auto& patch = gpu.metadata().patch_size;
  const std::size_t voxels = std::size_t(patch[0] * patch[1] * patch[2]);
  std::vector<float> input(voxels);
  for (std::size_t v = 0; v < voxels; ++v) input[v] = float((v * 2654435761u) % 1000) / 500.0f - 1.0f;
  const std::size_t classes = gpu.metadata().labels.size() + 1;
  std::vector<float> here(classes * voxels), there(classes * voxels);
  gpu.forward(input, 1, patch, here);
  int used = -2;
  std::thread worker([&] {
    gpu.forward(input, 1, patch, there);
    used = kernels::current_cuda_device();  // the guard restored the thread's own device ...
  });
  worker.join();
  EXPECT_NE(used, -1);
  for (std::size_t n = 0; n < here.size(); ++n) ASSERT_NEAR(there[n], here[n], 1e-3f) << n;
  // ... while kernels called from a fresh thread select the bound one themselves.
  std::thread kernel_thread([&] {
    LabelVolume labels(colin27().image.geometry);
    kernels::resample_labels_onto(labels, colin27().image.geometry, kernels::Backend::Cuda);
    used = kernels::current_cuda_device();
  });
  kernel_thread.join();
  EXPECT_EQ(used, device);
}

// The kernels link the shared CUDA runtime so that LibTorch and they share one set of device
// state: that holds only if LibTorch was built for the toolkit's CUDA major version.
TEST(InferenceGpu, TheKernelsAndLibTorchShareOneCudaRuntime) {
  if (!kernels::cuda_device_available()) GTEST_SKIP() << kernels::cuda_unavailable_reason();
  if (!libtorch_sees_cuda()) GTEST_SKIP() << "this LibTorch was built without CUDA";
  const auto gpu = SegmentationModel::load(NC_DEFAULT_MODEL, std::nullopt, Device::Cuda);
  const LabelVolume labels(colin27().image.geometry);
  kernels::resample_labels_onto(labels, labels.geometry, kernels::Backend::Cuda);  // both runtimes in use
  std::set<std::string> runtimes;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (const auto at = line.find('/'); at != std::string::npos && line.find("libcudart", at) != std::string::npos)
      runtimes.insert(line.substr(at));
  EXPECT_LE(runtimes.size(), 1u) << "CUDA runtimes mapped: " << [&] {
    std::string all;
    for (const auto& r : runtimes) all += r + " ";
    return all;
  }();
}

}  // namespace
}  // namespace nc::pipeline
