#pragma once
/// \file
/// Everything `norms build` computes from a cohort: the tables of docs/statistics.md in their
/// fixed order, the normative model and its cross-validated calibration.

#include <optional>
#include <string>
#include <vector>

#include "norms/analyses.hpp"
#include "norms/calibration.hpp"
#include "norms/normative_model.hpp"

namespace nc::norms {

struct ModelOptions {
  int knots = 4;
  ModelFamily family = ModelFamily::Gaussian;
  CalibrationOptions calibration;
};

struct NormsResult {
  std::vector<Table> tables;  ///< descriptives, icv_adjustment, regression, asymmetry, group_comparison,
                              ///< dice_summary, agreement when a comparison was given, then site_effects,
                              ///< calibration and coverage when there are any
  std::optional<NormativeModel> model;
  std::vector<long> reference;  ///< rows of the reference group
  std::string verdict;          ///< which model family fitted better (empty without cross-validation)
  Notes notes;
};

/// \param compared the same scans measured another way (agreement), or nullptr
NormsResult build_norms(const Cohort& cohort, const Cohort* compared, const AnalysisOptions& options,
                        const ModelOptions& model_options);

}  // namespace nc::norms
