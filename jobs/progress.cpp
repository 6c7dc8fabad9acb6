#include "jobs/progress.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <iostream>

namespace nc::jobs {

Progress::Progress(std::string what, std::size_t total, std::size_t every_scans, double every_seconds)
    : what_(std::move(what)),
      total_(total),
      every_scans_(std::max<std::size_t>(every_scans, 1)),
      every_seconds_(every_seconds),
      terminal_(::isatty(STDERR_FILENO) == 1) {}

std::string Progress::line() const {
  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() / 60.0;
  const double rate = minutes > 0 ? double(done_) / minutes : 0.0;
  std::string eta = "--";
  if (rate > 0 && done_ < total_) {
    const auto seconds = std::lround(double(total_ - done_) / rate * 60.0);
    eta = fmt::format("{}:{:02}:{:02}", seconds / 3600, (seconds / 60) % 60, seconds % 60);
  }
  return fmt::format("{}: {}/{} scans, {:.1f} scans/min, ETA {}, {} failed", what_, done_, total_, rate, eta, failed_);
}

void Progress::scan_done(bool failed) {
  ++done_;
  failed_ += failed ? 1 : 0;
  if (terminal_) {
    std::cerr << '\r' << line() << "\x1b[K" << std::flush;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (done_ - last_logged_ >= every_scans_ || std::chrono::duration<double>(now - last_log_).count() >= every_seconds_ ||
      done_ == total_) {
    spdlog::info("{}", line());
    last_logged_ = done_;
    last_log_ = now;
  }
}

void Progress::finish() {
  if (terminal_ && done_ > 0) std::cerr << '\n';
}

}  // namespace nc::jobs
