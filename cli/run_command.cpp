// `neurocohort run`: a whole cohort into one HDF5 cohort store. Parses the options into
// cluster::CohortRunOptions and runs cluster::run_cohort (cluster/cohort_run.hpp), which
// coordinates the run in this process or as one MPI rank among several.
#include <algorithm>
#include <fstream>
#include <iterator>

#include "cli/commands.hpp"
#include "cli/install_paths.hpp"
#include "cli/version.hpp"
#include "cluster/cohort_run.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

struct RunCliOptions {
  cluster::CohortRunOptions run;
  bool resume = false;
  bool overwrite = false;
  bool largest_first = false;
  bool retry_crashed = false;
  std::string window_plan = pipeline::window_plan_name(pipeline::WindowPlan::Windows);
};

/// This process's command line, for provenance (Linux: /proc/self/cmdline, NUL-separated).
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

cluster::CohortRunOptions run_options(const RunCliOptions& cli) {
  cluster::CohortRunOptions o = cli.run;
  o.existing = cli.resume      ? jobs::ExistingResults::Resume
               : cli.overwrite ? jobs::ExistingResults::Overwrite
                               : jobs::ExistingResults::Refuse;
  o.order = cli.largest_first ? jobs::RowOrder::LargestFirst : jobs::RowOrder::Manifest;
  o.crashed = cli.retry_crashed ? jobs::CrashedScans::Retry : jobs::CrashedScans::Skip;
  o.window.plan = cli.window_plan == pipeline::window_plan_name(pipeline::WindowPlan::Whole)
                      ? pipeline::WindowPlan::Whole
                      : pipeline::WindowPlan::Windows;
  o.tool_version = kVersion;
  o.git_commit = kGitCommit;
  o.command_line = command_line();
  return o;
}

/// 0 all ok, 1 some failed, 128 + the signal when a signal stopped the run with scans pending;
/// a worker rank whose coordinator failed exits as a usage error (rank 0 says why).
ExitCode exit_code(const cluster::RunSummary& summary) {
  if (summary.coordinator_failed) return ExitCode::Usage;
  if (summary.stop_signal) return ExitCode{128 + summary.stop_signal};
  return summary.failed ? ExitCode::ScansFailed : ExitCode::Ok;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<RunCliOptions>();
  options->run.model = default_model_path();
  cluster::CohortRunOptions& run = options->run;
  auto* cmd = app.add_subcommand("run", "Segment and measure every scan of a manifest into an HDF5 cohort store");
  cmd->add_option("manifest", run.manifest, "Cohort manifest (TSV)")->required();
  cmd->add_option("--out", run.out, "Results file (HDF5)")->required();
  cmd->add_option("--model", run.model, "TorchScript segmentation model")->capture_default_str();
  cmd->add_option("--model-metadata", run.model_metadata,
                  "Sidecar metadata JSON for a model without embedded metadata.json");
  cmd->add_option("--device", run.device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", run.precision,
                  "Network arithmetic: fp32 (IEEE), tf32 (TF32 tensor cores), bf16 or fp16 by autocast; tf32 and "
                  "fp16: CUDA only. auto: a resumed file's, else bf16 on a CPU that computes it natively, else fp32")
      ->check(CLI::IsMember(pipeline::precision_choices()))
      ->capture_default_str();
  cmd->add_option("--threads", run.threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--in-flight", run.in_flight, "Scans in the pipeline at once (bounds memory)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--batch", run.window.batch, "Sliding windows per forward pass")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--window-plan", options->window_plan,
                  "How the network covers a scan: overlapping windows of its patch, or one pass over the whole "
                  "volume where it fits (docs/models.md)")
      ->check(CLI::IsMember({pipeline::window_plan_name(pipeline::WindowPlan::Windows),
                             pipeline::window_plan_name(pipeline::WindowPlan::Whole)}))
      ->capture_default_str();
  cmd->add_option("--overlap", run.window.overlap, "Share of the patch neighbouring windows have in common")
      ->check(kFinite)
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  auto* resume = cmd->add_flag("--resume", options->resume, "Continue an interrupted run: skip scans already done");
  cmd->add_flag("--overwrite", options->overwrite, "Replace an existing results file")->excludes(resume);
  cmd->add_flag("--allow-external-paths", run.allow_external_paths,
                "Accept image and label paths outside the manifest's folder (absolute paths of split manifests)");
  cmd->add_flag("--retry-crashed", options->retry_crashed,
                "With --resume: try again the scans that crashed the process in an earlier run");
  add_max_voxels_option(*cmd, run.max_voxels);
  cmd->add_option("--read-timeout", run.read_timeout_seconds,
                  "Seconds a scan's files may take to read before the scan fails (0: no limit)")
      ->check(kFinite)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--largest-first", options->largest_first, "Hand out the largest image files first");
  cmd->add_flag("--coordinator-works", run.coordinator_works,
                "Under MPI: rank 0 also processes scans (by default it only coordinates)");
  cmd->add_option("--export-nifti", run.export_nifti, "Also write each label map as NIfTI into this folder");
  cmd->add_option("--timings", run.timings,
                  "Write throughput as JSON: wall time, scans per minute, seconds per scan by stage");
  cmd->add_option("--progress-every", run.progress_every, "Without a terminal: log progress every N scans")
      ->capture_default_str();
  cmd->add_option("--progress-seconds", run.progress_seconds, "... or every S seconds")
      ->check(kFinite)
      ->capture_default_str();
  cmd->callback(
      [options, &action] { action = [options] { return exit_code(cluster::run_cohort(run_options(*options))); }; });
}

}  // namespace nc::cli
