// Unit tests of the normative model families' building blocks: the sinh-arcsinh distribution
// against numerical integration, the maximum-likelihood fit against planted parameters, and
// the sufficient-statistics REML against the dense-matrix REML criterion. Agreement with
// statsmodels and scipy on a planted cohort is checked by check_normative_models.py.
#include <gtest/gtest.h>

#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <boost/math/tools/minima.hpp>
#include <cmath>
#include <functional>
#include <random>

#include "norms/mixed_model.hpp"
#include "norms/shash.hpp"

namespace nc::norms {
namespace {

double integrate(const std::function<double(double)>& f, double from, double to) {
  return boost::math::quadrature::gauss_kronrod<double, 61>::integrate(f, from, to, 15, 1e-12);
}

TEST(Shash, DensityMomentsAndZAgreeWithIntegration) {
  for (const Shash s : {Shash{1.5, 0.3, 0.0, 1.0}, Shash{-2, 0.7, 0.8, 1.0}, Shash{0.2, 1.4, -0.5, 0.7},
                        Shash{3, 0.05, 1.2, 1.6}}) {
    const double from = s.at_z(-12), to = s.at_z(12);
    const auto density = [&](double x) { return std::exp(s.log_density(x)); };
    EXPECT_NEAR(integrate(density, from, to), 1.0, 1e-9);
    const double mean = integrate([&](double x) { return x * density(x); }, from, to);
    const double variance = integrate([&](double x) { return (x - mean) * (x - mean) * density(x); }, from, to);
    EXPECT_NEAR(s.mean(), mean, 1e-8 * (1 + std::fabs(mean)));
    EXPECT_NEAR(s.variance(), variance, 1e-8 * variance);
    for (double z : {-2.5, -0.3, 0.0, 1.1, 2.9}) {
      const double x = s.at_z(z);
      EXPECT_NEAR(s.z(x), z, 1e-12);
      // F(x) = Φ(z): the z-score is the normal quantile of the distribution function
      EXPECT_NEAR(integrate(density, from, x), 0.5 * std::erfc(-z / std::sqrt(2.0)), 1e-9);
    }
  }
}

TEST(Shash, NormalCaseIsTheNormalDistribution) {
  const Shash s{2, 0.5, 0, 1};
  for (double x : {0.7, 2.0, 3.4}) {
    const double r = (x - 2) / 0.5;
    EXPECT_DOUBLE_EQ(s.z(x), r);
    EXPECT_NEAR(s.log_density(x), -0.5 * r * r - std::log(0.5 * std::sqrt(2 * M_PI)), 1e-14);
    EXPECT_NEAR(s.location_information(x), 1 / 0.25, 1e-12);
  }
}

TEST(Shash, LocationInformationIsTheCurvatureOfTheLogDensity) {
  const Shash s{0.4, 0.6, 0.9, 0.8};
  const double h = 1e-4;
  for (double x : {-1.0, 0.3, 0.5, 2.2}) {
    const auto at = [&](double shift) {
      Shash moved = s;
      moved.location += shift;
      return moved.log_density(x);
    };
    const double curvature = (at(h) - 2 * at(0) + at(-h)) / (h * h);
    EXPECT_NEAR(s.location_information(x), -curvature, 1e-5 * (1 + std::fabs(curvature)));
  }
}

// y = a'x + σ(x) sinh((asinh Z + ε(x))/δ) with planted coefficients and three site offsets.
Design planted_design(long n, std::mt19937_64& rng, const Eigen::Vector3d& a, const Eigen::Vector3d& b,
                      const Eigen::Vector3d& c, double delta, const std::vector<double>& offsets) {
  std::uniform_real_distribution<double> age(0.5, 11);
  std::normal_distribution<double> normal(0, 1);
  Design d;
  d.x.resize(n, 3);
  d.y.resize(n);
  d.sites = int(offsets.size());
  for (long i = 0; i < n; ++i) {
    d.x.row(i) << 1, double(i % 2), age(rng);
    const int g = int(i % long(offsets.size()));
    d.site.push_back(g);
    const Eigen::Vector3d x = d.x.row(i).transpose();
    const Shash s{a.dot(x) + offsets[std::size_t(g)], std::exp(b.dot(x)), c.dot(x), delta};
    d.y[i] = s.at_z(normal(rng));
  }
  return d;
}

TEST(ShashFit, RecoversPlantedLocationScaleSkewAndTail) {
  std::mt19937_64 rng(5);
  const Eigen::Vector3d a(6.0, 0.07, 0.03), b(std::log(0.08), 0.0, -0.06), c(0.9, 0.0, -0.05);
  const std::vector<double> offsets = {0.03, -0.02, -0.01};
  const Design d = planted_design(60000, rng, a, b, c, 1.2, offsets);
  ShashFit start;
  start.location = Eigen::Vector3d(d.y.mean(), 0, 0);
  start.log_scale = Eigen::Vector3d(std::log(0.1), 0, 0);
  start.site_effect = Eigen::VectorXd::Zero(3);
  const ShashFit fit = fit_shash(d, 0.02 * 0.02, start);
  ASSERT_TRUE(fit.ok()) << fit.why;
  EXPECT_NEAR(fit.location[1], a[1], 0.005);
  EXPECT_NEAR(fit.location[2], a[2], 0.002);
  EXPECT_NEAR(fit.log_scale[2], b[2], 0.01);
  EXPECT_NEAR(fit.skew[0], c[0], 0.1);
  EXPECT_NEAR(fit.skew[2], c[2], 0.015);
  EXPECT_NEAR(std::exp(fit.log_tail), 1.2, 0.06);
  // the intercept takes the offsets' mean; their differences are the site effects
  for (int g = 1; g < 3; ++g) {
    EXPECT_NEAR(fit.site_effect[g] - fit.site_effect[0], offsets[std::size_t(g)] - offsets[0], 0.003);
    EXPECT_GT(fit.site_variance[g], 0);
  }
  EXPECT_NEAR(fit.log_likelihood - fit.site_effect.squaredNorm() / (2 * 0.02 * 0.02), fit.penalised_log_likelihood,
              1e-9 * std::fabs(fit.log_likelihood));
}

// −2 ℓ_R from dense matrices: V = I + λZZ', profiled σ², for the comparison below.
double dense_minus_two_reml(const Design& d, double lambda) {
  const long n = d.x.rows(), p = d.x.cols();
  Eigen::MatrixXd v = Eigen::MatrixXd::Identity(n, n);
  for (long i = 0; i < n; ++i)
    for (long j = 0; j < n; ++j)
      if (d.site[std::size_t(i)] == d.site[std::size_t(j)]) v(i, j) += lambda;
  const Eigen::LDLT<Eigen::MatrixXd> v_ldlt(v);
  const Eigen::MatrixXd vx = v_ldlt.solve(d.x);
  const Eigen::MatrixXd gls = d.x.transpose() * vx;
  const Eigen::VectorXd beta = gls.ldlt().solve(vx.transpose() * d.y);
  const Eigen::VectorXd r = d.y - d.x * beta;
  const double sigma2 = r.dot(v_ldlt.solve(r)) / double(n - p);
  return double(n - p) * std::log(sigma2) + v_ldlt.vectorD().array().log().sum() +
         gls.ldlt().vectorD().array().log().sum();
}

TEST(RandomIntercept, SufficientStatisticsGiveTheDenseRemlOptimum) {
  std::mt19937_64 rng(9);
  const Design d = planted_design(240, rng, Eigen::Vector3d(5, 0.1, 0.02), Eigen::Vector3d(std::log(0.05), 0, 0),
                                  Eigen::Vector3d::Zero(), 1, {0.04, -0.03, 0.01, 0.06, -0.05, 0.0});
  const RandomInterceptFit fit = fit_random_intercept(d);
  ASSERT_TRUE(fit.ok()) << fit.why;
  const auto [log_lambda, value] = boost::math::tools::brent_find_minima(
      [&](double t) { return dense_minus_two_reml(d, std::exp(t)); }, -20.0, 10.0, 40);
  EXPECT_NEAR(std::log(fit.tau2 / fit.sigma2), log_lambda, 1e-5);
  EXPECT_GT(fit.tau2, 0);
  EXPECT_NEAR(fit.reml_log_likelihood, -0.5 * (value + double(d.x.rows() - 3) * (std::log(2 * M_PI) + 1)), 1e-6);
  // the predicted site effects sum, weighted, to about zero and follow the planted order
  EXPECT_GT(fit.site_effect[3], fit.site_effect[0]);
  EXPECT_LT(fit.site_effect[4], fit.site_effect[1]);
  for (int g = 0; g < 6; ++g) EXPECT_NEAR(fit.site_n[g], 40, 0);
}

TEST(RandomIntercept, NoSiteVarianceGivesLeastSquares) {
  std::mt19937_64 rng(2);
  const Design d = planted_design(300, rng, Eigen::Vector3d(5, 0.1, 0.02), Eigen::Vector3d(std::log(0.05), 0, 0),
                                  Eigen::Vector3d::Zero(), 1, {0, 0, 0, 0});
  const RandomInterceptFit fit = fit_random_intercept(d);
  ASSERT_TRUE(fit.ok()) << fit.why;
  const Eigen::VectorXd ols = d.x.colPivHouseholderQr().solve(d.y);
  if (fit.tau2 < 1e-10) {  // at the boundary, GLS is OLS
    EXPECT_LT((fit.beta - ols).cwiseAbs().maxCoeff(), 1e-8);
  } else {
    EXPECT_LT(fit.tau2, 0.1 * fit.sigma2);
  }
}

}  // namespace
}  // namespace nc::norms
