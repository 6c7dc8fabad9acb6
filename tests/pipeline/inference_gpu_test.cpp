// The shipped model on the GPU against the same model on the CPU, on one preprocessed MR scan
// (Colin27). float32 on the two devices differs only by the order of floating-point sums
// (cuDNN's convolution algorithms), so the label maps agree on nearly every voxel; bf16 and fp16
// autocast round the convolutions, and move labels only along region borders.
#include <gtest/gtest.h>

#include "io/image_io.hpp"
#include "kernels/common/backend.hpp"
#include "pipeline/inference.hpp"

namespace nc::pipeline {
namespace {

const PreprocessedScan& colin27() {
  static const PreprocessedScan scan = preprocess(io::read_image("/usr/share/mricron/templates/ch2.nii.gz"),
                                                  jobs::Modality::MR, {}, kernels::Backend::Cpu);
  return scan;
}

double agreement(const LabelVolume& a, const LabelVolume& b) {
  std::size_t same = 0;
  for (std::size_t n = 0; n < a.voxels.size(); ++n) same += a.voxels[n] == b.voxels[n];
  return double(same) / double(a.voxels.size());
}

TEST(InferenceGpu, CudaModelAgreesWithTheCpuModelInEachPrecision) {
  if (!kernels::cuda_device_available()) GTEST_SKIP() << "no CUDA device on this machine";
  if (!libtorch_sees_cuda()) GTEST_SKIP() << "this LibTorch was built without CUDA";
  const auto cpu = SegmentationModel::load(NC_DEFAULT_MODEL);
  const LabelVolume reference = segment(cpu, colin27(), {}, kernels::Backend::Cpu).labels;
  for (const auto& [precision, floor] :
       {std::pair{Precision::Float32, 0.999}, {Precision::BFloat16, 0.98}, {Precision::Float16, 0.99}}) {
    const auto gpu = SegmentationModel::load(NC_DEFAULT_MODEL, std::nullopt, Device::Cuda, precision);
    const LabelVolume labels = segment(gpu, colin27(), {}, kernels::Backend::Cuda).labels;
    ASSERT_EQ(labels.geometry, reference.geometry);
    EXPECT_GE(agreement(labels, reference), floor) << precision_name(precision);
  }
}

}  // namespace
}  // namespace nc::pipeline
