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

}  // namespace
}  // namespace nc::pipeline
