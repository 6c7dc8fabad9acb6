// The read stage's time limit: a read that does not finish in time fails the scan with the
// reason, and the stage returns (the reader thread is left to finish on its own).
#include <gtest/gtest.h>

#include <chrono>

#include "io/image_io.hpp"
#include "pipeline/scan_stages.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/volumes.hpp"

namespace nc::pipeline {
namespace {

TEST(ReadStage, AReadPastItsTimeLimitFailsTheScanAndReturns) {
  test::TempDir dir;
  io::write_nifti(test::indexed_volume({160, 160, 160}), dir / "big.nii.gz");
  ScanWork work;
  work.scan.image = dir / "big.nii.gz";
  RunSettings settings;
  settings.read_timeout_seconds = 1e-4;
  const auto start = std::chrono::steady_clock::now();
  read_stage(work, settings);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(work.error.has_value());
  EXPECT_NE(work.error->find("read: the read did not finish within"), std::string::npos) << *work.error;
  EXPECT_NE(work.error->find("--read-timeout"), std::string::npos) << *work.error;
  EXPECT_LT(seconds, 0.5);

  ScanWork again;
  again.scan.image = dir / "big.nii.gz";
  settings.read_timeout_seconds = 60;
  read_stage(again, settings);
  EXPECT_FALSE(again.error.has_value()) << *again.error;
  EXPECT_EQ(again.image.geometry.size[0], 160);
}

}  // namespace
}  // namespace nc::pipeline
