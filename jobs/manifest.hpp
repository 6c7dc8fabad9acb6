#pragma once
/// \file
/// The cohort manifest: a TSV with columns scan_id, image, modality (CT|MR), age (years),
/// sex (M|F), optionally group, site, labels; any other column is carried through as a
/// covariate. Paths are relative to the manifest's folder.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::jobs {

enum class Modality { CT, MR };
enum class Sex { M, F };

const char* to_string(Modality modality);
const char* to_string(Sex sex);

struct ManifestOptions {
  /// Accept image and label paths outside the manifest's folder tree.
  bool allow_external_paths = false;
  /// Check that every image and label path exists (turned off only by tests of parsing).
  bool check_files = true;
};

/// One validated manifest row.
struct ScanEntry {
  std::size_t line = 0;  ///< line number in the manifest
  std::string scan_id;
  std::filesystem::path image;  ///< absolute, normalised
  Modality modality = Modality::CT;
  double age_years = 0;
  Sex sex = Sex::M;
  std::string group;
  std::string site;
  std::optional<std::filesystem::path> labels;  ///< ground-truth label map, absolute
};

struct Manifest {
  std::filesystem::path path;
  std::vector<std::string> columns;               ///< header, in file order
  std::vector<std::vector<std::string>> values;   ///< per scan, one text per column
  std::vector<ScanEntry> scans;

  /// The manifest as /scans columns of the cohort store: age and every covariate whose
  /// values are all numbers (or empty) become numbers, the rest stay text.
  std::vector<io::TableColumn> table_columns() const;
};

/// Reads and validates a manifest, collecting every problem before giving up.
/// \throws ManifestError listing each problem as "MANIFEST:LINE: reason", one per line.
Manifest load_manifest(const std::filesystem::path& path, const ManifestOptions& options = {});

}  // namespace nc::jobs
