// `neurocohort status RESULTS.h5`: a run's own account, read back from its results file —
// counts, failures grouped by reason, seconds per stage, and each host and rank's throughput
// over time (jobs/run_account.hpp).
#include <fmt/format.h>

#include <ctime>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "jobs/run_account.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

struct StatusOptions {
  fs::path results;
  std::size_t bins = 10;
};

void print_failures(const jobs::RunAccount& a) {
  if (a.failures.empty()) return;
  std::cout << "failures by reason:\n";
  for (const auto& f : a.failures)
    std::cout << fmt::format("  {:>5}  {}\n         e.g. {}: {}\n", f.scans, f.reason, f.example_scan, f.example_error);
}

void print_timing(const jobs::RunAccount& a) {
  if (a.timed_scans == 0) {
    std::cout << "no per-scan times (a file written before neurocohort kept them, by another tool, or no scan "
                 "finished yet)\n";
    return;
  }
  const double minutes = (a.last_end - a.first_start) / 60.0;
  std::cout << fmt::format("first scan started {}, last finished {} ({:.1f} min): {:.2f} scans/min\n",
                           iso8601(std::time_t(a.first_start)), iso8601(std::time_t(a.last_end)), minutes,
                           minutes > 0 ? double(a.timed_scans) / minutes : 0.0);
  std::string stages;
  for (std::size_t s = 0; s < a.stage_names.size(); ++s)
    stages += fmt::format("{}{} {:.2f}", s ? ", " : "", a.stage_names[s], a.mean_stage_seconds[s]);
  std::cout << fmt::format("seconds per scan by stage: {} ({} scans timed)\n", stages, a.timed_scans);
  std::cout << fmt::format("scans/min by host and rank, in {} bins of {:.0f} s:\n", a.workers.front().per_bin.size(),
                           a.bin_seconds);
  std::cout << fmt::format("  {:<20} {:>5} {:>6} {:>9}  per bin\n", "host", "rank", "scans", "scans/min");
  const double per_minute = 60.0 / a.bin_seconds;
  for (const auto& w : a.workers) {
    std::string bins;
    for (std::size_t n : w.per_bin) bins += fmt::format(" {:.1f}", double(n) * per_minute);
    std::cout << fmt::format("  {:<20} {:>5} {:>6} {:>9.2f} {}\n", w.host.empty() ? "-" : w.host, w.rank, w.scans,
                             minutes > 0 ? double(w.scans) / minutes : 0.0, bins);
  }
}

ExitCode run_status(const StatusOptions& o) {
  const auto store = io::CohortStore::open(o.results, io::CohortStore::Mode::ReadOnly);
  const jobs::RunAccount a = jobs::account_of(store, o.bins);
  std::cout << fmt::format("{}: {} scans: {} ok, {} failed, {} pending\n", o.results.string(), a.scans, a.counts.ok,
                           a.counts.failed, a.counts.pending);
  print_failures(a);
  print_timing(a);
  return ExitCode::Ok;
}

}  // namespace

void add_status_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<StatusOptions>();
  auto* cmd = app.add_subcommand(
      "status", "A run's account from its results file: counts, failures by reason, throughput by host and rank");
  cmd->add_option("results", options->results, "Results file (HDF5) of `run` or `merge`")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--bins", options->bins, "Time bins for the throughput over time")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->callback([options, &action] { action = [options] { return run_status(*options); }; });
}

}  // namespace nc::cli
