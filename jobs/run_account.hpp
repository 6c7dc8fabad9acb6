#pragma once
/// \file
/// A run's own account, read back from its results file (`neurocohort status`): where the
/// rows stand, the failures grouped by reason, and each worker's throughput over time, so that
/// a cluster run can be judged after it ended.

#include <cstddef>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::jobs {

/// Failed scans that share a reason (failure_reason()): how many, and one of them as it was.
struct FailureGroup {
  std::string reason;
  std::size_t scans = 0;
  std::string example_scan, example_error;
};

/// One worker (host and rank): scans it finished, and how many it finished in each time bin.
struct WorkerThroughput {
  std::string host;
  int rank = 0;
  std::size_t scans = 0;
  double busy_seconds = 0;           ///< summed over its scans (in-flight scans overlap)
  std::vector<std::size_t> per_bin;  ///< scans finished in each bin of RunAccount::bin_seconds
};

struct RunAccount {
  std::size_t scans = 0;
  io::StatusCounts counts;
  std::vector<FailureGroup> failures;  ///< most scans first
  /// From here on only for a store with /timing; timed_scans is 0 otherwise.
  std::size_t timed_scans = 0;
  double first_start = 0, last_end = 0;  ///< Unix seconds
  double bin_seconds = 0;
  std::vector<std::string> stage_names;
  std::vector<double> mean_stage_seconds;  ///< per stage, over the timed scans
  std::vector<WorkerThroughput> workers;   ///< by host, then rank
};

/// An error message without what is particular to one scan: file paths (words with a '/')
/// become "…" and runs of digits "#", so that the same failure on two scans reads the same.
std::string failure_reason(const std::string& error);

/// The account of `store`, its timed span cut into `bins` equal bins (at least 1).
RunAccount account_of(const io::CohortStore& store, std::size_t bins);

}  // namespace nc::jobs
