// `neurocohort merge`: one results file from several (the chunks of a Slurm array).
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.hpp"
#include "io/store_merge.hpp"

namespace nc::cli {
namespace {

struct MergeCliOptions {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path out;
  io::MergeOptions merge;
};

ExitCode run_merge(const MergeCliOptions& options) {
  const auto summary = io::merge_stores(options.inputs, options.out, options.merge);
  spdlog::info("merge: {} scans from {} files into {}: {} ok, {} failed, {} pending{}", summary.scans,
               options.inputs.size(), options.out.string(), summary.ok, summary.failed, summary.pending,
               summary.conflicts_resolved
                   ? fmt::format(" ({} scans with differing results took the latest)", summary.conflicts_resolved)
                   : "");
  return summary.failed ? ExitCode::ScansFailed : ExitCode::Ok;
}

}  // namespace

void add_merge_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<MergeCliOptions>();
  auto* cmd = app.add_subcommand("merge", "Merge results files (the union of their scans) into one");
  cmd->add_option("inputs", options->inputs, "RESULTS.h5 files")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", options->out, "The merged results file (must not exist)")->required();
  cmd->add_flag("--prefer-latest", options->merge.prefer_latest,
                "A scan with different results in two inputs takes the later one instead of failing");
  cmd->callback([options, &action] { action = [options] { return run_merge(*options); }; });
}

}  // namespace nc::cli
