// jemalloc's compiled-in options: it reads this symbol at start-up (the environment variable
// MALLOC_CONF can still override each of them).
//
// thp:always — LibTorch allocates and frees gigabytes per scan, and on a virtual machine each
// 4 KiB page fault costs 2–10 µs: one MR scan through `run` with glibc's malloc took 950,000
// faults and 15.6 s of inference on one thread; with huge pages (jemalloc advises MADV_HUGEPAGE
// on what it maps) 32,000 faults and 4.7 s. A kernel without transparent huge pages ignores it.
//
// dirty_decay_ms:-1, muzzy_decay_ms:-1, oversize_threshold:0 — freed pages stay mapped and are
// reused: by default jemalloc returns extents over 8 MiB to the kernel at once and the rest
// after 10 s, so every forward pass faulted in (and the kernel zeroed) its activations afresh
// and every scan its native-size volumes. Kept, the same memory serves the next window and the
// next scan: a forward pass of two windows went from 269 to 183 ms and a 6-scan run's wall
// time fell to 0.79x (docs/BENCHMARKS.md). The price is that the process keeps its peak
// working set resident (2.0–2.6 GB for the demo cohort, three scans in flight, and no more
// after 60 scans); MALLOC_CONF=dirty_decay_ms:10000 gives memory back where that matters more
// than speed.
//
// narenas:1 — one arena for every thread, so that a page one thread freed serves the next
// allocation of any thread: a volume is often freed by another thread than the one that made
// it (the read threads, oneTBB's workers). A 6-scan run took 0.95x the wall time, half the
// system time and 18 % less peak memory than with jemalloc's default eight arenas.
extern "C" {
const char* malloc_conf =
    "thp:always,metadata_thp:auto,dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0,narenas:1";
}
