#pragma once
/// \file
/// Peak resident memory of one piece of work inside a benchmark process. Linux keeps the
/// process's high-water mark (VmHWM); writing "5" to /proc/self/clear_refs resets it to the
/// current resident size, so the mark read after the work, less the resident size before it,
/// is what the work itself added at its peak: its outputs and its scratch memory.

#include <fstream>
#include <string>

namespace nc::bench {

/// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); -1 when it cannot be read.
inline double proc_status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field + ":") {
      double kib = 0;
      status >> kib;
      return kib * 1024.0;
    }
    std::getline(status, key);
  }
  return -1.0;
}

/// Measures the peak memory added by the work run between its construction and peak_bytes().
class PeakMemory {
 public:
  PeakMemory() {
    std::ofstream("/proc/self/clear_refs") << "5";
    baseline_ = proc_status_bytes("VmRSS");
  }
  /// Bytes above the resident size at construction; -1 when /proc cannot tell (not Linux).
  double peak_bytes() const {
    const double high_water = proc_status_bytes("VmHWM");
    return high_water < 0 || baseline_ < 0 ? -1.0 : high_water - baseline_;
  }

 private:
  double baseline_ = 0;
};

}  // namespace nc::bench
