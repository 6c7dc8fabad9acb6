#pragma once
/// \file
/// Talking to Slurm through its commands (sbatch, squeue, sacct, scontrol), the interface
/// every Slurm site supports; their error messages are relayed, not rephrased.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nc::slurm {

struct ProgramOutput {
  int exit_code = 0;
  std::string out, err;
};

/// Runs a program found on PATH and waits for it. \throws Error when it is not on PATH.
ProgramOutput run_program(const std::vector<std::string>& argv);

/// The program's path when it is on PATH.
std::optional<std::filesystem::path> find_on_path(const std::string& name);

/// Submits a batch script with `sbatch --parsable [extra...] SCRIPT` and returns the job id.
/// \throws Error with sbatch's own message (unknown partition, bad account …).
std::string submit(const std::filesystem::path& script, const std::vector<std::string>& extra = {});

/// One job (or array task) as Slurm reports it now.
struct JobState {
  std::string id;       ///< e.g. 1234 or 1234_3
  std::string state;    ///< PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, …
  std::string elapsed;  ///< run time so far
  std::string source;   ///< squeue, sacct or scontrol
};

/// The states of a job and its array tasks: squeue while it is queued or running, then sacct
/// (when the cluster keeps accounting), then scontrol (finished jobs, for MinJobAge).
/// Empty when Slurm no longer knows the job.
std::vector<JobState> job_states(const std::string& job_id);

}  // namespace nc::slurm
