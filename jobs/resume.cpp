#include "jobs/resume.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "jobs/crash_journal.hpp"

namespace nc::jobs {
namespace {

namespace fs = std::filesystem;

std::string shortened(const std::string& text) { return text.size() > 24 ? text.substr(0, 21) + "..." : text; }

std::string cell_text(const io::TableColumn& column, std::size_t row) {
  if (const auto* text = std::get_if<std::vector<std::string>>(&column.values)) return (*text)[row];
  const double v = std::get<std::vector<double>>(column.values)[row];
  return std::isnan(v) ? std::string("(empty)") : fmt::format("{}", v);
}

std::vector<std::string> sorted_names(const std::vector<io::TableColumn>& columns) {
  std::vector<std::string> names;
  for (const auto& c : columns) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  return names;
}

/// The manifest's rows as the store recorded them: a resumed run must not give a row another
/// image, age or sex than the rows already measured.
void check_same_manifest_rows(const io::CohortStore& store, const Manifest& manifest, const fs::path& path) {
  const auto stored = store.read_scan_table();
  const auto now = manifest.table_columns();
  if (sorted_names(stored) != sorted_names(now))
    throw UsageError(path.string() + " was made from a manifest with other columns; cannot --resume it");
  for (const auto& column : now) {
    const auto& before =
        *std::find_if(stored.begin(), stored.end(), [&](const auto& c) { return c.name == column.name; });
    for (std::size_t r = 0; r < column.size(); ++r) {
      const std::string a = cell_text(before, r), b = cell_text(column, r);
      if (a != b)
        throw UsageError(
            fmt::format("{}: scan {} has {} '{}' in the results file but '{}' in the manifest; resume "
                        "with the manifest the run began with (or start a new results file)",
                        path.string(), manifest.scans[r].scan_id, column.name, a, b));
    }
  }
}

bool same_label_table(const std::vector<io::Region>& had, const std::vector<io::Region>& now) {
  return had.size() == now.size() && std::equal(had.begin(), had.end(), now.begin(), [](const auto& a, const auto& b) {
           return a.label == b.label && a.name == b.name;
         });
}

void check_resumable(const io::CohortStore& store, const Manifest& manifest, const ResultsLayout& layout,
                     const fs::path& path) {
  std::vector<std::string> ids;
  for (const auto& s : manifest.scans) ids.push_back(s.scan_id);
  if (store.scan_ids() != ids)
    throw UsageError(path.string() + " was made from another manifest (its scan_ids differ); cannot --resume it");
  if (!same_label_table(store.regions(), layout.regions))
    throw UsageError(path.string() + " was made with another model's label table; cannot --resume it");
  // A store of another version first: it may lack the attributes compared below.
  if (store.qc_layout() != layout.qc || store.stage_names() != layout.stage_names)
    throw UsageError(path.string() +
                     " holds other QC measures or stage timings (written by another neurocohort version); finish it "
                     "with that version, or start a new results file");
  for (const char* key : {"model_sha256", "model_metadata", "precision", "window_plan"}) {
    const std::string before = store.attribute(key), now = layout.provenance.at(key);
    const bool of_model = std::string(key).rfind("model_", 0) == 0;
    if (before != now)
      throw UsageError(fmt::format("{} was made with another {} ({} '{}', now '{}'); cannot --resume it", path.string(),
                                   of_model ? "model" : key, key, shortened(before), shortened(now)));
  }
  check_same_manifest_rows(store, manifest, path);
}

}  // namespace

io::CohortStore open_results(const fs::path& path, const Manifest& manifest, const ResultsLayout& layout,
                             ExistingResults existing) {
  if (fs::exists(path)) {
    if (existing == ExistingResults::Resume) {
      auto store = io::CohortStore::open(path, io::CohortStore::Mode::ReadWrite);
      check_resumable(store, manifest, layout, path);
      return store;
    }
    if (existing == ExistingResults::Refuse)
      throw UsageError(path.string() + " exists: add --resume to continue it, or --overwrite to start again");
    if (const auto pid = io::CohortStore::writer_of(path))
      throw UsageError(
          fmt::format("{} is being written by process {}: --overwrite would pull it from under that run; "
                      "stop it first, or choose another --out",
                      path.string(), *pid));
    fs::remove(path);
  }
  remove_crash_journals(path);  // a journal of an earlier file of this name
  return io::CohortStore::create(path, manifest.table_columns(), layout.regions, layout.metric_names, layout.provenance,
                                 layout.qc, layout.stage_names);
}

}  // namespace nc::jobs
