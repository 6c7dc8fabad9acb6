#include "io/store_merge.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "io/cohort_store.hpp"

namespace nc::io {
namespace {

namespace fs = std::filesystem;

std::string attribute_or(const CohortStore& store, const std::string& name, const std::string& fallback) {
  try {
    return store.attribute(name);
  } catch (const StoreError&) {
    return fallback;
  }
}

bool same_regions(const std::vector<Region>& a, const std::vector<Region>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const Region& x, const Region& y) {
           return x.label == y.label && x.name == y.name && x.hemisphere == y.hemisphere;
         });
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Metric values are equal when both are NaN or both are the same number.
bool same_values(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
           return x == y || (std::isnan(x) && std::isnan(y));
         });
}

bool same_result(const ScanRecord& a, const ScanRecord& b) {
  if (a.ok != b.ok || a.error != b.error) return false;
  if (!same_values({a.icv_ml}, {b.icv_ml})) return false;
  for (const auto& [name, values] : a.metrics) {
    const auto it = b.metrics.find(name);
    if (it == b.metrics.end() || !same_values(values, it->second)) return false;
  }
  return true;
}

void check_compatible(const CohortStore& first, const fs::path& first_path, const CohortStore& other,
                      const fs::path& path) {
  const auto where = path.string() + " and " + first_path.string();
  if (!same_regions(first.regions(), other.regions())) throw StoreError(where + " have different region tables");
  if (sorted(first.metric_names()) != sorted(other.metric_names())) throw StoreError(where + " have different metrics");
  const auto manifest_columns = [](const CohortStore& store) {
    std::vector<std::string> names;
    for (const auto& column : store.read_scan_table()) names.push_back(column.name);
    return sorted(names);
  };
  if (manifest_columns(first) != manifest_columns(other)) throw StoreError(where + " have different manifest columns");
  if (attribute_or(first, "model_sha256", "") != attribute_or(other, "model_sha256", ""))
    throw StoreError(where + " were made with different models (model_sha256 differs)");
  if (attribute_or(first, "precision", "") != attribute_or(other, "precision", ""))
    throw StoreError(where + " were made at different network precisions (precision differs)");
  if (attribute_or(first, "window_plan", "") != attribute_or(other, "window_plan", ""))
    throw StoreError(where + " were made with different window plans (window_plan differs)");
}

// The QC measures of every input (a store written before QC has none: its rows stay NaN there).
QcLayout union_of_qc(const std::vector<CohortStore>& stores, const std::vector<fs::path>& inputs) {
  QcLayout all;
  for (std::size_t i = 0; i < stores.size(); ++i) {
    const QcLayout& qc = stores[i].qc_layout();
    for (const auto& [mine, other] : {std::pair{&qc.per_scan, &all.per_region}, std::pair{&qc.per_region, &all.per_scan}})
      for (const auto& name : *mine)
        if (std::find(other->begin(), other->end(), name) != other->end())
          throw StoreError(inputs[i].string() + ": QC measure " + name + " has another shape than in an earlier input");
    for (const auto& [mine, into] : {std::pair{&qc.per_scan, &all.per_scan}, std::pair{&qc.per_region, &all.per_region}})
      for (const auto& name : *mine)
        if (std::find(into->begin(), into->end(), name) == into->end()) into->push_back(name);
  }
  return all;
}

// The stages every input times; none when they differ (a store from before /timing has none).
std::vector<std::string> common_stage_names(const std::vector<CohortStore>& stores) {
  for (const auto& store : stores)
    if (store.stage_names() != stores.front().stage_names()) return {};
  return stores.front().stage_names();
}

}  // namespace

MergeSummary merge_stores(const std::vector<fs::path>& inputs, const fs::path& out, const MergeOptions& options,
                          const std::function<void(std::size_t, std::size_t)>& progress) {
  if (inputs.empty()) throw StoreError("merge: no inputs");
  std::error_code ec;
  if (fs::exists(out, ec)) throw StoreError(out.string() + ": already exists");
  std::vector<CohortStore> stores;
  for (const auto& p : inputs) {
    stores.push_back(CohortStore::open(p, CohortStore::Mode::ReadOnly));
    if (stores.size() > 1) check_compatible(stores.front(), inputs.front(), stores.back(), p);
  }

  // Output rows in order of first appearance; per scan the finished candidates (input, row).
  struct Candidate {
    std::size_t input, row;
  };
  std::vector<std::size_t> first_input, first_row;
  std::vector<std::vector<Candidate>> finished;
  std::unordered_map<std::string, std::size_t> out_row;
  std::vector<std::vector<TableColumn>> tables;
  for (std::size_t i = 0; i < stores.size(); ++i) {
    tables.push_back(stores[i].read_scan_table());
    const auto statuses = stores[i].statuses();
    for (std::size_t r = 0; r < stores[i].scan_count(); ++r) {
      const auto [it, inserted] = out_row.emplace(stores[i].scan_ids()[r], first_input.size());
      if (inserted) {
        first_input.push_back(i);
        first_row.push_back(r);
        finished.emplace_back();
      }
      if (statuses[r] != ScanStatus::Pending) finished[it->second].push_back({i, r});
    }
  }

  // The manifest columns of the union, each value from the scan's first input.
  std::vector<TableColumn> columns = tables.front();
  for (auto& column : columns) {
    std::visit([](auto& values) { values.clear(); }, column.values);
    for (std::size_t o = 0; o < first_input.size(); ++o) {
      const auto& source = tables[first_input[o]];
      const auto found =
          std::find_if(source.begin(), source.end(), [&](const auto& c) { return c.name == column.name; });
      std::visit(
          [&](auto& values) {
            using Values = std::decay_t<decltype(values)>;
            const auto* from = std::get_if<Values>(&found->values);
            if (!from)
              throw StoreError(inputs[first_input[o]].string() + ": column " + column.name + " has another type");
            values.push_back((*from)[first_row[o]]);
          },
          column.values);
    }
  }

  std::vector<std::string> end_times;
  std::string sources;
  for (std::size_t i = 0; i < stores.size(); ++i) {
    end_times.push_back(attribute_or(stores[i], "end_time", ""));
    sources += (i ? " " : "") + fs::absolute(inputs[i]).string();
  }
  Provenance provenance = {{"tool", "neurocohort merge"}, {"merged_from", sources}, {"start_time", now_iso8601()}};
  for (const char* inherited :
       {"tool_version", "git_commit", "model_path", "model_sha256", "model_metadata", "precision", "window_plan"})
    if (const auto value = attribute_or(stores.front(), inherited, ""); !value.empty()) provenance[inherited] = value;
  auto merged = CohortStore::create(out, columns, stores.front().regions(), stores.front().metric_names(), provenance,
                                    union_of_qc(stores, inputs), common_stage_names(stores));

  MergeSummary summary;
  summary.scans = first_input.size();
  for (std::size_t o = 0; o < finished.size(); ++o) {
    if (progress) progress(o, finished.size());
    const auto& candidates = finished[o];
    if (candidates.empty()) {
      ++summary.pending;
      continue;
    }
    // The latest finished input wins; without --prefer-latest every candidate must agree.
    const auto latest = std::max_element(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
      return std::tie(end_times[a.input], a.input) < std::tie(end_times[b.input], b.input);
    });
    ScanRecord record = stores[latest->input].read_record(latest->row);
    for (const auto& c : candidates) {
      if (c.input == latest->input) continue;
      if (same_result(stores[c.input].read_record(c.row), record)) continue;
      if (!options.prefer_latest)
        throw StoreError("scan " + stores[c.input].scan_ids()[c.row] + " has different results in " +
                         inputs[c.input].string() + " and " + inputs[latest->input].string() +
                         " (--prefer-latest takes the later one)");
      ++summary.conflicts_resolved;
      break;
    }
    record.row = o;
    merged.write(record);
    ++(record.ok ? summary.ok : summary.failed);
  }
  merged.set_attribute("end_time", now_iso8601());
  return summary;
}

}  // namespace nc::io
