#pragma once
/// \file
/// The cohort analyses of `norms build` and `agree`, each producing one table of
/// docs/statistics.md. Measures (the regions, then `icv` when the cohort has it) are
/// analysed in parallel; whatever cannot be estimated is left out of the table and
/// explained in `notes`, one line each.

#include <string>
#include <vector>

#include "norms/cohort.hpp"
#include "norms/table.hpp"

namespace nc::norms {

struct AnalysisOptions {
  std::string control_group = "control";
  std::vector<double> age_bands = {2, 6};  ///< upper edges: ≤ 2, (2, 6], > 6
  bool log_volume = false;                 ///< regression on ln(volume)
  bool log_age = false;                    ///< regression on ln(age)
  double alpha = 0.05;
};

/// Explanations of what was skipped, in measure order.
using Notes = std::vector<std::string>;

/// The measures analysed: regions, then `icv` when present (scans × measures, NaN missing).
struct MeasureSet {
  std::vector<std::string> names;
  Eigen::MatrixXd values;
  std::size_t regions = 0;  ///< the first `regions` measures are regions
};
MeasureSet measures_of(const Cohort& cohort);

/// V_adj = V − β (ICV − mean ICV) per region, β and mean ICV from the reference group.
struct IcvAdjustment {
  std::vector<double> beta, mean_icv;  ///< per region; NaN where inestimable
  Table table;
};
IcvAdjustment icv_adjustment(const Cohort& cohort, const AnalysisOptions& options, Notes& notes);

Table descriptives(const Cohort& cohort, const MeasureSet& measures, const IcvAdjustment* adjustment,
                   const AnalysisOptions& options, Notes& notes);
Table regression(const Cohort& cohort, const MeasureSet& measures, const AnalysisOptions& options, Notes& notes);
Table asymmetry(const Cohort& cohort, Notes& notes);
Table group_comparison(const Cohort& cohort, const AnalysisOptions& options, Notes& notes);
/// Empty (no rows) when the cohort has no Dice.
Table dice_summary(const Cohort& cohort, Notes& notes);
/// Scans of a and b matched by scan_id, per measure both have.
Table agreement(const Cohort& a, const Cohort& b, Notes& notes);

/// The rows of the reference group: the control group when the cohort has one, else all.
std::vector<long> reference_rows(const Cohort& cohort, const std::string& control_group);

}  // namespace nc::norms
