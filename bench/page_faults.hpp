#pragma once
/// \file
/// What first touching fresh memory costs on this machine, so that benchmark ratios from two
/// machines can be compared: an ITK filter allocates its output on every call and pays this,
/// while neurocohort's buffers are advised for huge pages or reused. On the virtual machines
/// of these sessions a 4 KiB fault has cost from 2 to 10 µs, and a 2 MiB huge-page fault from
/// 0.2 to 8 ms (when the kernel must first compact memory to find one).

#include <sys/mman.h>
#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace nc::bench {

struct FirstTouchCost {
  double seconds_per_fault = 0;  ///< per page fault taken
  double bytes_per_second = 0;   ///< fresh memory mapped and zeroed per second
};

/// Maps `bytes` of anonymous memory, advised for huge pages or against them, writes one byte
/// per 4 KiB, and times it. Zeros when the mapping fails.
inline FirstTouchCost first_touch_cost(std::size_t bytes, bool huge_pages) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return {};
  (void)::madvise(p, bytes, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  const auto faults = [] {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
  };
  const long before = faults();
  const auto start = std::chrono::steady_clock::now();
  auto* bytes_of = static_cast<volatile std::uint8_t*>(p);
  for (std::size_t at = 0; at < bytes; at += 4096) bytes_of[at] = 1;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long taken = faults() - before;
  ::munmap(p, bytes);
  return {taken > 0 ? seconds / double(taken) : 0, double(bytes) / seconds};
}

}  // namespace nc::bench
