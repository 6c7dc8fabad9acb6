#include "norms/build.hpp"

namespace nc::norms {

NormsResult build_norms(const Cohort& cohort, const Cohort* compared, const AnalysisOptions& options, int knots) {
  NormsResult result;
  Notes& notes = result.notes;
  const auto measures = measures_of(cohort);
  auto adjustment = icv_adjustment(cohort, options, notes);
  result.tables.push_back(descriptives(cohort, measures, cohort.has_icv ? &adjustment : nullptr, options, notes));
  result.tables.push_back(std::move(adjustment.table));
  result.tables.push_back(regression(cohort, measures, options, notes));
  result.tables.push_back(asymmetry(cohort, notes));
  result.tables.push_back(group_comparison(cohort, options, notes));
  result.tables.push_back(dice_summary(cohort, notes));
  if (compared) result.tables.push_back(agreement(cohort, *compared, notes));
  result.reference = reference_rows(cohort, options.control_group);
  result.model = fit_normative_model(cohort, measures, result.reference, knots, notes);
  return result;
}

}  // namespace nc::norms
