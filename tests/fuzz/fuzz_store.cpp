// libFuzzer target: nc::io::CohortStore::open (read-only) on an arbitrary file, then every read
// a report or a merge makes: each /scans column as text and as numbers, each metric, and the
// record (label map included) of each row. A damaged store must throw nc::Error (StoreError);
// a crash, a sanitizer report or another exception type is a finding.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "tests/fuzz/temp_file.hpp"

namespace {

// Runs one read; a StoreError from it is expected and does not stop the other reads.
template <typename F>
void attempt(F&& read) {
  try {
    read();
  } catch (const nc::Error&) {
  }
}

constexpr std::size_t kMaxRows = 4096;  // each row's read opens several datasets

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nc::fuzz::TempFile file(".h5");
  const auto& path = file.write(data, size);
  try {
    const auto store = nc::io::CohortStore::open(path, nc::io::CohortStore::Mode::ReadOnly);
    std::vector<std::string> columns;
    attempt([&] { columns = store.scan_columns(); });
    for (const auto& name : columns) {
      attempt([&] { (void)store.read_text_column(name); });
      attempt([&] { (void)store.read_number_column(name); });
    }
    for (const auto& name : store.metric_names()) attempt([&] { (void)store.read_metric(name); });
    for (const auto* names : {&store.qc_layout().per_scan, &store.qc_layout().per_region})
      for (const auto& name : *names) attempt([&] { (void)store.read_qc(name); });
    attempt([&] { (void)store.statuses(); });
    if (!store.stage_names().empty())
      for (const char* name : {"started_at", "finished_at", "stage_seconds"})
        attempt([&] { (void)store.read_timing(name); });
    attempt([&] { (void)store.read_scan_table(); });
    for (std::size_t row = 0; row < std::min(store.scan_count(), kMaxRows); ++row)
      attempt([&] { (void)store.read_record(row); });
  } catch (const nc::Error&) {
  }
  return 0;
}
