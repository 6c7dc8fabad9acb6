#pragma once
/// \file
/// Progress of a long run: on a terminal one line rewritten in place (done/total, scans per
/// minute, ETA, failures); in a log file a line every N scans or S seconds, whichever first.

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace nc::jobs {

class Progress {
 public:
  Progress(std::string what, std::size_t total, std::size_t every_scans, double every_seconds);
  /// One more scan finished (failed or not).
  void scan_done(bool failed);
  /// Ends the terminal line.
  void finish();
  std::size_t done() const { return done_; }

 private:
  std::string line() const;
  std::string what_;
  std::size_t total_, every_scans_;
  double every_seconds_;
  bool terminal_;
  std::size_t done_ = 0, failed_ = 0, last_logged_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_log_ = start_;
};

}  // namespace nc::jobs
