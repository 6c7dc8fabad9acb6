#include "jobs/crash_journal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace nc::jobs {
namespace {

namespace fs = std::filesystem;

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

// The handler may not allocate: the journal path lives in a fixed buffer.
char journal_path[4096] = {};
thread_local long current_row = -1;

// Decimal digits of `value` into `out`, returning the end: snprintf is not async-signal-safe.
char* append_number(char* out, long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = char('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 23);
  while (n > 0) *out++ = digits[--n];
  return out;
}

extern "C" void on_fatal_signal(int signal) {
  const long row = current_row;
  if (row >= 0 && journal_path[0] != '\0') {
    const int fd = ::open(journal_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      char line[64];
      char* end = append_number(line, row);
      *end++ = ' ';
      end = append_number(end, signal);
      *end++ = '\n';
      [[maybe_unused]] const ssize_t written = ::write(fd, line, std::size_t(end - line));
      ::close(fd);
    }
  }
  // End the process as the signal would have (core dump, exit status 128 + signal).
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

std::string journal_prefix(const fs::path& results) { return results.filename().string() + ".crash-"; }

std::vector<fs::path> journals(const fs::path& results) {
  std::vector<fs::path> found;
  const fs::path folder = results.parent_path().empty() ? fs::path(".") : results.parent_path();
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(journal_prefix(results), 0) == 0) found.push_back(it->path());
  return found;
}

}  // namespace

fs::path crash_journal_path(const fs::path& results, int rank) {
  return results.parent_path() / (journal_prefix(results) + std::to_string(rank));
}

void record_crashes_in(const fs::path& journal) {
  const std::string path = fs::absolute(journal).string();
  if (path.size() >= sizeof journal_path) return;  // no journal rather than a truncated path
  std::memcpy(journal_path, path.c_str(), path.size() + 1);
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  sigemptyset(&action.sa_mask);
  for (const int s : kFatalSignals) ::sigaction(s, &action, nullptr);
}

std::map<std::size_t, int> read_crash_journals(const fs::path& results) {
  std::map<std::size_t, int> crashed;
  for (const auto& path : journals(results)) {
    std::ifstream in(path);
    long row = -1;
    int signal = 0;
    while (in >> row >> signal)
      if (row >= 0) crashed[std::size_t(row)] = signal;
  }
  return crashed;
}

void remove_crash_journals(const fs::path& results) {
  std::error_code ec;
  for (const auto& path : journals(results)) fs::remove(path, ec);
}

ScanInFlight::ScanInFlight(std::size_t row) : previous_(current_row) { current_row = long(row); }
ScanInFlight::~ScanInFlight() { current_row = previous_; }

}  // namespace nc::jobs
