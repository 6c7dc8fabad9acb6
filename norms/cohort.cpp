#include "norms/cohort.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_set>

#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "io/tsv.hpp"

namespace nc::norms {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Columns of the manifest and of the results record: never regions.
const std::set<std::string> kReservedColumns = {"scan_id", "image",  "modality", "age",    "sex",     "group", "site",
                                                "labels",  "status", "error",    "icv_ml", "seconds", "host",  "rank",
                                                "subject"};

bool is_missing(const std::string& field) {
  return field.empty() || field == "n/a" || field == "NA" || field == "NaN" || field == "nan";
}

// A number, NaN for a missing value, nullopt for text.
std::optional<double> parse_number(const std::string& field) {
  if (is_missing(field)) return kNaN;
  double value = 0;
  const char* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

void check_sex(const std::string& sex, const std::string& where) {
  if (sex != "M" && sex != "F") throw Error(where + ": sex must be M or F, not '" + sex + "'");
}

void check_age(double age, const std::string& where) {
  if (!std::isfinite(age) || age < 0 || age > 130) throw Error(where + ": age must be a number of years");
}

// A regional volume in mL: missing (NaN) or a finite, non-negative amount no brain comes near
// (1e6 mL is a thousand litres). Absurd values would otherwise reach the statistics, where
// they overflow into errors that name no scan.
constexpr double kMaxVolumeMl = 1e6;

double checked_volume(double ml, const std::string& where) {
  if (std::isnan(ml)) return ml;
  if (!std::isfinite(ml) || ml < 0 || ml > kMaxVolumeMl)
    throw Error(where + ": volume " + std::to_string(ml) + " mL is not a regional volume (0 to 1e6 mL)");
  return ml;
}

// Text of a /scans column that may have been stored as numbers (an all-numeric site code).
std::vector<std::string> read_as_text(const io::CohortStore& store, const std::string& column) {
  try {
    return store.read_text_column(column);
  } catch (const StoreError&) {
    std::vector<std::string> text;
    for (double v : store.read_number_column(column)) {
      if (std::isnan(v)) {
        text.emplace_back();
        continue;
      }
      char buffer[32];
      const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
      text.emplace_back(buffer, end);
    }
    return text;
  }
}

Cohort load_results(const fs::path& path) {
  const auto store = io::CohortStore::open(path, io::CohortStore::Mode::ReadOnly);
  const auto columns = store.scan_columns();
  const auto has = [&](const char* c) { return std::find(columns.begin(), columns.end(), c) != columns.end(); };
  for (const char* required : {"age", "sex"})
    if (!has(required)) throw Error(path.string() + ": /scans has no column " + required);
  const auto status = store.statuses();
  const auto age = store.read_number_column("age");
  const auto sex = read_as_text(store, "sex");
  const auto icv = has("icv_ml") ? store.read_number_column("icv_ml") : std::vector<double>(store.scan_count(), kNaN);
  const auto empty = std::vector<std::string>(store.scan_count());
  const auto group = has("group") ? read_as_text(store, "group") : empty;
  const auto site = has("site") ? read_as_text(store, "site") : empty;
  const auto modality = has("modality") ? read_as_text(store, "modality") : empty;
  const auto subject = has("subject") ? read_as_text(store, "subject") : store.scan_ids();
  const auto& metrics = store.metric_names();
  if (std::find(metrics.begin(), metrics.end(), "volume_ml") == metrics.end())
    throw Error(path.string() + ": the results have no /metrics/volume_ml");
  const bool has_dice = std::find(metrics.begin(), metrics.end(), "dice") != metrics.end();
  const auto volume = store.read_metric("volume_ml");
  const auto dice = has_dice ? store.read_metric("dice") : std::vector<double>{};

  Cohort c;
  c.sources = {path.string()};
  for (const auto& r : store.regions()) {
    Measure m = measure_from_name(r.name);
    if (!r.hemisphere.empty()) m.hemisphere = r.hemisphere;  // else as the name says
    c.regions.push_back(m);
  }
  const std::size_t regions = c.regions.size();
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < store.scan_count(); ++i) {
    if (status[i] != io::ScanStatus::Ok) {
      ++c.skipped_scans;
      continue;
    }
    const std::string where = path.string() + ": scan " + store.scan_ids()[i];
    check_sex(sex[i], where);
    check_age(age[i], where);
    rows.push_back(i);
  }
  c.volume_ml.resize(long(rows.size()), long(regions));
  if (has_dice) c.dice = Eigen::MatrixXd(long(rows.size()), long(regions));
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::size_t i = rows[k];
    c.scan_id.push_back(store.scan_ids()[i]);
    c.age.push_back(age[i]);
    c.sex.push_back(sex[i]);
    c.group.push_back(group[i]);
    c.site.push_back(site[i]);
    c.modality.push_back(modality[i]);
    c.subject.push_back(subject[i].empty() ? c.scan_id.back() : subject[i]);
    c.icv_ml.push_back(checked_volume(icv[i], path.string() + ": scan " + c.scan_id.back() + " icv_ml"));
    for (std::size_t r = 0; r < regions; ++r) {
      c.volume_ml(long(k), long(r)) =
          checked_volume(volume[i * regions + r], path.string() + ": scan " + c.scan_id.back());
      if (has_dice) (*c.dice)(long(k), long(r)) = dice[i * regions + r];
    }
  }
  c.has_group = has("group");
  c.has_site = has("site");
  c.has_modality = has("modality");
  c.has_icv = std::any_of(c.icv_ml.begin(), c.icv_ml.end(), [](double v) { return !std::isnan(v); });
  return c;
}

Cohort load_volumes_table(const fs::path& path, const LoadOptions& options) {
  const io::TsvTable table = io::read_tsv(path);
  const auto column = [&](const std::string& name) -> long {
    const auto it = std::find(table.header.begin(), table.header.end(), name);
    return it == table.header.end() ? -1 : long(it - table.header.begin());
  };
  for (const char* required : {"scan_id", "age", "sex"})
    if (column(required) < 0) throw Error(path.string() + ": the volumes table has no column " + required);
  for (const auto& row : table.rows)
    if (row.fields.size() != table.header.size())
      throw Error(path.string() + ":" + std::to_string(row.line) + ": " + std::to_string(row.fields.size()) +
                  " fields for " + std::to_string(table.header.size()) + " columns");

  // Regions: every numeric column that is neither reserved nor excluded.
  std::vector<long> region_columns;
  for (std::size_t j = 0; j < table.header.size(); ++j) {
    const std::string& name = table.header[j];
    if (kReservedColumns.count(name) || std::find(options.exclude_columns.begin(), options.exclude_columns.end(),
                                                  name) != options.exclude_columns.end())
      continue;
    const bool numeric = std::all_of(table.rows.begin(), table.rows.end(),
                                     [&](const io::TsvRow& row) { return parse_number(row.fields[j]).has_value(); });
    if (numeric) region_columns.push_back(long(j));
  }
  if (region_columns.empty()) throw Error(path.string() + ": no region columns (numeric columns of volumes in mL)");

  Cohort c;
  c.sources = {path.string()};
  for (long j : region_columns) c.regions.push_back(measure_from_name(table.header[std::size_t(j)]));
  const long status = column("status"), group = column("group"), site = column("site"), modality = column("modality"),
             icv = column("icv_ml"), subject = column("subject");
  std::vector<const io::TsvRow*> rows;
  for (const auto& row : table.rows) {
    if (status >= 0 && row.fields[std::size_t(status)] != "ok") {
      ++c.skipped_scans;
      continue;
    }
    rows.push_back(&row);
  }
  c.volume_ml.resize(long(rows.size()), long(region_columns.size()));
  const auto field = [](const io::TsvRow& row, long j) { return j < 0 ? std::string() : row.fields[std::size_t(j)]; };
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const io::TsvRow& row = *rows[k];
    const std::string where = path.string() + ":" + std::to_string(row.line);
    const auto age = parse_number(field(row, column("age")));
    check_age(age.value_or(kNaN), where);
    check_sex(field(row, column("sex")), where);
    c.scan_id.push_back(field(row, column("scan_id")));
    c.age.push_back(*age);
    c.sex.push_back(field(row, column("sex")));
    c.group.push_back(field(row, group));
    c.site.push_back(field(row, site));
    c.modality.push_back(field(row, modality));
    c.subject.push_back(field(row, subject).empty() ? c.scan_id.back() : field(row, subject));
    const auto icv_value = icv >= 0 ? parse_number(field(row, icv)) : std::optional<double>(kNaN);
    if (!icv_value) throw Error(where + ": icv_ml is not a number");
    c.icv_ml.push_back(checked_volume(*icv_value, where + " icv_ml"));
    for (std::size_t r = 0; r < region_columns.size(); ++r)
      c.volume_ml(long(k), long(r)) = checked_volume(*parse_number(row.fields[std::size_t(region_columns[r])]), where);
  }
  c.has_group = group >= 0;
  c.has_site = site >= 0;
  c.has_modality = modality >= 0;
  c.has_icv = std::any_of(c.icv_ml.begin(), c.icv_ml.end(), [](double v) { return !std::isnan(v); });
  return c;
}

bool is_hdf5(const fs::path& path) {
  static constexpr char kSignature[] = "\x89HDF\r\n\x1a\n";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(path.string() + ": cannot open the file");
  char head[8] = {};
  const std::size_t got = std::fread(head, 1, 8, f);
  std::fclose(f);
  return got == 8 && std::equal(head, head + 8, kSignature);
}

}  // namespace

Measure measure_from_name(const std::string& name) {
  const auto ends_with = [&](const char* s) {
    const std::size_t n = std::char_traits<char>::length(s);
    return name.size() > n && name.compare(name.size() - n, n, s) == 0;
  };
  const auto starts_with = [&](const char* s) {
    return name.size() > std::char_traits<char>::length(s) && name.rfind(s, 0) == 0;
  };
  if (ends_with("_L")) return {name, "L", name.substr(0, name.size() - 2)};
  if (ends_with("_R")) return {name, "R", name.substr(0, name.size() - 2)};
  if (starts_with("Left-")) return {name, "L", name.substr(5)};
  if (starts_with("Right-")) return {name, "R", name.substr(6)};
  if (starts_with("lh_")) return {name, "L", name.substr(3)};
  if (starts_with("rh_")) return {name, "R", name.substr(3)};
  return {name, "-", name};
}

long region_index(const Cohort& cohort, const std::string& name) {
  for (std::size_t r = 0; r < cohort.regions.size(); ++r)
    if (cohort.regions[r].name == name) return long(r);
  return -1;
}

Cohort load_cohort(const fs::path& path, const LoadOptions& options) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(path.string() + ": file not found");
  Cohort c = is_hdf5(path) ? load_results(path) : load_volumes_table(path, options);
  if (c.size() == 0) throw Error(path.string() + ": no successfully measured scans");
  return c;
}

Cohort without_scans(const Cohort& cohort, const std::vector<std::string>& scan_ids) {
  const std::unordered_set<std::string> drop(scan_ids.begin(), scan_ids.end());
  std::vector<long> keep;
  for (std::size_t i = 0; i < cohort.size(); ++i)
    if (!drop.count(cohort.scan_id[i])) keep.push_back(long(i));
  Cohort out = cohort;
  const auto pick = [&](auto& column) {
    if (column.empty()) return;
    auto all = std::move(column);
    column.clear();
    for (long i : keep) column.push_back(all[std::size_t(i)]);
  };
  pick(out.scan_id);
  pick(out.sex);
  pick(out.group);
  pick(out.site);
  pick(out.modality);
  pick(out.subject);
  pick(out.age);
  pick(out.icv_ml);
  out.volume_ml = cohort.volume_ml(keep, Eigen::all);
  if (cohort.dice) out.dice = Eigen::MatrixXd((*cohort.dice)(keep, Eigen::all));
  return out;
}

Cohort pool(std::vector<Cohort> parts) {
  if (parts.empty()) throw Error("no inputs to pool");
  Cohort all = std::move(parts.front());
  std::unordered_set<std::string> seen(all.scan_id.begin(), all.scan_id.end());
  if (seen.size() != all.scan_id.size()) {
    std::unordered_set<std::string> once;
    for (const auto& id : all.scan_id)
      if (!once.insert(id).second) throw Error(all.sources.front() + ": scan_id " + id + " appears twice");
  }
  for (std::size_t p = 1; p < parts.size(); ++p) {
    Cohort& part = parts[p];
    const std::string& source = part.sources.front();
    // Map the part's regions onto the pooled order, by name.
    std::vector<long> to_part;
    for (const auto& r : all.regions) {
      const long j = region_index(part, r.name);
      if (j < 0) throw Error(source + " has no region " + r.name + " (which " + all.sources.front() + " has)");
      to_part.push_back(j);
    }
    for (const auto& r : part.regions)
      if (region_index(all, r.name) < 0)
        throw Error(source + " has region " + r.name + ", which " + all.sources.front() + " lacks");
    for (const auto& id : part.scan_id)
      if (!seen.insert(id).second) throw Error(source + ": scan_id " + id + " is also in another input");

    const long old_rows = long(all.size()), rows = long(part.size()), regions = long(all.regions.size());
    all.volume_ml.conservativeResize(old_rows + rows, regions);
    if (all.dice || part.dice) {
      Eigen::MatrixXd dice = Eigen::MatrixXd::Constant(old_rows + rows, regions, kNaN);
      if (all.dice) dice.topRows(old_rows) = *all.dice;
      all.dice = std::move(dice);
    }
    for (long r = 0; r < regions; ++r) {
      all.volume_ml.block(old_rows, r, rows, 1) = part.volume_ml.col(to_part[std::size_t(r)]);
      if (part.dice) all.dice->block(old_rows, r, rows, 1) = part.dice->col(to_part[std::size_t(r)]);
    }
    const auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
    append(all.scan_id, part.scan_id);
    append(all.sex, part.sex);
    append(all.group, part.group);
    append(all.site, part.site);
    append(all.modality, part.modality);
    append(all.subject, part.subject);
    append(all.age, part.age);
    append(all.icv_ml, part.icv_ml);
    append(all.sources, part.sources);
    all.has_group = all.has_group || part.has_group;
    all.has_site = all.has_site || part.has_site;
    all.has_modality = all.has_modality || part.has_modality;
    all.has_icv = all.has_icv || part.has_icv;
    all.skipped_scans += part.skipped_scans;
  }
  return all;
}

}  // namespace nc::norms
