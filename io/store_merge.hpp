#pragma once
/// \file
/// Merging cohort stores (`neurocohort merge`): the union of the scans of several RESULTS.h5
/// files — the chunks of a Slurm array, or runs of overlapping manifests — into one store.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace nc::io {

struct MergeOptions {
  /// When a scan has different results in two inputs, take the one from the input that
  /// finished last (root attribute end_time, then argument order) instead of failing.
  bool prefer_latest = false;
};

struct MergeSummary {
  std::size_t scans = 0, ok = 0, failed = 0, pending = 0;
  std::size_t conflicts_resolved = 0;  ///< scans whose differing results --prefer-latest settled
};

/// Writes `out` (which must not exist) from `inputs`, scans in the order they first appear.
/// Inputs must share the label table, the metrics and the manifest columns, and come from the
/// same model at the same precision; the QC measures are the union of the inputs'. A scan that is ok or failed in one
/// input and pending in another takes the finished result; the same scan finished differently in two inputs is an error
/// unless options.prefer_latest. \throws StoreError naming the file or the scan and the reason.
MergeSummary merge_stores(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& out,
                          const MergeOptions& options,
                          const std::function<void(std::size_t done, std::size_t total)>& progress = {});

}  // namespace nc::io
