// Regression: voxels of 10–49 mm (a header error) asked the 1 mm grid for terabytes and died in
// bad_alloc; the grid is budgeted before it is allocated, like the image itself.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "pipeline/preprocess.hpp"

namespace nc::pipeline {
namespace {

TEST(PreprocessBudget, ImplausiblyLargeVoxelsFailBeforeTheGridIsAllocated) {
  Geometry g;
  g.size = {64, 64, 64};
  g.spacing_mm = {49.0, 49.0, 49.0};
  const ImageVolume huge_voxels(g, -1000.0f);
  try {
    preprocess(huge_voxels, jobs::Modality::CT, {}, kernels::Backend::Cpu);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3136×3136×3136 voxels, over the budget"), std::string::npos) << e.what();
  }
  PreprocessParams tight;
  tight.max_voxels = 1000;
  g.spacing_mm = {1.0, 1.0, 1.0};
  EXPECT_THROW(preprocess(ImageVolume(g, 0.0f), jobs::Modality::MR, tight, kernels::Backend::Cpu), Error);
}

// The device path on a machine without a GPU: one clear error before any device memory, and
// the budget is still checked first (a bad header is the scan's fault, not the machine's).
TEST(PreprocessOnDevice, WithoutADeviceIsOneClearError) {
  if (kernels::cuda_device_available()) GTEST_SKIP() << "this machine has a CUDA device";
  Geometry g;
  g.size = {32, 32, 32};
  try {
    preprocess_on_device(ImageVolume(g, 0.0f), jobs::Modality::MR, {});
    FAIL() << "no error";
  } catch (const kernels::CudaError& e) {
    EXPECT_EQ(e.cause(), Cause::Input);
    EXPECT_NE(std::string(e.what()).find("preprocessing: "), std::string::npos) << e.what();
  }
  g.spacing_mm = {49.0, 49.0, 49.0};
  PreprocessParams tight;
  tight.max_voxels = 1000;
  try {
    preprocess_on_device(ImageVolume(g, 0.0f), jobs::Modality::MR, tight);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("over the budget"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nc::pipeline
