#pragma once
/// \file
/// Everything `norms build` computes from a cohort: the tables of docs/statistics.md in their
/// fixed order and the normative model.

#include <optional>
#include <vector>

#include "norms/analyses.hpp"
#include "norms/normative_model.hpp"

namespace nc::norms {

struct NormsResult {
  std::vector<Table> tables;  ///< descriptives, icv_adjustment, regression, asymmetry, group_comparison,
                              ///< dice_summary, then agreement when a comparison was given
  std::optional<NormativeModel> model;
  std::vector<long> reference;  ///< rows of the reference group
  Notes notes;
};

/// \param compared the same scans measured another way (agreement), or nullptr
NormsResult build_norms(const Cohort& cohort, const Cohort* compared, const AnalysisOptions& options, int knots);

}  // namespace nc::norms
