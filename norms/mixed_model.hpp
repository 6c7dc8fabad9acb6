#pragma once
/// \file
/// The linear mixed model with a random intercept per site, y = Xβ + u_site + e,
/// u ~ N(0, τ²), e ~ N(0, σ²), fitted by restricted maximum likelihood (REML) as
/// statsmodels' MixedLM does. With one random intercept the covariance of a site's rows is
/// σ²(I + λ11'), λ = τ²/σ², whose inverse is closed-form, so every quantity the REML
/// criterion needs comes from per-site sums of X and y: a fit costs one pass over the rows
/// and a one-dimensional search over λ (Boost.Math's Brent minimiser), whatever the cohort size.

#include <Eigen/Dense>

#include <string>
#include <vector>

#include "norms/shash.hpp"

namespace nc::norms {

struct RandomInterceptFit {
  Eigen::VectorXd beta;          ///< fixed effects (GLS at the REML λ)
  Eigen::MatrixXd gls_inverse;   ///< (X'H⁻¹X)⁻¹, H = I + λZZ': the fixed effects' covariance is σ² times it
  double sigma2 = 0, tau2 = 0;   ///< residual and site variance
  double reml_log_likelihood = 0;
  Eigen::VectorXd site_effect;   ///< the best linear unbiased predictions of u
  Eigen::VectorXd site_variance; ///< Var(u | y) = σ² λ / (1 + n_g λ), per site
  Eigen::VectorXd site_n;        ///< rows per site
  long n = 0;
  std::string why;  ///< empty when the fit succeeded
  bool ok() const { return why.empty(); }
};

/// \pre design.sites ≥ 2, every row's site in 0 … sites − 1
RandomInterceptFit fit_random_intercept(const Design& design);

}  // namespace nc::norms
