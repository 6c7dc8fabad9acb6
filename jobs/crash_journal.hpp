#pragma once
/// \file
/// What a crashed run leaves for the next one. A scan whose file crashes the process (a reader
/// bug, a hostile header) would crash every `--resume` again. Each thread that works on a scan
/// marks it (ScanInFlight); on a fatal signal the handler appends "ROW SIGNAL" to this
/// process's journal file with async-signal-safe calls only, then lets the signal end the
/// process as it would have. A resumed run reads the journals and fails those scans instead
/// of retrying them (unless --retry-crashed). A killed run (SIGKILL) leaves no entry: its
/// scans in flight are simply retried.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace nc::jobs {

/// The reason a crashed scan's row records; rows failed for this reason are not retried.
inline constexpr const char* kCrashedReason = "crashed the process in an earlier run";

/// Journal of process `rank` for the results file `results`: RESULTS.crash-RANK.
std::filesystem::path crash_journal_path(const std::filesystem::path& results, int rank);

/// Installs the fatal-signal handlers (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) that write
/// to `journal`. Once per process; a later call changes the path.
void record_crashes_in(const std::filesystem::path& journal);

/// Every journal of `results` (any rank): row → the signal that ended the process.
std::map<std::size_t, int> read_crash_journals(const std::filesystem::path& results);

/// Removes the journals of `results` once their entries are stored.
void remove_crash_journals(const std::filesystem::path& results);

/// Marks the calling thread as working on manifest row `row` for the guard's lifetime.
class ScanInFlight {
 public:
  explicit ScanInFlight(std::size_t row);
  ~ScanInFlight();
  ScanInFlight(const ScanInFlight&) = delete;
  ScanInFlight& operator=(const ScanInFlight&) = delete;

 private:
  long previous_;
};

}  // namespace nc::jobs
