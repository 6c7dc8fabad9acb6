#include "norms/build.hpp"

namespace nc::norms {
namespace {

// The families the calibration compares: gaussian and shash always, mixed when there are
// sites to model (without them it is the gaussian model), and the one chosen.
std::vector<ModelFamily> compared_families(bool sites) {
  std::vector<ModelFamily> families{ModelFamily::Gaussian};
  if (sites) families.push_back(ModelFamily::Mixed);
  families.push_back(ModelFamily::Shash);
  return families;
}

}  // namespace

NormsResult build_norms(const Cohort& cohort, const Cohort* compared, const AnalysisOptions& options,
                        const ModelOptions& model_options) {
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
  result.model =
      fit_normative_model(cohort, measures, result.reference, model_options.knots, model_options.family, notes);
  if (!result.model) return result;
  if (!result.model->sites.empty()) result.tables.push_back(site_effects(*result.model));
  if (model_options.calibration.folds < 2) return result;
  Notes quiet;  // the site notes were given once by the fit
  const auto sites = reference_sites(cohort, result.reference, quiet);
  auto calibration = cross_validate(cohort, measures, result.reference, *result.model, sites,
                                    compared_families(!sites.empty()), model_options.calibration, notes);
  result.tables.push_back(std::move(calibration.calibration));
  result.tables.push_back(std::move(calibration.coverage));
  result.verdict = std::move(calibration.verdict);
  return result;
}

}  // namespace nc::norms
