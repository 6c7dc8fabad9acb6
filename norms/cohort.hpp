#pragma once
/// \file
/// The cohort the statistics see: one row per successfully measured scan, its demographics
/// and a volume per measure, read from results files (the HDF5 contract) or volumes tables
/// (TSV: manifest columns plus one column per region, in mL), and pooled across inputs.

#include <Eigen/Dense>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nc::norms {

/// A region of the cohort's label table.
struct Measure {
  std::string name;
  std::string hemisphere;  ///< "L", "R" or "-"
  std::string pair_key;    ///< the name without its hemisphere marker: pairs left with right
};

struct Cohort {
  std::vector<std::string> scan_id, sex, group, site, modality;  ///< group/site/modality empty when absent
  /// The `subject` column (one child scanned twice keeps one subject), else the scan_id:
  /// cross-validation folds hold out whole subjects.
  std::vector<std::string> subject;
  std::vector<double> age, icv_ml;                               ///< icv_ml NaN when absent
  bool has_group = false, has_site = false, has_modality = false, has_icv = false;
  std::vector<Measure> regions;
  Eigen::MatrixXd volume_ml;            ///< scans × regions, NaN where not measured
  std::optional<Eigen::MatrixXd> dice;  ///< scans × regions, when an input had Dice
  std::vector<std::string> sources;     ///< the input files
  std::size_t skipped_scans = 0;        ///< rows not ok (failed or pending) in the inputs

  std::size_t size() const { return scan_id.size(); }
};

struct LoadOptions {
  /// Numeric TSV columns that are covariates, not regions.
  std::vector<std::string> exclude_columns;
};

/// Reads a results file (.h5) or a volumes table (anything else, read as TSV).
/// \throws Error naming the file (and line) and what is wrong.
Cohort load_cohort(const std::filesystem::path& path, const LoadOptions& options = {});

/// Pools cohorts with the same regions (in any order: the first input's order wins).
/// \throws Error when a region is missing from an input or a scan_id repeats.
Cohort pool(std::vector<Cohort> parts);

/// The cohort without the scans named in `scan_ids` (ids it does not hold are ignored).
Cohort without_scans(const Cohort& cohort, const std::vector<std::string>& scan_ids);

/// Hemisphere and pair key from a region name: `_L`/`_R` suffix, `Left-`/`Right-` or
/// `lh_`/`rh_` prefix; "-" and the name itself otherwise.
Measure measure_from_name(const std::string& name);

/// Index of the named region, or -1.
long region_index(const Cohort& cohort, const std::string& name);

}  // namespace nc::norms
