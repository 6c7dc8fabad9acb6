// The local rank a launcher announces, read before MPI starts to choose the GPU: each of the
// three launchers' variables, and nothing from a value that is not a plain number.
#include "cluster/mpi_launch.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace nc::cluster::detail {
namespace {

constexpr const char* kLaunchers[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};

struct CleanLauncherEnvironment {
  CleanLauncherEnvironment() {
    for (const char* name : kLaunchers) unsetenv(name);
  }
  ~CleanLauncherEnvironment() {
    for (const char* name : kLaunchers) unsetenv(name);
  }
};

TEST(MpiLaunch, LocalRankComesFromEachLauncher) {
  const CleanLauncherEnvironment clean;
  EXPECT_EQ(launcher_local_rank(), std::nullopt);
  int rank = 3;
  for (const char* name : kLaunchers) {
    const CleanLauncherEnvironment only_this_one;
    setenv(name, std::to_string(rank).c_str(), 1);
    EXPECT_EQ(launcher_local_rank(), rank) << name;
    ++rank;
  }
}

TEST(MpiLaunch, MalformedLocalRanksAreIgnored) {
  const CleanLauncherEnvironment clean;
  for (const char* bad : {"", "-1", "2x", "abc", "99999999999"}) {
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", bad, 1);
    EXPECT_EQ(launcher_local_rank(), std::nullopt) << "'" << bad << "'";
  }
  setenv("SLURM_LOCALID", "1", 1);  // the next launcher's variable still counts
  EXPECT_EQ(launcher_local_rank(), 1);
}

}  // namespace
}  // namespace nc::cluster::detail
