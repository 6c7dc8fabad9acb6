// The real executable, run as a child process: exit codes and one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
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
  for (const char* sub :
       {"check", "synth", "model info", "preprocess", "run", "bench coordinator", "bench ingest", "norms build",
        "norms score", "agree", "merge", "qc", "status", "slurm submit", "slurm status"}) {
    const auto r = run_command(neurocohort(std::string(sub) + " --help"));
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.output.find("Usage:"), std::string::npos) << sub;
  }
}

// A full disk while writing is a runtime failure (exit 3), not the user's mistake (exit 2):
// the first table norms build writes goes to /dev/full.
TEST(Cli, AFullDiskIsARuntimeFailureWithItsOwnExitCode) {
  TempDir dir;
  ASSERT_EQ(run_command(neurocohort("synth --volumes-only --n 40 --seed 3 --out " + (dir / "s").string())).exit_code,
            0);
  std::filesystem::create_directories(dir / "tables");
  std::filesystem::create_symlink("/dev/full", dir / "tables" / "descriptives.tsv");
  const auto full = run_command(neurocohort("norms build " + (dir / "s" / "true_volumes.tsv").string() + " --out " +
                                            (dir / "n.h5").string() + " --tsv " + (dir / "tables").string()));
  EXPECT_EQ(full.exit_code, 3) << full.output;
  EXPECT_NE(full.output.find("descriptives.tsv: cannot write the table"), std::string::npos) << full.output;
  const auto missing = run_command(neurocohort("norms build " + (dir / "none.tsv").string() + " --out x.h5"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
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

// A manifest of two real images, for the commands that load one before anything else.
std::string two_scan_manifest(const TempDir& dir) {
  io::write_nifti(test::indexed_volume(), dir / "a.nii.gz");
  std::ofstream(dir / "m.tsv") << "scan_id\timage\tmodality\tage\tsex\n"
                                  "a\ta.nii.gz\tCT\t1\tM\n"
                                  "b\ta.nii.gz\tCT\t2\tF\n";
  return (dir / "m.tsv").string();
}

// Regression: a newline in --partition became a shell line of the sbatch script.
TEST(Cli, SlurmSubmitRefusesValuesThatWouldReachTheShell) {
  TempDir dir;
  const std::string manifest = two_scan_manifest(dir);
  const std::string marker = (dir / "injected").string();
  for (const std::string& option :
       std::vector<std::string>{"--partition 'gpu\ntouch " + marker + "'", "--account 'a\ntouch " + marker + "'",
                                "--job-name 'nc --uid=0'", "--time 1-25:99:99", "--array 5"}) {
    const auto r = run_command(
        neurocohort("slurm submit " + manifest + " --out " + (dir / "s").string() + " --dry-run " + option));
    EXPECT_EQ(r.exit_code, 2) << option << ": " << r.output;
    EXPECT_EQ(line_count(r.output), 1u) << option << ": " << r.output;
    EXPECT_EQ(r.output.find("#!/bin/bash"), std::string::npos) << option;
  }
  EXPECT_FALSE(std::filesystem::exists(marker));
  const auto r =
      run_command(neurocohort("slurm submit " + manifest + " --out '" + (dir / "o ut").string() + "' --dry-run"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(Cli, NanIsNotANumberOption) {
  TempDir dir;
  std::ofstream(dir / "x.h5") << "x";
  std::ofstream(dir / "y.h5") << "y";
  const auto r = run_command(neurocohort("norms score " + (dir / "x.h5").string() + " --reference " +
                                         (dir / "y.h5").string() + " --out z.tsv --threshold nan"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("not a finite number"), std::string::npos) << r.output;
}

// Regression: a NUL byte in a manifest cut the error message that quoted it.
TEST(Cli, ManifestWithANulByteIsRefusedWholly) {
  TempDir dir;
  std::ofstream(dir / "m.tsv", std::ios::binary)
      << std::string("scan_id\timage\tmodality\tage\tsex\na\0b\ta.nii\tCT\t1\tM\n", 48);
  const auto r = run_command(neurocohort("check " + (dir / "m.tsv").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("m.tsv:2: holds a NUL byte"), std::string::npos) << r.output;
}

TEST(Cli, EveryCommandThatReadsImagesTakesTheVoxelBudget) {
  for (const char* sub : {"check", "run", "preprocess"}) {
    const auto r = run_command(neurocohort(std::string(sub) + " --help"));
    EXPECT_NE(r.output.find("--max-voxels"), std::string::npos) << sub;
  }
}

}  // namespace
}  // namespace nc
