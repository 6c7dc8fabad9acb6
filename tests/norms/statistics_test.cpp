// Unit tests of the statistical building blocks: exact answers on constructed data and the
// inestimable cases that must be reported, never returned as numbers. Agreement with
// statsmodels and scipy on realistic data is checked by check_norms.py.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "norms/spline.hpp"
#include "norms/statistics.hpp"

namespace nc::norms {
namespace {

TEST(Ols, RecoversAnExactLinearModel) {
  Eigen::MatrixXd x(6, 3);
  Eigen::VectorXd y(6);
  for (int i = 0; i < 6; ++i) {
    x.row(i) << 1, i, (i % 2);
    y[i] = 2 + 0.5 * i - 3 * (i % 2) + (i == 2 ? 0.01 : 0);  // a small residual keeps σ > 0
  }
  const OlsFit fit = ols(x, y);
  ASSERT_TRUE(fit.ok()) << fit.why;
  EXPECT_NEAR(fit.beta[0], 2, 0.02);
  EXPECT_NEAR(fit.beta[1], 0.5, 0.01);
  EXPECT_NEAR(fit.beta[2], -3, 0.02);
  EXPECT_EQ(fit.df_resid, 3);
  EXPECT_GT(fit.r_squared, 0.99);
  // (X'X)⁻¹ from the QR factors equals the direct inverse.
  const Eigen::MatrixXd direct = (x.transpose() * x).inverse();
  EXPECT_LT((fit.xtx_inverse - direct).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Ols, ReportsWhatCannotBeEstimated) {
  Eigen::MatrixXd x(3, 3);
  x << 1, 0, 1, 1, 1, 0, 1, 2, 1;
  EXPECT_NE(ols(x, Eigen::Vector3d(1, 2, 3)).why.find("3 scans for 3 parameters"), std::string::npos);

  Eigen::MatrixXd collinear(5, 3);
  for (int i = 0; i < 5; ++i) collinear.row(i) << 1, i, 2 * i;
  EXPECT_NE(ols(collinear, Eigen::VectorXd::LinSpaced(5, 0, 1)).why.find("collinear"), std::string::npos);

  Eigen::MatrixXd line(5, 2);
  for (int i = 0; i < 5; ++i) line.row(i) << 1, i;
  EXPECT_NE(ols(line, Eigen::VectorXd::Constant(5, 7)).why.find("constant"), std::string::npos);
}

TEST(Ranks, TiesShareTheirAverageRank) {
  const Eigen::VectorXd ranks = average_ranks(Eigen::Vector4d(10, 20, 10, 5));
  EXPECT_DOUBLE_EQ(ranks[0], 2.5);
  EXPECT_DOUBLE_EQ(ranks[1], 4);
  EXPECT_DOUBLE_EQ(ranks[2], 2.5);
  EXPECT_DOUBLE_EQ(ranks[3], 1);
}

TEST(Correlation, PerfectMonotoneAndDegenerate) {
  const Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(10, 1, 10);
  const Correlation rho = spearman(x, x.array().exp());
  ASSERT_TRUE(rho.ok());
  EXPECT_DOUBLE_EQ(rho.r, 1);
  EXPECT_EQ(rho.p, 0);
  EXPECT_FALSE(pearson(x, Eigen::VectorXd::Constant(10, 3)).ok());
  EXPECT_FALSE(pearson(Eigen::Vector2d(1, 2), Eigen::Vector2d(1, 2)).ok());
}

TEST(PairedT, MatchesTheDefinition) {
  const Eigen::Vector4d a(10, 12, 9, 14), b(9, 10, 9, 11);
  const PairedTest t = paired_t(a, b);  // differences 1, 2, 0, 3: mean 1.5, SD √(5/3)
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t.mean_difference, 1.5);
  EXPECT_NEAR(t.sd_difference, std::sqrt(5.0 / 3.0), 1e-15);
  EXPECT_NEAR(t.t, 1.5 / (std::sqrt(5.0 / 3.0) / 2), 1e-12);
  EXPECT_EQ(t.df, 3);
  EXPECT_NEAR(t.cohen_dz, 1.5 / std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_FALSE(paired_t(a, a).ok());  // all differences zero
}

TEST(Distributions, KnownQuantiles) {
  // scipy.stats.t.ppf(0.975, 10); Boost's quantile agrees to about 1e-11.
  EXPECT_NEAR(t_quantile(0.975, 10), 2.2281388519649385, 1e-9);
  EXPECT_NEAR(t_two_sided_p(2.2281388519649385, 10), 0.05, 1e-9);
  EXPECT_NEAR(normal_cdf(1.959963984540054), 0.975, 1e-12);
  EXPECT_DOUBLE_EQ(bonferroni(0.2, 10), 1);
}

TEST(Summary, MedianInterpolatesAndSdUsesNMinusOne) {
  const Summary s = summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.sd, std::sqrt(5.0 / 3.0), 1e-15);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 4);
}

TEST(Spline, LinearBeyondTheOuterKnotsAndSmoothInside) {
  std::vector<double> ages;
  for (int i = 0; i <= 100; ++i) ages.push_back(0.5 + 0.1 * i);
  const auto knots = spline_knots(ages, 4);
  ASSERT_EQ(knots.size(), 4u);
  EXPECT_NEAR(knots[0], 0.5 + 0.05 * 10, 1e-12);
  // Second differences vanish beyond the last knot (natural spline) and below the first.
  for (const double x : {knots[3] + 1, knots[0] - 2}) {
    const auto a = spline_basis(x - 0.5, knots), b = spline_basis(x, knots), c = spline_basis(x + 0.5, knots);
    for (std::size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(a[j] - 2 * b[j] + c[j], 0, 1e-12) << "column " << j;
  }
  // Inside the knots the cubic terms bend.
  const auto a = spline_basis(knots[1], knots), b = spline_basis(knots[1] + 0.5, knots),
             c = spline_basis(knots[1] + 1, knots);
  EXPECT_GT(std::fabs(a[1] - 2 * b[1] + c[1]), 1e-6);
}

TEST(Spline, CoincidentKnotsAreAnError) {
  EXPECT_THROW(spline_knots(std::vector<double>(50, 3.0), 4), Error);
  EXPECT_THROW(spline_knots({1, 2, 3, 4, 5}, 2), Error);
}

}  // namespace
}  // namespace nc::norms
