#include "jobs/manifest.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "dicom/series_reference.hpp"
#include "io/image_io.hpp"
#include "io/tsv.hpp"

namespace nc::jobs {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kRequiredColumns = {"scan_id", "image", "modality", "age", "sex"};
constexpr std::size_t kMaxReportedProblems = 50;

std::optional<double> parse_number(const std::string& text) {
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// scan_id names an HDF5 dataset (/labels/<scan_id>) and output files: keep it portable.
bool is_valid_scan_id(const std::string& id) {
  return !id.empty() && id != "." && id != ".." && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

bool is_within(const fs::path& path, const fs::path& folder) {
  const auto rel = path.lexically_relative(folder);
  return !rel.empty() && *rel.begin() != "..";
}

class Problems {
 public:
  explicit Problems(fs::path manifest) : manifest_(std::move(manifest)) {}
  void add(std::size_t line, const std::string& reason) {
    std::ostringstream out;
    out << manifest_.string() << ':' << line << ": " << reason;
    items_.push_back(out.str());
  }
  void throw_if_any() const {
    if (items_.empty()) return;
    std::ostringstream out;
    out << manifest_.string() << ": " << items_.size() << " problem" << (items_.size() == 1 ? "" : "s");
    for (std::size_t i = 0; i < std::min(items_.size(), kMaxReportedProblems); ++i) out << '\n' << items_[i];
    if (items_.size() > kMaxReportedProblems) out << "\n... and " << items_.size() - kMaxReportedProblems << " more";
    throw ManifestError(out.str());
  }

 private:
  fs::path manifest_;
  std::vector<std::string> items_;
};

// Resolves a manifest path against the manifest's folder and applies the containment rule.
std::optional<fs::path> resolve_path(const std::string& text, const std::string& column, const fs::path& folder,
                                     const ManifestOptions& options, std::size_t line, Problems& problems) {
  if (text.empty()) {
    problems.add(line, column + " is empty");
    return std::nullopt;
  }
  const fs::path resolved = (folder / fs::path(text)).lexically_normal();
  if (!options.allow_external_paths && !is_within(resolved, folder)) {
    problems.add(line, column + " '" + text + "' leaves the manifest's folder (use --allow-external-paths)");
    return std::nullopt;
  }
  if (!options.check_files) return resolved;
  std::error_code ec;
  // One series of a DICOM folder, "<folder>#<SeriesInstanceUID>": the folder must exist.
  const auto series = column == "image" ? dicom::parse_series_reference(resolved) : std::nullopt;
  const fs::path on_disk = series ? series->folder : resolved;
  const auto status = fs::status(on_disk, ec);
  if (!fs::exists(status)) {
    problems.add(line, column + " '" + text + "' does not exist");
    return std::nullopt;
  }
  // A FIFO or device would block every reader; a DICOM series is a folder.
  if (!fs::is_regular_file(status) && !fs::is_directory(status)) {
    problems.add(line, column + " '" + text + "' is not a regular file or a folder");
    return std::nullopt;
  }
  if (series && !fs::is_directory(status)) {
    problems.add(line, column + " '" + text + "' names a DICOM series, but its folder is not a folder");
    return std::nullopt;
  }
  if (!options.allow_external_paths && !io::resolves_within(on_disk, folder)) {
    problems.add(line, column + " '" + text +
                           "' is a link to a file outside the manifest's folder (use --allow-external-paths)");
    return std::nullopt;
  }
  return resolved;
}

}  // namespace

const char* to_string(Modality modality) { return modality == Modality::CT ? "CT" : "MR"; }
const char* to_string(Sex sex) { return sex == Sex::M ? "M" : "F"; }

Manifest load_manifest(const fs::path& path, const ManifestOptions& options) {
  io::TsvTable table;
  try {
    table = io::read_tsv(path);
  } catch (const Error& e) {
    throw ManifestError(e.what());
  }
  Manifest manifest;
  manifest.path = fs::absolute(path).lexically_normal();
  manifest.columns = table.header;
  const fs::path folder = manifest.path.parent_path();
  Problems problems(path);

  std::map<std::string, std::size_t> column_index;
  for (std::size_t c = 0; c < table.header.size(); ++c) {
    const auto& name = table.header[c];
    if (name.empty()) problems.add(1, "column " + std::to_string(c + 1) + " has no name");
    if (!column_index.emplace(name, c).second) problems.add(1, "column '" + name + "' appears twice");
  }
  for (const auto& required : kRequiredColumns)
    if (!column_index.count(required)) problems.add(1, "missing required column '" + required + "'");
  problems.throw_if_any();
  if (table.rows.empty()) {
    problems.add(1, "the manifest lists no scans");
    problems.throw_if_any();
  }

  const auto field = [&](const io::TsvRow& row, const std::string& column) -> std::string {
    const auto it = column_index.find(column);
    return it == column_index.end() ? std::string() : row.fields[it->second];
  };
  std::map<std::string, std::size_t> first_line_of_id;
  for (const auto& row : table.rows) {
    if (row.fields.size() != table.header.size()) {
      problems.add(row.line, std::to_string(row.fields.size()) + " fields, the header has " +
                                 std::to_string(table.header.size()));
      continue;
    }
    ScanEntry scan;
    bool valid = true;
    scan.line = row.line;
    scan.scan_id = field(row, "scan_id");
    if (!is_valid_scan_id(scan.scan_id)) {
      problems.add(row.line, "scan_id '" + scan.scan_id + "' must be non-empty letters, digits, '.', '_' or '-'");
      valid = false;
    } else if (const auto [it, inserted] = first_line_of_id.emplace(scan.scan_id, row.line); !inserted) {
      problems.add(row.line, "duplicate scan_id '" + scan.scan_id + "' (first on line " + std::to_string(it->second) + ")");
      valid = false;
    }
    const std::string modality = uppercase(field(row, "modality"));
    if (modality == "CT") scan.modality = Modality::CT;
    else if (modality == "MR") scan.modality = Modality::MR;
    else {
      problems.add(row.line, "unknown modality '" + field(row, "modality") + "' (CT or MR)");
      valid = false;
    }
    const std::string sex = uppercase(field(row, "sex"));
    if (sex == "M") scan.sex = Sex::M;
    else if (sex == "F") scan.sex = Sex::F;
    else {
      problems.add(row.line, "unknown sex '" + field(row, "sex") + "' (M or F)");
      valid = false;
    }
    const auto age = parse_number(field(row, "age"));
    if (!age || !std::isfinite(*age)) {
      problems.add(row.line, "age '" + field(row, "age") + "' is not a number");
      valid = false;
    } else if (*age < 0) {
      problems.add(row.line, "age " + field(row, "age") + " is negative");
      valid = false;
    } else {
      scan.age_years = *age;
    }
    scan.group = field(row, "group");
    scan.site = field(row, "site");
    if (auto image = resolve_path(field(row, "image"), "image", folder, options, row.line, problems))
      scan.image = *image;
    else
      valid = false;
    if (const std::string labels = field(row, "labels"); !labels.empty()) {
      if (auto resolved = resolve_path(labels, "labels", folder, options, row.line, problems))
        scan.labels = *resolved;
      else
        valid = false;
    }
    if (valid) {
      manifest.scans.push_back(std::move(scan));
      manifest.values.push_back(row.fields);
    }
  }
  problems.throw_if_any();
  return manifest;
}

std::vector<io::TableColumn> Manifest::table_columns() const {
  std::vector<io::TableColumn> table;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const std::string& name = columns[c];
    std::vector<std::string> text;
    text.reserve(values.size());
    for (const auto& row : values) text.push_back(row[c]);
    // Paths, ids and categories stay text even when they look numeric.
    const bool always_text = name == "scan_id" || name == "image" || name == "labels" || name == "modality" ||
                             name == "sex" || name == "group" || name == "site";
    const bool numeric = !always_text && std::all_of(text.begin(), text.end(), [](const std::string& v) {
      return v.empty() || parse_number(v).has_value();
    });
    if (!numeric) {
      // Normalised spellings, so that readers compare "CT" and "M" without case games.
      if (name == "modality" || name == "sex")
        for (auto& v : text) v = uppercase(v);
      table.push_back({name, std::move(text)});
      continue;
    }
    std::vector<double> numbers;
    numbers.reserve(text.size());
    for (const auto& v : text) numbers.push_back(v.empty() ? std::nan("") : *parse_number(v));
    table.push_back({name, std::move(numbers)});
  }
  return table;
}

}  // namespace nc::jobs
