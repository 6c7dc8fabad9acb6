#include "qc/flags.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "io/tsv.hpp"
#include "norms/cohort.hpp"

namespace nc::qc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// What the rules read from a results file, one entry per row.
struct StoreData {
  std::vector<std::string> ids, error, modality;
  std::vector<io::ScanStatus> status;
  std::vector<double> icv_ml;
  std::vector<double> volume_ml;  ///< scans × regions
  std::vector<std::string> region_columns;
  std::map<std::string, std::vector<double>> per_scan, per_region;
};

// A column name per region; the hemisphere is added only where two regions share a name.
std::vector<std::string> region_column_names(const std::vector<io::Region>& regions) {
  std::vector<std::string> names;
  for (const auto& r : regions) {
    const bool shared =
        std::count_if(regions.begin(), regions.end(), [&](const io::Region& o) { return o.name == r.name; }) > 1;
    names.push_back(shared ? r.name + "_" + r.hemisphere : r.name);
  }
  return names;
}

StoreData read_store(const io::CohortStore& store, const std::filesystem::path& path) {
  const io::QcLayout& layout = store.qc_layout();
  if (layout.per_scan.empty() && layout.per_region.empty())
    throw Error(path.string() +
                ": the results file holds no QC measures (/qc); it was written before neurocohort "
                "computed them, or by another tool: run it again with this version");
  StoreData d;
  d.ids = store.scan_ids();
  d.status = store.statuses();
  d.error = store.has_scan_column("error") ? store.read_text_column("error") : std::vector<std::string>(d.ids.size());
  const auto columns = store.scan_columns();
  if (std::find(columns.begin(), columns.end(), "modality") != columns.end())
    d.modality = store.read_text_column("modality");
  else
    d.modality.assign(d.ids.size(), "all");
  d.icv_ml =
      store.has_scan_column("icv_ml") ? store.read_number_column("icv_ml") : std::vector<double>(d.ids.size(), kNaN);
  const auto metrics = store.metric_names();
  d.volume_ml = std::find(metrics.begin(), metrics.end(), "volume_ml") != metrics.end()
                    ? store.read_metric("volume_ml")
                    : std::vector<double>(d.ids.size() * store.regions().size(), kNaN);
  d.region_columns = region_column_names(store.regions());
  for (const auto& name : layout.per_scan) d.per_scan[name] = store.read_qc(name);
  for (const auto& name : layout.per_region) d.per_region[name] = store.read_qc(name);
  return d;
}

/// A robust centre and spread: the median and 1.4826 · MAD (the standard deviation for normal
/// data), or 1.2533 · the mean absolute deviation when more than half the values are equal
/// (Iglewicz and Hoaglin's fallback); not usable when all values are equal.
struct RobustScale {
  double centre = kNaN, scale = kNaN;
  bool usable() const { return scale > 0; }
  double z(double x) const { return (x - centre) / scale; }
};

double median_of(std::vector<double> v) {
  const std::size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(n / 2), v.end());
  const double upper = v[n / 2];
  if (n % 2 == 1) return upper;
  return (*std::max_element(v.begin(), v.begin() + std::ptrdiff_t(n / 2)) + upper) / 2;
}

RobustScale robust_scale(const std::vector<double>& values) {
  std::vector<double> finite;
  for (double v : values)
    if (std::isfinite(v)) finite.push_back(v);
  if (finite.empty()) return {};
  RobustScale s;
  s.centre = median_of(finite);
  std::vector<double> deviation;
  double sum = 0;
  for (double v : finite) {
    deviation.push_back(std::fabs(v - s.centre));
    sum += deviation.back();
  }
  s.scale = 1.4826 * median_of(deviation);
  if (!(s.scale > 0)) s.scale = 1.2533 * sum / double(finite.size());
  return s;
}

enum class Side { Both, Low, High };

bool beyond(double z, double limit, Side side) {
  if (!std::isfinite(z)) return false;
  return side == Side::Low ? z < -limit : side == Side::High ? z > limit : std::fabs(z) > limit;
}

// One flag per name and scan: a second finding of the same kind extends the reason.
void add_flag(std::vector<Flag>& flags, const std::string& name, const std::string& reason) {
  const auto it = std::find_if(flags.begin(), flags.end(), [&](const Flag& f) { return f.name == name; });
  if (it == flags.end())
    flags.push_back({name, reason});
  else
    it->reason += "; " + reason;
}

double value_at(const std::map<std::string, std::vector<double>>& m, const std::string& name, std::size_t i) {
  const auto it = m.find(name);
  return it == m.end() ? kNaN : it->second[i];
}

void fixed_rules(const StoreData& d, std::size_t i, const FlagRules& rules, std::vector<Flag>& flags) {
  const double border = value_at(d.per_scan, "mask_border_share", i);
  if (border > rules.border_share)
    add_flag(flags, "fov_cut",
             fmt::format("{:.1f} % of the brain mask lies on the image border: the field of view cuts the brain",
                         100 * border));
  const double air = value_at(d.per_scan, "air_fraction", i);
  if (d.modality[i] == "MR" && air > rules.mr_max_air)
    add_flag(flags, "modality_mismatch",
             fmt::format("labelled MR, but {:.0f} % of the image is below -500, as air is on CT (HU)", 100 * air));
  if (d.modality[i] == "CT" && air < rules.ct_min_air)
    add_flag(flags, "modality_mismatch",
             fmt::format("labelled CT, but only {:.2f} % of the image is below -500: no air in Hounsfield units",
                         100 * air));
  const std::size_t regions = d.region_columns.size();
  for (std::size_t r = 0; r < regions; ++r) {
    const double components = value_at(d.per_region, "components", i * regions + r);
    if (components == 0) add_flag(flags, "missing_region", "no voxel labelled " + d.region_columns[r]);
    const double outside = value_at(d.per_region, "outside_largest_share", i * regions + r);
    if (outside > rules.fragment_share)
      add_flag(flags, "fragmented_region",
               fmt::format("{}: {:.0f} % of its voxels outside its largest component ({:.0f} pieces)",
                           d.region_columns[r], 100 * outside, components));
  }
}

/// A cohort rule: the robust z of one value per scan within the scan's modality.
struct OutlierRule {
  std::string flag, what;
  Side side;
  std::vector<double> values;  ///< per scan; NaN where not measured
  int digits;                  ///< decimals of the value in the reason
};

std::vector<OutlierRule> outlier_rules(const StoreData& d, bool with_reference) {
  const auto per_scan = [&](const char* name) {
    const auto it = d.per_scan.find(name);
    return it == d.per_scan.end() ? std::vector<double>(d.ids.size(), kNaN) : it->second;
  };
  std::vector<OutlierRule> rules = {
      {"confidence_outlier", "mean top probability", Side::Low, per_scan("mean_max_probability"), 3},
      {"confidence_outlier", "share of uncertain brain voxels", Side::High, per_scan("low_margin_fraction"), 3},
      {"strip_outlier", "brain share of the head", Side::Both, per_scan("brain_share_of_head"), 3},
      {"intensity_outlier", "median brain intensity", Side::Both, per_scan("brain_median"), 1},
      {"intensity_outlier", "tissue contrast-to-noise", Side::Both, per_scan("tissue_cnr"), 2},
  };
  if (with_reference) return rules;  // volumes are judged against the reference instead
  std::vector<double> log_icv;
  for (double v : d.icv_ml) log_icv.push_back(v > 0 ? std::log(v) : kNaN);
  rules.push_back({"icv_outlier", "ln ICV", Side::Both, log_icv, 2});
  // A region's share of the ICV varies far less with age than its volume does.
  const std::size_t regions = d.region_columns.size();
  for (std::size_t r = 0; r < regions; ++r) {
    std::vector<double> share;
    for (std::size_t i = 0; i < d.ids.size(); ++i)
      share.push_back(d.icv_ml[i] > 0 ? d.volume_ml[i * regions + r] / d.icv_ml[i] : kNaN);
    rules.push_back({"volume_outlier", d.region_columns[r] + " share of ICV", Side::Both, share, 4});
  }
  return rules;
}

void cohort_rules(const StoreData& d, const FlagRules& limits, bool with_reference,
                  std::vector<std::vector<Flag>>& flags, std::vector<std::string>& notes) {
  std::map<std::string, std::vector<std::size_t>> groups;  // ok scans by modality
  for (std::size_t i = 0; i < d.ids.size(); ++i)
    if (d.status[i] == io::ScanStatus::Ok) groups[d.modality[i]].push_back(i);
  const auto rules = outlier_rules(d, with_reference);
  for (const auto& [modality, rows] : groups) {
    if (rows.size() < limits.min_group) {
      notes.push_back(fmt::format("{} ok {} scans, fewer than {} (--min-group): no cohort outlier rules for them",
                                  rows.size(), modality, limits.min_group));
      continue;
    }
    for (const auto& rule : rules) {
      std::vector<double> values;
      for (std::size_t i : rows) values.push_back(rule.values[i]);
      const RobustScale scale = robust_scale(values);
      if (!scale.usable()) continue;
      for (std::size_t i : rows) {
        const double z = scale.z(rule.values[i]);
        if (beyond(z, limits.outlier_z, rule.side))
          add_flag(flags[i], rule.flag,
                   fmt::format("{} {:.{}f} ({} median {:.{}f}), robust z {:+.1f}", rule.what, rule.values[i],
                               rule.digits, modality, scale.centre, rule.digits, z));
      }
    }
  }
}

void reference_rules(const std::filesystem::path& store_path, const StoreData& d, const norms::NormativeModel& model,
                     double limit, std::vector<std::vector<Flag>>& flags, std::vector<std::string>& notes) {
  const norms::Cohort cohort = norms::load_cohort(store_path);
  const norms::Table scores = norms::score(cohort, model, limit, notes);
  std::map<std::string, std::size_t> row_of;
  for (std::size_t i = 0; i < d.ids.size(); ++i) row_of[d.ids[i]] = i;
  const std::size_t id = scores.column("scan_id"), measure = scores.column("measure"),
                    volume = scores.column("volume_ml"), expected = scores.column("expected_ml"),
                    z = scores.column("z");
  for (const auto& row : scores.rows) {
    const double zv = std::get<double>(row[z]);
    if (!(std::fabs(zv) > limit)) continue;
    add_flag(
        flags[row_of.at(std::get<std::string>(row[id]))], "norm_outlier",
        fmt::format("{} {:.1f} mL, expected {:.1f} mL for age and sex: z {:+.1f}", std::get<std::string>(row[measure]),
                    std::get<double>(row[volume]), std::get<double>(row[expected]), zv));
  }
}

// Tabs and line breaks would break the TSV row; an error message may hold either.
std::string one_line(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
  return text;
}

norms::Table qc_table(const StoreData& d, const std::vector<std::vector<Flag>>& flags) {
  norms::Table table{"qc", {"scan_id", "status", "modality", "icv_ml"}, {}};
  for (const auto& [name, values] : d.per_scan) table.header.push_back(name);
  const std::size_t regions = d.region_columns.size();
  for (const auto& r : d.region_columns) table.header.push_back("volume_ml_" + r);
  for (const auto& [name, values] : d.per_region)
    for (const auto& r : d.region_columns) table.header.push_back(name + "_" + r);
  table.header.insert(table.header.end(), {"flags", "reasons"});
  for (std::size_t i = 0; i < d.ids.size(); ++i) {
    std::vector<norms::Cell> row = {d.ids[i], io::status_name(d.status[i]), d.modality[i], d.icv_ml[i]};
    const auto number = [&row](double v) { row.emplace_back(std::in_place_type<double>, v); };
    for (const auto& [name, values] : d.per_scan) number(values[i]);
    for (std::size_t r = 0; r < regions; ++r) number(d.volume_ml[i * regions + r]);
    for (const auto& [name, values] : d.per_region)
      for (std::size_t r = 0; r < regions; ++r) number(values[i * regions + r]);
    std::string names, reasons;
    for (const auto& f : flags[i]) {
      names += (names.empty() ? "" : ",") + f.name;
      reasons += (reasons.empty() ? "" : " | ") + f.name + ": " + f.reason;
    }
    row.push_back(names);
    row.push_back(reasons);
    for (auto& cell : row)
      if (auto* text = std::get_if<std::string>(&cell)) *text = one_line(std::move(*text));
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace

Assessment assess(const io::CohortStore& store, const std::filesystem::path& store_path, const FlagRules& rules,
                  const norms::NormativeModel* reference) {
  const StoreData d = read_store(store, store_path);
  Assessment a;
  a.flags.resize(d.ids.size());
  for (std::size_t i = 0; i < d.ids.size(); ++i) {
    if (d.status[i] != io::ScanStatus::Ok) {
      add_flag(a.flags[i], io::status_name(d.status[i]),
               d.status[i] == io::ScanStatus::Failed ? one_line(d.error[i]) : "not processed yet");
      continue;
    }
    fixed_rules(d, i, rules, a.flags[i]);
  }
  cohort_rules(d, rules, reference != nullptr, a.flags, a.notes);
  if (reference) reference_rules(store_path, d, *reference, rules.reference_z, a.flags, a.notes);
  a.table = qc_table(d, a.flags);
  return a;
}

std::vector<std::pair<std::string, std::string>> read_flagged_scans(const std::filesystem::path& qc_tsv) {
  const io::TsvTable tsv = io::read_tsv(qc_tsv);
  const auto column = [&](const char* name) {
    const auto it = std::find(tsv.header.begin(), tsv.header.end(), name);
    if (it == tsv.header.end())
      throw Error(qc_tsv.string() + ": no column " + name + " (not a qc.tsv written by neurocohort qc)");
    return std::size_t(it - tsv.header.begin());
  };
  const std::size_t id = column("scan_id"), names = column("flags");
  std::vector<std::pair<std::string, std::string>> flagged;
  for (const auto& row : tsv.rows) {
    if (row.fields.size() != tsv.header.size())
      throw Error(fmt::format("{}:{}: {} fields, the header has {}", qc_tsv.string(), row.line, row.fields.size(),
                              tsv.header.size()));
    if (!row.fields[names].empty()) flagged.emplace_back(row.fields[id], row.fields[names]);
  }
  return flagged;
}

}  // namespace nc::qc
