// jemalloc's compiled-in options: it reads this symbol at start-up (the environment variable
// MALLOC_CONF can still add to it). LibTorch allocates and frees gigabytes of 4 KiB pages per
// scan, and on a virtual machine each page fault costs about 10 µs: one MR scan through
// `run` with glibc's malloc took 950,000 faults and 15.6 s of inference on one thread; with
// huge pages (thp:always makes jemalloc advise MADV_HUGEPAGE on what it maps) 32,000 faults
// and 4.7 s. On a kernel without transparent huge pages the advice is ignored.
extern "C" {
const char* malloc_conf = "thp:always,metadata_thp:auto";
}
