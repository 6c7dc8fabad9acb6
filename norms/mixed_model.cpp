#include "norms/mixed_model.hpp"

#include <boost/math/tools/minima.hpp>
#include <cmath>

namespace nc::norms {
namespace {

// ln λ is searched in this range; below it the site variance is indistinguishable from 0.
constexpr double kMinLogRatio = -30, kMaxLogRatio = 15;

// Everything REML needs, summed once: X'X, X'y, y'y and, per site, the column sums of X, the
// sum of y and the row count. y is centred first (the intercept takes the shift back), so
// that y'y − … does not cancel away the residual's digits.
struct Sums {
  Eigen::MatrixXd xtx, site_x;  ///< p × p; p × sites
  Eigen::VectorXd xty, site_y, site_n;
  double yty = 0, shift = 0;
  long n = 0, p = 0;
};

Sums sums_of(const Design& d) {
  Sums s;
  s.n = d.x.rows();
  s.p = d.x.cols();
  s.shift = d.y.mean();
  const Eigen::VectorXd y = d.y.array() - s.shift;
  s.xtx = d.x.transpose() * d.x;
  s.xty = d.x.transpose() * y;
  s.yty = y.squaredNorm();
  s.site_x = Eigen::MatrixXd::Zero(s.p, d.sites);
  s.site_y = Eigen::VectorXd::Zero(d.sites);
  s.site_n = Eigen::VectorXd::Zero(d.sites);
  for (long i = 0; i < s.n; ++i) {
    const int g = d.site[std::size_t(i)];
    s.site_x.col(g) += d.x.row(i).transpose();
    s.site_y[g] += y[i];
    s.site_n[g] += 1;
  }
  return s;
}

// The REML fit at a fixed λ: GLS β, σ², and −2 ℓ_R without its constant.
struct AtRatio {
  Eigen::VectorXd weight, beta;  ///< w_g = λ / (1 + n_g λ)
  Eigen::MatrixXd gls;           ///< X'H⁻¹X
  double sigma2 = 0, minus_two_reml = 0, log_det_h = 0, log_det_gls = 0;
};

AtRatio at_ratio(const Sums& s, double lambda) {
  AtRatio a;
  a.weight = (lambda / (1 + s.site_n.array() * lambda)).matrix();
  a.gls = s.xtx - s.site_x * a.weight.asDiagonal() * s.site_x.transpose();
  const Eigen::VectorXd b = s.xty - s.site_x * (a.weight.array() * s.site_y.array()).matrix();
  const double c = s.yty - (a.weight.array() * s.site_y.array().square()).sum();
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(a.gls);
  a.beta = ldlt.solve(b);
  a.sigma2 = (c - a.beta.dot(b)) / double(s.n - s.p);
  a.log_det_h = (1 + s.site_n.array() * lambda).log().sum();
  a.log_det_gls = ldlt.vectorD().array().log().sum();
  a.minus_two_reml = double(s.n - s.p) * std::log(a.sigma2) + a.log_det_h + a.log_det_gls;
  return a;
}

}  // namespace

RandomInterceptFit fit_random_intercept(const Design& design) {
  RandomInterceptFit fit;
  const Sums s = sums_of(design);
  fit.n = s.n;
  if (s.n <= s.p + 1) {
    fit.why = std::to_string(s.n) + " scans for " + std::to_string(s.p) + " fixed effects and two variances";
    return fit;
  }
  const auto criterion = [&](double log_lambda) { return at_ratio(s, std::exp(log_lambda)).minus_two_reml; };
  const auto [log_lambda, value] =
      boost::math::tools::brent_find_minima(criterion, kMinLogRatio, kMaxLogRatio, std::numeric_limits<double>::digits);
  const double lambda = std::exp(log_lambda);
  const AtRatio a = at_ratio(s, lambda);
  if (!(a.sigma2 > 0) || !std::isfinite(value)) {
    fit.why = "the residual variance is not positive (the volume is constant within sites)";
    return fit;
  }
  fit.beta = a.beta;
  fit.beta[0] += s.shift;
  fit.gls_inverse = a.gls.ldlt().solve(Eigen::MatrixXd::Identity(s.p, s.p));
  fit.sigma2 = a.sigma2;
  fit.tau2 = lambda * a.sigma2;
  fit.reml_log_likelihood =
      -0.5 * (double(s.n - s.p) * (std::log(2 * M_PI * a.sigma2) + 1) + a.log_det_h + a.log_det_gls);
  // BLUP: u_g = w_g Σ_{i ∈ g} (y_i − x_i'β), with y centred as in the sums.
  fit.site_effect = (a.weight.array() * (s.site_y - s.site_x.transpose() * a.beta).array()).matrix();
  fit.site_variance = a.sigma2 * a.weight;
  fit.site_n = s.site_n;
  return fit;
}

}  // namespace nc::norms
