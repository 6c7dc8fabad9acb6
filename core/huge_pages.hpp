#pragma once
/// \file
/// Large buffers backed by transparent huge pages. Linux maps fresh memory one 4 KiB page per
/// fault, and on a virtual machine a fault costs about 10 µs: first touching a 256³ float
/// volume (64 MiB, 16,384 faults) took 200 ms, longer than skull stripping it. Advising a
/// fresh allocation with MADV_HUGEPAGE before its first touch lets the kernel map 2 MiB pages
/// instead (THP mode "madvise", the Debian default); elsewhere the advice is a no-op.

#include <sys/mman.h>

#include <cstdint>
#include <vector>

namespace nc {

/// Asks for huge pages over the whole 2 MiB pages inside [data, data + bytes). Advice only:
/// a kernel without THP ignores it, and so does this function.
inline void advise_huge_pages(const void* data, std::size_t bytes) {
  constexpr std::uintptr_t kHugePage = std::uintptr_t{1} << 21;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

/// `count` copies of `fill` in memory advised for huge pages before it is first touched.
template <typename T>
std::vector<T> large_vector(std::size_t count, const T& fill = T{}) {
  std::vector<T> v;
  v.reserve(count);  // allocated (mmap for large blocks), not yet touched
  advise_huge_pages(v.data(), count * sizeof(T));
  v.assign(count, fill);
  return v;
}

}  // namespace nc
