#pragma once
/// \file
/// Subcommand registration. Each subcommand adds itself to the CLI11 app and, when chosen,
/// stores the action that main() runs after parsing. Actions return the exit code:
/// 0 all scans ok, 1 some scans failed, 2 usage or configuration error (thrown as nc::Error).

#include <CLI/CLI.hpp>

#include <functional>

namespace nc::cli {

using Action = std::function<int()>;

enum ExitCode : int { kExitOk = 0, kExitScansFailed = 1, kExitUsage = 2 };

void add_check_command(CLI::App& app, Action& action);
void add_synth_command(CLI::App& app, Action& action);
void add_model_command(CLI::App& app, Action& action);
void add_preprocess_command(CLI::App& app, Action& action);
void add_run_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_norms_command(CLI::App& app, Action& action);
void add_agree_command(CLI::App& app, Action& action);
void add_merge_command(CLI::App& app, Action& action);
void add_slurm_command(CLI::App& app, Action& action);

}  // namespace nc::cli
