#pragma once
/// \file
/// A whole cohort into one results file: the library side of `neurocohort run`. Every process
/// prepares the same (manifest, backend, model); a single process, or rank 0 of an MPI job,
/// coordinates (opens or resumes the store, hands out rows, writes records), and every other
/// rank is a worker (cluster/worker.hpp). docs/architecture.md draws the protocol.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "io/image_io.hpp"
#include "jobs/resume.hpp"
#include "jobs/work_list.hpp"
#include "pipeline/scan_stages.hpp"

namespace nc::cluster {

/// Everything a run is asked to do, as plain values (the command line fills them).
struct CohortRunOptions {
  std::filesystem::path manifest;
  std::filesystem::path out;
  std::filesystem::path model;
  std::optional<std::filesystem::path> model_metadata;
  std::string device = "auto";
  std::string precision = "auto";  ///< a precision_name, or "auto" (resolve_precision in cohort_run.cpp)
  int threads = 0;    ///< CPU threads of the kernels, the pipeline and LibTorch; 0: all
  int in_flight = 3;  ///< scans in a worker's pipeline at once
  pipeline::SlidingWindowOptions window;  ///< the window plan, overlap and batch
  jobs::ExistingResults existing = jobs::ExistingResults::Refuse;
  jobs::RowOrder order = jobs::RowOrder::Manifest;
  jobs::CrashedScans crashed = jobs::CrashedScans::Skip;
  bool coordinator_works = false;     ///< under MPI, rank 0 also runs a worker
  bool allow_external_paths = false;  ///< image paths outside the manifest's folder
  std::int64_t max_voxels = io::ReadLimits{}.max_voxels;
  double read_timeout_seconds = pipeline::RunSettings{}.read_timeout_seconds;
  std::optional<std::filesystem::path> export_nifti;
  std::optional<std::filesystem::path> timings;  ///< throughput JSON
  std::size_t progress_every = 10;
  double progress_seconds = 60;
  /// What the provenance names as the tool: version, commit, and the command line.
  std::string tool_version, git_commit, command_line;
};

/// Where the results file stands when the run ends (a worker rank's counts are all zero).
struct RunSummary {
  std::size_t ok = 0, failed = 0, pending = 0;
  int stop_signal = 0;              ///< the signal that stopped the run with scans still pending, else 0
  bool coordinator_failed = false;  ///< a worker rank whose coordinator could not open the store
};

/// Runs the cohort; under mpirun or srun with several ranks, as one of them. A failure on one
/// rank ends the whole job at once (MPI_Abort with the failure's exit code), so that no rank
/// waits for another forever.
/// \throws nc::Error on a bad manifest, model, device or results file (single process).
RunSummary run_cohort(const CohortRunOptions& options);

}  // namespace nc::cluster
