#pragma once
/// \file
/// The normative model: per measure, the distribution of ln(volume) given age, sex and site,
/// fitted on the reference group, which turns a new scan's volume into a z-score and a
/// centile. Three families (`norms build --model`, docs/statistics.md has the formulas):
/// - gaussian: ln V = x'β + e, one residual spread, least squares;
/// - mixed: the same plus a random intercept per site, REML (norms/mixed_model.hpp);
/// - shash: location, log-scale and skew each a spline of age plus sex, a tail weight, and
///   the site random intercept in the location, maximum likelihood (norms/shash.hpp).
/// The design row x is the intercept, sex[M], age and the restricted cubic spline terms.

#include <Eigen/Dense>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/table_file.hpp"
#include "norms/analyses.hpp"
#include "norms/cohort.hpp"
#include "norms/shash.hpp"
#include "norms/table.hpp"

namespace nc::norms {

enum class ModelFamily { Gaussian, Mixed, Shash };
inline constexpr ModelFamily kModelFamilies[] = {ModelFamily::Gaussian, ModelFamily::Mixed, ModelFamily::Shash};
std::string family_name(ModelFamily family);
/// \throws Error for a name that is not a family
ModelFamily family_from_name(const std::string& name);
/// Whether the family models sites (mixed, shash).
inline bool has_site_effects(ModelFamily family) { return family != ModelFamily::Gaussian; }

/// One measure's fitted model. Every family predicts a sinh-arcsinh distribution of ln V
/// (ε = 0, δ = 1, a normal one, for gaussian and mixed).
struct MeasureFit {
  Eigen::VectorXd location;          ///< β (gaussian, mixed) or a (shash)
  Eigen::MatrixXd location_inverse;  ///< (X'X)⁻¹ or (X'H⁻¹X)⁻¹: σ² times it is Cov(β); empty for shash
  double sigma = 0;                  ///< residual SD (gaussian, mixed)
  Eigen::VectorXd log_scale, skew;   ///< shash: ln σ and ε coefficients
  double log_tail = 0;               ///< shash: ln δ
  double site_sd = 0;                ///< τ; 0 without site effects
  Eigen::VectorXd site_effect, site_variance, site_n;  ///< per site of the model
  double log_likelihood = 0;  ///< at the optimum: ML (gaussian, shash without the penalty), REML (mixed)
  double n = 0, age_min = 0, age_max = 0;

  /// \param site the model's site index, or −1 for a site the model does not know (its
  ///   effect then is a fresh draw: the Gaussian families add τ² to the spread, shash uses 0)
  Shash predict(ModelFamily family, const Eigen::VectorXd& x, long site) const;
};

struct NormativeModel {
  ModelFamily family = ModelFamily::Gaussian;
  std::vector<double> knots;
  std::vector<std::string> measures;
  std::vector<std::string> sites;  ///< empty when the model has no site effects
  std::vector<MeasureFit> fits;    ///< one per measure

  std::size_t parameters() const { return knots.size() + 1; }
  Eigen::VectorXd design_row(double age, bool male) const;
  /// −1 when the site is not one of the model's.
  long site_index(const std::string& site) const;
  Shash predict(std::size_t measure, double age, bool male, long site) const;
};

/// Fits one measure; nullopt with `why` set when it cannot be fitted (too few scans, a
/// constant volume, a collinear design, an optimiser that did not converge).
/// \param warm a fit of the same family on similar data (another cross-validation fold), whose
///   shash parameters start the optimiser; nullptr: start from the Gaussian fit.
std::optional<MeasureFit> fit_measure(ModelFamily family, const Design& design, std::string& why,
                                      const MeasureFit* warm = nullptr);

/// The rows of `rows` that have a positive, finite volume of measure `m` (and a site of the
/// model when it has sites), as a design; `used` receives those cohort rows.
Design measure_design(const NormativeModel& shape, const Cohort& cohort, const MeasureSet& measures, std::size_t m,
                      const std::vector<long>& rows, std::vector<long>* used = nullptr);

/// The sites a site model is fitted on: those with at least 2 reference scans (a note names
/// each one left out); empty, with a note, when fewer than two remain or there is no site column.
std::vector<std::string> reference_sites(const Cohort& cohort, const std::vector<long>& reference, Notes& notes);

/// Fits the model on the reference rows; nullopt (with a note) when it cannot be built at all.
std::optional<NormativeModel> fit_normative_model(const Cohort& cohort, const MeasureSet& measures,
                                                  const std::vector<long>& reference, int knots, ModelFamily family,
                                                  Notes& notes);

void write_normative_model(const NormativeModel& model, io::TableFile& file);
/// \throws Error when the file has no normative model.
NormativeModel read_normative_model(const io::TableFile& file, const std::filesystem::path& path);

/// site_effects.tsv: each site's estimated effect on ln V per measure, with its 95 % interval.
Table site_effects(const NormativeModel& model);

/// `norms adapt`: the model with one more site, whose effect per measure is predicted from
/// that site's control scans (the random effect's conditional mode, shrunk by τ²), without
/// refitting the reference. \throws Error for a gaussian model or a site it already has.
NormativeModel adapt_to_site(const NormativeModel& model, const Cohort& controls, const std::vector<long>& rows,
                             const std::string& site, Notes& notes);

/// scores.tsv: each scan's z-score and centile per measure the model has.
/// \throws Error when the cohort has a region the model does not know.
Table score(const Cohort& cohort, const NormativeModel& model, double threshold, Notes& notes);

}  // namespace nc::norms
