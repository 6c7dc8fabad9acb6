#pragma once
// A small cohort store with known content, shared by the store tests and the kill-test child.

#include <cmath>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::test {

inline std::vector<io::Region> test_regions() {
  return {{1, "frontal", "L"}, {2, "frontal", "R"}, {9, "brainstem", "-"}};
}

inline const std::vector<std::string>& test_metrics() {
  static const std::vector<std::string> names = {"volume_ml", "dice"};
  return names;
}

/// Two per-scan QC measures and one per region, as `run` lays them out (names as in qc::kMeasures).
inline io::QcLayout test_qc_layout() { return {{"mean_max_probability", "qc_seconds"}, {"components"}}; }

inline std::vector<io::TableColumn> test_scan_table(std::size_t n) {
  std::vector<std::string> ids, sex;
  std::vector<double> age;
  for (std::size_t i = 0; i < n; ++i) {
    ids.push_back("sub-" + std::to_string(100 + i));
    sex.push_back(i % 2 ? "F" : "M");
    age.push_back(0.5 + double(i));
  }
  return {{"scan_id", ids}, {"sex", sex}, {"age", age}};
}

/// The label map of row `row`'s record: 5×4×3 voxels whose values depend on the row.
inline LabelVolume test_label_map(std::size_t row) {
  Geometry g;
  g.size = {5, 4, 3};
  g.spacing_mm = {1.0, 1.0, 1.5};
  g.origin_mm = {double(row), -2.0, 3.0};
  LabelVolume labels(g);
  for (std::size_t n = 0; n < labels.voxels.size(); ++n) labels.voxels[n] = std::uint16_t((n + row) % 10);
  return labels;
}

/// The record written for row `row`: values derived from the row so that any mix-up shows.
inline io::ScanRecord test_record(std::size_t row, bool with_labels = true) {
  io::ScanRecord r;
  r.row = row;
  r.ok = row % 5 != 3;
  r.error = r.ok ? "" : "no brain component found";
  r.icv_ml = 1000.0 + double(row);
  r.seconds = 0.25 * double(row);
  r.host = "node" + std::to_string(row % 3);
  r.rank = int(row % 4);
  r.metrics["volume_ml"] = {10.0 + double(row), 20.0 + double(row), 30.0 + double(row)};
  r.metrics["dice"] = {0.9, std::nan(""), 0.8};
  r.qc["mean_max_probability"] = {0.95 - 0.01 * double(row)};
  r.qc["components"] = {1, 2.0 + double(row), 0};
  if (with_labels) r.labels = io::to_stored_form(test_label_map(row));
  return r;
}

}  // namespace nc::test
