// libFuzzer target: nc::jobs::load_manifest (and the TSV reader under it) on an arbitrary file,
// with the CLI's default containment rule and without checking that images exist. A bad
// manifest must throw nc::Error (ManifestError); anything else escaping is a finding.
#include <cstdint>
#include <variant>

#include "core/error.hpp"
#include "jobs/manifest.hpp"
#include "tests/fuzz/temp_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nc::fuzz::TempFile file(".tsv");
  const auto& path = file.write(data, size);
  try {
    const nc::jobs::Manifest manifest =
        nc::jobs::load_manifest(path, {.allow_external_paths = false, .check_files = false});
    // What the run does next with an accepted manifest: the /scans columns of the store.
    const auto columns = manifest.table_columns();
    // (TableColumn::size() lives in io/cohort_store.cpp, which this target does not link.)
    for (const auto& c : columns)
      if (std::visit([](const auto& v) { return v.size(); }, c.values) != manifest.scans.size()) __builtin_trap();
  } catch (const nc::Error&) {
  }
  return 0;
}
