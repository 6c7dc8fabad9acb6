#pragma once
/// \file
/// How well each normative model family fits, measured on scans it did not see: K-fold
/// cross-validation with whole subjects held out, and per measure and family the metrics of
/// PCNtoolkit's evaluation (docs/statistics.md): MSLL, explained variance, SMSE, the
/// Anderson–Darling statistic of the held-out z-scores against N(0, 1) and the mean absolute
/// centile error over centiles 1–99, all on ln(volume).

#include <string>
#include <vector>

#include "norms/analyses.hpp"
#include "norms/cohort.hpp"
#include "norms/normative_model.hpp"
#include "norms/table.hpp"

namespace nc::norms {

struct CalibrationOptions {
  int folds = 5;  ///< 0: no cross-validation
  /// Larger reference groups are cross-validated on an even sample of this many subjects:
  /// the metrics' sampling error is then already far below the differences between models.
  std::size_t max_subjects = 10000;
};

struct Calibration {
  Table calibration;  ///< measure, model, n, folds, msll, expv, smse, anderson_darling, mace
  Table coverage;     ///< model, centile, expected, observed: the held-out share below each centile
  std::string verdict;  ///< which family fitted better, in one sentence
};

/// Cross-validates `families` on the reference rows, for the measures and with the knots of
/// `model`; the site families with `sites` (reference_sites).
Calibration cross_validate(const Cohort& cohort, const MeasureSet& measures, const std::vector<long>& reference,
                           const NormativeModel& model, const std::vector<std::string>& sites,
                           const std::vector<ModelFamily>& families, const CalibrationOptions& options, Notes& notes);

}  // namespace nc::norms
