#include "dicom/demographics.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/tsv.hpp"

namespace nc::dicom {
namespace {

constexpr double kDaysPerYear = 365.25;

double unit_days(char unit) {
  switch (unit) {
    case 'D':
      return 1;
    case 'W':
      return 7;
    case 'M':
      return kDaysPerYear / 12;
    case 'Y':
      return kDaysPerYear;
  }
  return 0;
}

// The distinct non-empty values of one field across the study's files.
template <typename Field>
std::set<std::string> distinct(const std::vector<const SliceHeader*>& slices, Field field) {
  std::set<std::string> values;
  for (const auto* s : slices)
    if (const std::string& v = field(*s); !v.empty()) values.insert(v);
  return values;
}

std::string joined(const std::set<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

std::string years(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v << " y";
  return s.str();
}

// One value of a field that must agree across files; records a problem when it does not.
template <typename Field>
std::string single_value(const std::vector<const SliceHeader*>& slices, Field field, const char* name,
                         std::vector<std::string>& problems) {
  const auto values = distinct(slices, field);
  if (values.size() > 1) {
    problems.push_back(std::string(name) + " differs between files (" + std::to_string(values.size()) + " values)");
    return {};
  }
  return values.empty() ? std::string() : *values.begin();
}

void resolve_age(const std::string& age_text, const std::string& birth, const std::string& study, Demographics& d) {
  const auto stated = age_text.empty() ? std::nullopt : parse_patient_age(age_text);
  if (!age_text.empty() && !stated)
    d.problems.push_back("PatientAge '" + age_text + "' is not nnnD, nnnW, nnnM or nnnY");
  std::optional<double> from_dates;
  if (!birth.empty() && !study.empty()) {
    const auto b = parse_dicom_date(birth), s = parse_dicom_date(study);
    if (!b || !s)
      d.problems.push_back("PatientBirthDate or StudyDate is not a valid date");
    else if (*s < *b)
      d.problems.push_back("StudyDate is before PatientBirthDate");
    else
      from_dates = double(*s - *b) / kDaysPerYear;
  }
  if (from_dates && stated) {
    // PatientAge counts completed units: the dates' age must fall within that unit.
    const double unit = unit_days(age_text.back()) / kDaysPerYear;
    const double units = *from_dates / unit;
    if (units < *stated / unit - 0.05 || units > *stated / unit + 1.05) {
      d.problems.push_back("PatientAge " + age_text + " contradicts the birth and study dates (" + years(*from_dates) +
                           ")");
      return;
    }
  }
  if (from_dates)
    d.age_years = from_dates;
  else if (stated)
    d.age_years = stated;
  else if (d.problems.empty())
    d.problems.push_back("no PatientAge, and no PatientBirthDate with StudyDate");
}

}  // namespace

std::optional<double> parse_patient_age(const std::string& text) {
  const std::string t = trim(text);
  if (t.size() != 4) return std::nullopt;
  int n = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + 3, n);
  if (ec != std::errc() || end != t.data() + 3 || n < 0) return std::nullopt;
  const double days = unit_days(t[3]);
  if (days == 0) return std::nullopt;
  return double(n) * days / kDaysPerYear;
}

std::optional<long> parse_dicom_date(const std::string& text) {
  const std::string t = trim(text);
  if (t.size() != 8) return std::nullopt;
  int y = 0, m = 0, d = 0;
  const auto digits = [&](int from, int count, int& out) {
    const auto [end, ec] = std::from_chars(t.data() + from, t.data() + from + count, out);
    return ec == std::errc() && end == t.data() + from + count;
  };
  if (!digits(0, 4, y) || !digits(4, 2, m) || !digits(6, 2, d)) return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1850 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1] || (m == 2 && d == 29 && !leap)) return std::nullopt;
  // Days from the civil date (Howard Hinnant's algorithm).
  const int yy = y - (m <= 2);
  const int era = yy / 400;
  const int yoe = yy - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return long(era) * 146097 + doe - 719468;
}

SiteMap read_site_map(const std::filesystem::path& path) {
  const io::TsvTable table = io::read_tsv(path);
  if (table.header.size() != 2) throw UsageError(path.string() + ": a site map has two columns (header value, site)");
  SiteMap map;
  for (const auto& row : table.rows) {
    if (row.fields.size() != 2)
      throw UsageError(path.string() + ":" + std::to_string(row.line) + ": expected two fields");
    map[row.fields[0]] = row.fields[1];
  }
  return map;
}

Demographics study_demographics(const std::vector<const SliceHeader*>& slices, const SiteMap* site_map) {
  Demographics d;
  const std::string sex = single_value(
      slices, [](const SliceHeader& s) -> const std::string& { return s.patient_sex; }, "PatientSex", d.problems);
  if (sex == "M" || sex == "F")
    d.sex = sex;
  else if (sex.empty() && d.problems.empty())
    d.problems.push_back("no PatientSex");
  else if (!sex.empty())
    d.problems.push_back("PatientSex '" + sex + "' is neither M nor F");
  const std::string age = single_value(
      slices, [](const SliceHeader& s) -> const std::string& { return s.patient_age; }, "PatientAge", d.problems);
  const std::string birth = single_value(
      slices, [](const SliceHeader& s) -> const std::string& { return s.birth_date; }, "PatientBirthDate", d.problems);
  const std::string study = single_value(
      slices, [](const SliceHeader& s) -> const std::string& { return s.study_date; }, "StudyDate", d.problems);
  resolve_age(age, birth, study, d);
  const auto sites = distinct(slices, [](const SliceHeader& s) -> const std::string& { return s.site; });
  if (sites.size() > 1)
    d.problems.push_back("the site field differs between files (" + joined(sites) + ")");
  else if (!sites.empty())
    d.site = *sites.begin();
  if (site_map && !d.site.empty()) {
    const auto it = site_map->find(d.site);
    if (it == site_map->end())
      d.problems.push_back("site '" + d.site + "' is not in the site map");
    else
      d.site = it->second;
  }
  return d;
}

}  // namespace nc::dicom
