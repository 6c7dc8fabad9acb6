#pragma once
/// \file
/// The rows a run still has to do, in the order they are handed out: what the store says is
/// not done yet, less the scans that crashed an earlier run (jobs/crash_journal.hpp).

#include <cstddef>
#include <filesystem>
#include <vector>

#include "io/cohort_store.hpp"
#include "jobs/manifest.hpp"

namespace nc::jobs {

/// Whether scans that crashed the process in an earlier run are tried again.
enum class CrashedScans { Skip, Retry };

/// The order rows are handed out in: the manifest's, or largest image first, so that the
/// slowest scans do not end up alone at the end of a distributed run.
enum class RowOrder { Manifest, LargestFirst };

/// Rows a crashed run left in its journals become failed rows (so that the file that crashed
/// the process is not read again), unless `crashed` is Retry; the journals are then removed.
void fail_crashed_rows(io::CohortStore& store, const Manifest& manifest, const std::filesystem::path& results,
                       CrashedScans crashed);

/// Pending rows and failed ones (a failed scan gets another try), but not those failed for
/// having crashed the process unless `crashed` is Retry.
std::vector<std::size_t> rows_to_do(const io::CohortStore& store, CrashedScans crashed);

/// `rows` in the order they are to be handed out.
std::vector<std::size_t> order_rows(std::vector<std::size_t> rows, const Manifest& manifest, RowOrder order);

}  // namespace nc::jobs
