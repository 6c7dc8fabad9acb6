#include "norms/statistics.hpp"

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numeric>

#include "core/quantile.hpp"

namespace nc::norms {

OlsFit ols(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  OlsFit fit;
  const long n = x.rows(), p = x.cols();
  fit.n = n;
  fit.df_resid = n - p;
  if (n <= p) {
    fit.why = std::to_string(n) + " scans for " + std::to_string(p) + " parameters";
    return fit;
  }
  const double mean_y = y.mean();
  const double sst = (y.array() - mean_y).square().sum();
  if (!(sst > 0)) {
    fit.why = "the volume is constant";
    return fit;
  }
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(x);
  if (qr.rank() < p) {
    fit.why = "the design is collinear (a covariate is constant or duplicated)";
    return fit;
  }
  fit.beta = qr.solve(y);
  const double ssr = (y - x * fit.beta).squaredNorm();
  fit.sigma2 = ssr / double(fit.df_resid);
  // (X'X)⁻¹ = P R⁻¹ R⁻ᵀ Pᵀ from the QR factors: better conditioned than inverting X'X.
  const Eigen::MatrixXd r = qr.matrixR().topLeftCorner(p, p).triangularView<Eigen::Upper>();
  const Eigen::MatrixXd r_inverse = r.triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(p, p));
  const Eigen::MatrixXd permuted = r_inverse * r_inverse.transpose();
  const auto& perm = qr.colsPermutation();
  fit.xtx_inverse = perm * permuted * perm.transpose();
  fit.std_error = (fit.sigma2 * fit.xtx_inverse.diagonal().array()).sqrt();
  fit.t = fit.beta.array() / fit.std_error.array();
  fit.p = fit.t.unaryExpr([&](double t) { return t_two_sided_p(t, double(fit.df_resid)); });
  fit.r_squared = 1 - ssr / sst;
  fit.adj_r_squared = 1 - (1 - fit.r_squared) * double(n - 1) / double(fit.df_resid);
  return fit;
}

double t_two_sided_p(double t, double df) {
  if (std::isinf(t)) return 0;
  const boost::math::students_t dist(df);
  return 2 * boost::math::cdf(boost::math::complement(dist, std::fabs(t)));
}

double t_quantile(double q, double df) { return boost::math::quantile(boost::math::students_t(df), q); }

double normal_cdf(double z) { return boost::math::cdf(boost::math::normal(), z); }

double bonferroni(double p, std::size_t comparisons) { return std::min(1.0, p * double(comparisons)); }

Correlation pearson(const Eigen::VectorXd& x, const Eigen::VectorXd& y) {
  Correlation c;
  const long n = x.size();
  if (n < 3) {
    c.why = std::to_string(n) + " pairs (at least 3 needed)";
    return c;
  }
  const Eigen::ArrayXd dx = x.array() - x.mean(), dy = y.array() - y.mean();
  const double sxx = dx.square().sum(), syy = dy.square().sum();
  if (!(sxx > 0) || !(syy > 0)) {
    c.why = "a variable is constant";
    return c;
  }
  c.r = std::clamp((dx * dy).sum() / std::sqrt(sxx * syy), -1.0, 1.0);
  const double df = double(n - 2);
  c.p = std::fabs(c.r) == 1 ? 0 : t_two_sided_p(c.r * std::sqrt(df / ((1 - c.r) * (1 + c.r))), df);
  return c;
}

Eigen::VectorXd average_ranks(const Eigen::VectorXd& x) {
  const long n = x.size();
  std::vector<long> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0L);
  std::sort(order.begin(), order.end(), [&](long a, long b) { return x[a] < x[b]; });
  Eigen::VectorXd ranks(n);
  for (long i = 0; i < n;) {
    long j = i;
    while (j + 1 < n && x[order[j + 1]] == x[order[i]]) ++j;
    const double rank = 0.5 * double(i + j) + 1;  // ranks i+1 … j+1 share their mean
    for (long k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

Correlation spearman(const Eigen::VectorXd& x, const Eigen::VectorXd& y) {
  return pearson(average_ranks(x), average_ranks(y));
}

PairedTest paired_t(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  PairedTest test;
  test.n = a.size();
  if (test.n < 2) {
    test.why = std::to_string(test.n) + " pairs";
    return test;
  }
  const Eigen::ArrayXd d = a.array() - b.array();
  test.mean_a = a.mean();
  test.mean_b = b.mean();
  test.mean_difference = d.mean();
  test.sd_difference = std::sqrt((d - test.mean_difference).square().sum() / double(test.n - 1));
  if (!(test.sd_difference > 0)) {
    test.why = "the differences are constant";
    return test;
  }
  test.df = double(test.n - 1);
  test.t = test.mean_difference / (test.sd_difference / std::sqrt(double(test.n)));
  test.p = t_two_sided_p(test.t, test.df);
  test.cohen_dz = test.mean_difference / test.sd_difference;
  return test;
}

Summary summarize(std::vector<double> values) {
  Summary s;
  s.n = long(values.size());
  const auto [min, max] = std::minmax_element(values.begin(), values.end());
  s.min = *min;
  s.max = *max;
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(s.n);
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(ss / double(s.n - 1));
  s.median = quantile(std::move(values), 0.5);  // two order statistics, not a full sort
  return s;
}

}  // namespace nc::norms
