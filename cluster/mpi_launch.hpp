#pragma once
/// \file
/// How a process tells that a launcher started it as an MPI rank, from the environment that
/// Open MPI's mpirun and PMIx/PMI launchers (srun) set, and its rank on its node before MPI
/// starts. Shared by the MPI transport, its stub and the cohort run; not part of the cluster's
/// interface.

#include <cstdlib>
#include <optional>
#include <string>

namespace nc::cluster::detail {

inline bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

/// True when the launcher started more than this one rank (a size above 1, or a rank above 0).
inline bool launched_as_one_of_several() {
  const auto above = [](const char* name, long limit) {
    const char* value = std::getenv(name);
    return value && std::strtol(value, nullptr, 10) > limit;
  };
  for (const char* size : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (above(size, 1)) return true;
  for (const char* rank : {"PMIX_RANK", "PMI_RANK"})
    if (above(rank, 0)) return true;
  return false;
}

/// This process's rank among the ranks of its node as the launcher announced it (Open MPI's
/// mpirun, Slurm's srun, MPICH's Hydra), read before MPI starts; nullopt when none did.
inline std::optional<int> launcher_local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    const char* value = std::getenv(name);
    if (!value || !*value) continue;
    char* end = nullptr;
    const long rank = std::strtol(value, &end, 10);
    if (*end == '\0' && rank >= 0 && rank < 1L << 20) return int(rank);
  }
  return std::nullopt;
}

}  // namespace nc::cluster::detail
