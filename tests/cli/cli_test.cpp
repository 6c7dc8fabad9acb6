// The real executable, run as a child process: exit codes and one-line errors.
#include <gtest/gtest.h>

#include <fstream>

#include "io/image_io.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/volumes.hpp"

namespace nc {
namespace {

using test::run_command;
using test::TempDir;

std::string neurocohort(const std::string& args) { return std::string(NC_BINARY) + " " + args + " 2>&1"; }

std::size_t line_count(const std::string& text) { return std::size_t(std::count(text.begin(), text.end(), '\n')); }

TEST(Cli, VersionNamesToolAndCommit) {
  const auto r = run_command(neurocohort("--version"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("neurocohort 0.1.0 (git "), std::string::npos) << r.output;
}

TEST(Cli, MissingSubcommandIsAUsageErrorOnOneLine) {
  const auto r = run_command(neurocohort(""));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.output), 1u) << r.output;
}

TEST(Cli, UnknownOptionIsAUsageErrorOnOneLine) {
  const auto r = run_command(neurocohort("check --no-such-flag x.tsv"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.output), 1u) << r.output;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"check", "synth", "model info"}) {
    const auto r = run_command(neurocohort(std::string(sub) + " --help"));
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.output.find("Usage:"), std::string::npos) << sub;
  }
}

TEST(Cli, CheckReportsEachBadScanAndExitsOne) {
  TempDir dir;
  io::write_nifti(test::indexed_volume(), dir / "good.nii.gz");
  std::ofstream(dir / "bad.nii.gz") << "truncated";
  std::ofstream(dir / "m.tsv") << "scan_id\timage\tmodality\tage\tsex\n"
                                  "good\tgood.nii.gz\tCT\t1\tM\n"
                                  "bad\tbad.nii.gz\tCT\t2\tF\n";
  const auto r = run_command(neurocohort("check " + (dir / "m.tsv").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bad\tfailed\t" + (dir / "bad.nii.gz").string()), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("good\tfailed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 ok, 1 with unusable images"), std::string::npos) << r.output;
}

TEST(Cli, CheckOfAGoodCohortExitsZero) {
  TempDir dir;
  io::write_nifti(test::indexed_volume(), dir / "a.nii.gz");
  std::ofstream(dir / "m.tsv") << "scan_id\timage\tmodality\tage\tsex\na\ta.nii.gz\tMR\t4\tF\n";
  EXPECT_EQ(run_command(neurocohort("check " + (dir / "m.tsv").string())).exit_code, 0);
}

TEST(Cli, ModelInfoPrintsTheLabelTable) {
  TempDir dir;
  const auto exported = run_command("/usr/bin/python3 " NC_TEST_SOURCE_DIR "/pipeline/export_tiny_model.py " +
                                    (dir / "tiny.pt").string() + " 3 2>&1");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  const auto r = run_command(neurocohort("model info " + (dir / "tiny.pt").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("label\t2\tregion_2\t-"), std::string::npos) << r.output;
  const auto missing = run_command(neurocohort("model info " + (dir / "absent.pt").string()));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(line_count(missing.output), 1u) << missing.output;
}

TEST(Cli, RunRejectsAnUnknownOrUnavailablePrecisionBeforeAnyScan) {
  TempDir dir;
  io::write_nifti(test::indexed_volume(), dir / "a.nii.gz");
  std::ofstream(dir / "m.tsv") << "scan_id\timage\tmodality\tage\tsex\na\ta.nii.gz\tMR\t4\tF\n";
  const std::string run = "run " + (dir / "m.tsv").string() + " --out " + (dir / "r.h5").string();
  const auto unknown = run_command(neurocohort(run + " --precision fp64"));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(line_count(unknown.output), 1u) << unknown.output;
  const auto fp16 = run_command(neurocohort(run + " --device cpu --precision fp16"));
  EXPECT_EQ(fp16.exit_code, 2) << fp16.output;
  EXPECT_NE(fp16.output.find("fp16 inference needs --device cuda"), std::string::npos) << fp16.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "r.h5"));
}

TEST(Cli, InvalidManifestIsAConfigurationError) {
  TempDir dir;
  std::ofstream(dir / "m.tsv") << "scan_id\timage\n";
  const auto r = run_command(neurocohort("check " + (dir / "m.tsv").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("missing required column 'modality'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace nc
