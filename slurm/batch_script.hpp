#pragma once
/// \file
/// The sbatch scripts `neurocohort slurm submit` writes: readable, commented, and complete —
/// a user can read what will run and resubmit a script by hand. The run script checkpoints
/// on Slurm's USR1 warning before the time limit and requeues itself; `run --resume` then
/// continues where it stopped.

#include <filesystem>
#include <string>
#include <vector>

#include "jobs/manifest.hpp"

namespace nc::slurm {

struct JobResources {
  int nodes = 1;
  int gpus_per_node = 0;  ///< 0: a CPU job, one task per node
  int cpus_per_task = 2;
  std::string time = "04:00:00";
  long checkpoint_seconds = 300;  ///< USR1 this long before the time limit
  std::string partition, account;
  std::string job_name = "neurocohort";
};

enum class Launcher { Srun, Mpirun };

/// What the job runs: `neurocohort run MANIFEST --out RESULTS --resume ...`.
struct RunJob {
  std::filesystem::path neurocohort;  ///< absolute path of the binary
  std::filesystem::path manifest;     ///< absolute; for an array, "%a" is replaced by the chunk number
  std::filesystem::path results;      ///< absolute; likewise
  std::vector<std::string> run_args;  ///< extra arguments: --model, --device, --threads …
  Launcher launcher = Launcher::Srun;
  int array_tasks = 0;  ///< > 0: a job array of this many tasks, one chunk each
};

/// The batch script of a run (or of a run array).
std::string render_run_script(const JobResources& resources, const RunJob& job, const std::filesystem::path& log_dir);

/// The batch script that merges the array's results files into one.
std::string render_merge_script(const JobResources& resources, const std::filesystem::path& neurocohort,
                                const std::vector<std::filesystem::path>& chunk_results,
                                const std::filesystem::path& merged, const std::filesystem::path& log_dir);

/// Splits the manifest into `chunks` manifests chunk_000.tsv … in `dir`, scans dealt round
/// robin (so that each chunk gets a similar mix of CT and MR), image and label paths made
/// absolute. \throws UsageError when chunks exceeds the scans.
std::vector<std::filesystem::path> split_manifest(const jobs::Manifest& manifest, int chunks,
                                                  const std::filesystem::path& dir);

/// "chunk_007" for chunk 7: the name shared by a chunk's manifest and results file.
std::string chunk_name(int chunk);

}  // namespace nc::slurm
