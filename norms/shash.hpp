#pragma once
/// \file
/// The sinh-arcsinh distribution of Jones & Pewsey (2009), the outcome of the `shash`
/// normative model: X = μ + σ sinh((asinh Z + ε) / δ) with Z standard normal. ε moves the
/// skew (ε > 0: a longer right tail), δ the tail weight (δ < 1: heavier tails than normal);
/// ε = 0, δ = 1 is the normal distribution N(μ, σ²). Its z-score Φ⁻¹(F(x)) and its quantiles
/// are closed forms, which is why it is used here rather than Box-Cox (LMS): the centile of a
/// volume needs no numerical inversion and the likelihood is defined for every real value.

#include <Eigen/Dense>

#include <string>
#include <vector>

namespace nc::norms {

struct Shash {
  double location = 0, scale = 1, skew = 0, tail = 1;

  /// Φ⁻¹(F(x)) = sinh(δ asinh((x − μ)/σ) − ε).
  double z(double x) const;
  /// The x whose z-score is z: μ + σ sinh((asinh z + ε)/δ).
  double at_z(double z) const;
  double log_density(double x) const;
  /// −∂² ln f(x) / ∂μ²: the information a value carries about the location.
  double location_information(double x) const;
  /// Moments, from Jones & Pewsey's Bessel-function expressions.
  double mean() const;
  double variance() const;
};

/// One measure's data for a fit: design rows (intercept, sex, age spline), ln(volume) and
/// each row's site (0 … sites − 1; all 0 when the model has no site effect).
struct Design {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  std::vector<int> site;
  int sites = 0;  ///< 0: no site effect
};

/// The maximum (penalised) likelihood fit of
///   y_i ~ SHASH(μ_i = x_i'a + u_site(i), log σ_i = x_i'b, ε_i = x_i'c, δ = e^d),
/// the site offsets u penalised as draws of N(0, τ²) (the random effect's joint mode, as
/// GAMLSS fits random effects), τ² given. NLopt's L-BFGS does the maximisation.
struct ShashFit {
  Eigen::VectorXd location, log_scale, skew;  ///< a, b, c (design columns)
  double log_tail = 0;                        ///< d = ln δ
  Eigen::VectorXd site_effect, site_variance;  ///< u and its conditional variance, per site
  double log_likelihood = 0;                  ///< Σ ln f(y_i), at the optimum
  double penalised_log_likelihood = 0;        ///< minus Σ u²/(2τ²)
  std::string why;  ///< empty when converged
  bool ok() const { return why.empty(); }
};

/// \param start location, log_scale and site effects (a Gaussian fit, whose residual SD
///   exp(log_scale[0]) also sets the optimiser's units), and skew and log_tail when they are
///   set (a nearby shash fit); otherwise the skew starts at 0 and the tail at 1.
/// \param site_variance τ², ignored when design.sites is 0; 0 fixes every u at 0.
ShashFit fit_shash(const Design& design, double site_variance, const ShashFit& start);

}  // namespace nc::norms
