// The sbatch scripts and Slurm time limits, without a cluster (the real cluster tests are
// slurm_test.py): every directive the issue asks for, quoting, and malformed limits.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.hpp"
#include "slurm/batch_script.hpp"
#include "slurm/time_limit.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::slurm {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(TimeLimit, SlurmFormats) {
  EXPECT_EQ(parse_time_limit("90"), 90 * 60);
  EXPECT_EQ(parse_time_limit("5:30"), 5 * 60 + 30);
  EXPECT_EQ(parse_time_limit("02:00:00"), 7200);
  EXPECT_EQ(parse_time_limit("1-12"), 86400 + 12 * 3600);
  EXPECT_EQ(parse_time_limit("2-01:30"), 2 * 86400 + 3600 + 1800);
  EXPECT_EQ(parse_time_limit("0-00:00:45"), 45);
  // "1:" and "1-1:" end in an empty field, which must not pass as a missing one.
  for (const char* bad : {"", "1:2:3:4", "abc", "-5", "1-", "1--2", "0", "10m", "1:x", "1-25:99:99", "1-23:60", "10:60",
                          "1:00:60", "99999999999999999999999999999999999", "1:", "1-1:"})
    EXPECT_THROW(parse_time_limit(bad), UsageError) << bad;
}

// Regression: a newline in --partition once wrote `touch /tmp/x` as a line of the script, and a
// space in --job-name smuggled further sbatch options in.
TEST(BatchScript, NamesThatWouldInjectAreRefused) {
  const RunJob job{"/opt/nc/neurocohort", "/data/manifest.tsv", "/scratch/out/results.h5", {}};
  const auto refused = [&](auto&& edit) {
    JobResources r;
    edit(r);
    EXPECT_THROW(render_run_script(r, job, "/scratch/out/logs"), UsageError);
    if (r.time == JobResources{}.time) {  // the merge job has a time limit of its own
      EXPECT_THROW(render_merge_script(r, job.neurocohort, {"/scratch/a.h5"}, "/scratch/m.h5", "/scratch/out/logs"),
                   UsageError);
    }
  };
  refused([](JobResources& r) { r.partition = "gpu\ntouch /tmp/x"; });
  refused([](JobResources& r) { r.account = "lab\n#SBATCH --uid=0"; });
  refused([](JobResources& r) { r.account = "lab;id"; });
  refused([](JobResources& r) { r.account = "lab,other"; });  // only --partition takes a list
  refused([](JobResources& r) { r.job_name = "nc --uid=0"; });
  refused([](JobResources& r) { r.job_name = "nc$(id)"; });
  refused([](JobResources& r) { r.job_name = ""; });
  refused([](JobResources& r) { r.time = "1-25:99:99"; });
  for (const char* dir : {"/scratch/o ut/logs", "/scratch/out\ntouch /tmp/x/logs", "/scratch/%j/logs", "/s/'q'/logs"}) {
    EXPECT_THROW(render_run_script(JobResources{}, job, dir), UsageError) << dir;
  }
  JobResources fine;
  fine.partition = "gpu,gpu-long";
  fine.account = "neuro_lab.2";
  fine.job_name = "nc-study.v2";
  EXPECT_NO_THROW(render_run_script(fine, job, "/scratch/out-1/logs"));
}

// Every shell line quotes its paths: a path with a newline, quotes or $() stays one argument.
TEST(BatchScript, ShellLinesQuoteHostilePaths) {
  const RunJob job{"/opt/nc/neurocohort", "/data/x\ntouch /tmp/pwned/$(id)/'m'.tsv", "/scratch/out/results.h5", {}};
  const std::string s = render_run_script(JobResources{}, job, "/scratch/out/logs");
  EXPECT_TRUE(contains(s, "'/data/x\ntouch /tmp/pwned/$(id)/'\\''m'\\''.tsv'")) << s;
}

TEST(BatchScript, RunJobHasEveryDirective) {
  JobResources r;
  r.nodes = 4;
  r.gpus_per_node = 8;
  r.cpus_per_task = 6;
  r.time = "12:00:00";
  r.partition = "gpu";
  r.account = "neuro-lab";
  RunJob job{"/opt/nc/neurocohort", "/data/it's here/manifest.tsv", "/scratch/out/results.h5", {"--device", "cuda"}};
  const std::string s = render_run_script(r, job, "/scratch/out/logs");
  for (const char* line :
       {"#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=6",
        "#SBATCH --time=12:00:00", "#SBATCH --partition=gpu", "#SBATCH --account=neuro-lab",
        "#SBATCH --job-name=neurocohort", "#SBATCH --output=/scratch/out/logs/%x-%j.out", "#SBATCH --signal=B:USR1@300",
        "#SBATCH --requeue", "srun --kill-on-bad-exit=1 '/opt/nc/neurocohort' run",
        "'/data/it'\\''s here/manifest.tsv'", "--resume '--device' 'cuda'", "scontrol requeue", "trap checkpoint USR1"})
    EXPECT_TRUE(contains(s, line)) << line << "\n" << s;
  EXPECT_FALSE(contains(s, "--array"));
}

TEST(BatchScript, ArrayAndMerge) {
  JobResources r;
  RunJob job{"/nc", "/o/chunks/%a.tsv", "/o/chunks/%a.h5", {}, Launcher::Mpirun, 3};
  const std::string s = render_run_script(r, job, "/o/logs");
  EXPECT_TRUE(contains(s, "#SBATCH --array=0-2"));
  EXPECT_TRUE(contains(s, "chunk=$(printf 'chunk_%03d' \"$SLURM_ARRAY_TASK_ID\")"));
  EXPECT_TRUE(contains(s, "'/o/chunks/'\"$chunk\"'.tsv'"));
  EXPECT_TRUE(contains(s, "mpirun '/nc' run"));
  EXPECT_TRUE(contains(s, "--allow-external-paths"));
  EXPECT_TRUE(contains(s, "%x-%A_%a.out"));
  const std::string m =
      render_merge_script(r, "/nc", {"/o/chunks/chunk_000.h5", "/o/chunks/chunk_001.h5"}, "/o/results.h5", "/o/logs");
  EXPECT_TRUE(contains(m, "'/nc' merge"));
  EXPECT_TRUE(contains(m, "'/o/chunks/chunk_001.h5'"));
  EXPECT_TRUE(contains(m, "--out '/o/results.h5'"));
  EXPECT_TRUE(contains(m, "#SBATCH --job-name=neurocohort-merge"));
}

TEST(SplitManifest, RoundRobinWithAbsolutePaths) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "images");
  std::ofstream(dir / "manifest.tsv") << "scan_id\timage\tmodality\tage\tsex\n";
  for (int i = 0; i < 5; ++i) {
    std::ofstream(dir / ("images/s" + std::to_string(i) + ".nii.gz")) << "x";
    std::ofstream(dir / "manifest.tsv", std::ios::app)
        << "s" << i << "\timages/s" << i << ".nii.gz\tMR\t" << i + 1 << "\tF\n";
  }
  const auto manifest = jobs::load_manifest(dir / "manifest.tsv");
  const auto chunks = split_manifest(manifest, 2, dir / "chunks");
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].filename(), "chunk_001.tsv");
  const auto second = jobs::load_manifest(chunks[1], {.allow_external_paths = true});
  ASSERT_EQ(second.scans.size(), 2u);  // s1 and s3
  EXPECT_EQ(second.scans[1].scan_id, "s3");
  EXPECT_EQ(second.scans[1].image, dir / "images/s3.nii.gz");
  EXPECT_THROW(split_manifest(manifest, 6, dir / "chunks"), UsageError);
}

}  // namespace
}  // namespace nc::slurm
