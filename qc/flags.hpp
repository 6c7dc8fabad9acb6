#pragma once
/// \file
/// From a results file's QC measures to named flags with a one-line reason per scan: fixed
/// plausibility limits, robust outlier rules within each modality of the cohort, and, with a
/// normative reference, age- and sex-adjusted z-scores of the volumes. The rules and their
/// defaults are documented in docs/qc.md; `neurocohort qc` writes the result as qc.tsv.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"
#include "norms/normative_model.hpp"
#include "norms/table.hpp"

namespace nc::qc {

/// The thresholds of the rules (options of `neurocohort qc`).
struct FlagRules {
  double outlier_z = 3.5;        ///< robust |z| (median, 1.4826 · MAD) beyond which a scan is an outlier
  std::size_t min_group = 10;    ///< fewer ok scans of a modality: no cohort rules for it
  double border_share = 0.002;   ///< brain mask share on the border (inferior face excepted): fov_cut
  double fragment_share = 0.05;  ///< region share outside its largest component: fragmented_region
  double mr_max_air = 0.05;      ///< an MR scan with more of its image below -500: modality_mismatch
  double ct_min_air = 0.01;      ///< a CT scan with less of its image below -500 HU: modality_mismatch
  double reference_z = 3.5;      ///< |z| against --reference beyond which a volume is flagged
};

struct Flag {
  std::string name;    ///< e.g. fov_cut, volume_outlier (docs/qc.md lists them)
  std::string reason;  ///< one line, with the numbers that triggered it
};

/// Every scan of a results file with its QC measures and flags.
struct Assessment {
  norms::Table table;                    ///< qc.tsv: one row per scan, flags and reasons last
  std::vector<std::vector<Flag>> flags;  ///< per row of the results file
  std::vector<std::string> notes;        ///< rules that could not run, and why
};

/// \param reference a normative model (NORMS.h5), or null for cohort rules on the volumes
/// \throws Error when the store holds no QC measures (written before QC, or by another tool).
Assessment assess(const io::CohortStore& store, const std::filesystem::path& store_path, const FlagRules& rules,
                  const norms::NormativeModel* reference);

/// The scan ids qc.tsv flags (a non-empty `flags` cell), with their flag names, for
/// `norms build --qc`. \throws Error when the file is not a qc.tsv.
std::vector<std::pair<std::string, std::string>> read_flagged_scans(const std::filesystem::path& qc_tsv);

}  // namespace nc::qc
