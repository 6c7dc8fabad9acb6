#pragma once
/// \file
/// Wall-clock time stamps for provenance attributes, and a stopwatch for timings.

#include <chrono>
#include <ctime>
#include <string>

namespace nc {

/// A UTC time as 2026-11-23T21:27:39Z.
inline std::string iso8601(std::time_t t) {
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return text;
}

/// The current UTC time as 2026-11-23T21:27:39Z.
inline std::string now_iso8601() { return iso8601(std::time(nullptr)); }

/// The current UTC time in Unix seconds (with fractions), for per-scan start and end times.
inline double now_unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Seconds since construction, on the monotonic clock.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace nc
