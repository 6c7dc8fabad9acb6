#pragma once
/// \file
/// Subcommand registration. Each subcommand adds itself to the CLI11 app and, when chosen,
/// stores the action that main() runs after parsing. Actions return the exit status
/// (nc::ExitCode in core/error.hpp: 0 all scans ok, 1 some scans failed, 2 usage or
/// configuration error, 3 a runtime failure).

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>

#include "core/error.hpp"

namespace nc::cli {

using Action = std::function<ExitCode()>;

/// For floating-point options: CLI11's range checks let NaN through (every comparison is false).
inline const CLI::Validator kFinite(
    [](const std::string& text) {
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      return std::isfinite(value) ? std::string() : "'" + text + "' is not a finite number";
    },
    "FINITE");

/// --max-voxels, the same budget for every command that reads images: the header's voxel count
/// and the resampled grid's.
inline void add_max_voxels_option(CLI::App& cmd, std::int64_t& max_voxels) {
  cmd.add_option("--max-voxels", max_voxels,
                 "Refuse images (and 1 mm grids) with more voxels than this; checked before allocating")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void add_check_command(CLI::App& app, Action& action);
void add_index_command(CLI::App& app, Action& action);
void add_convert_command(CLI::App& app, Action& action);
void add_synth_command(CLI::App& app, Action& action);
void add_model_command(CLI::App& app, Action& action);
void add_preprocess_command(CLI::App& app, Action& action);
void add_run_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_norms_command(CLI::App& app, Action& action);
void add_agree_command(CLI::App& app, Action& action);
void add_merge_command(CLI::App& app, Action& action);
void add_slurm_command(CLI::App& app, Action& action);
void add_qc_command(CLI::App& app, Action& action);
void add_status_command(CLI::App& app, Action& action);

}  // namespace nc::cli
