#pragma once
/// \file
/// The statistical building blocks of the normative analyses: least squares, correlation,
/// paired t-tests, summaries. Eigen does the linear algebra (column-pivoting QR), Boost.Math
/// the distributions. Every function reports what it cannot estimate through `why` instead
/// of returning NaN results.

#include <Eigen/Dense>

#include <string>
#include <vector>

namespace nc::norms {

/// An ordinary least-squares fit y = Xβ + ε.
struct OlsFit {
  Eigen::VectorXd beta, std_error, t, p;
  Eigen::MatrixXd xtx_inverse;  ///< (X'X)⁻¹: the coefficients' covariance is σ² times it
  double sigma2 = 0;            ///< residual variance SSR / (n − p)
  double r_squared = 0, adj_r_squared = 0;
  long n = 0, df_resid = 0;
  std::string why;  ///< empty when the fit succeeded; else what made it inestimable
  bool ok() const { return why.empty(); }
};

/// Fits OLS with the design X (an intercept column included by the caller). Inestimable
/// when there are no more rows than columns, the design is rank deficient, or y is constant.
OlsFit ols(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);

/// Two-sided p of Student's t with df degrees of freedom.
double t_two_sided_p(double t, double df);
/// The q-quantile of Student's t.
double t_quantile(double q, double df);
/// Φ(z), the standard normal CDF.
double normal_cdf(double z);
double bonferroni(double p, std::size_t comparisons);

struct Correlation {
  double r = 0, p = 1;
  std::string why;
  bool ok() const { return why.empty(); }
};
/// Pearson's r with the p of its t-test (n − 2 df), as scipy.stats.pearsonr.
Correlation pearson(const Eigen::VectorXd& x, const Eigen::VectorXd& y);
/// Spearman's ρ: Pearson's r of average ranks, p from t with n − 2 df (scipy.stats.spearmanr).
Correlation spearman(const Eigen::VectorXd& x, const Eigen::VectorXd& y);
/// Ranks 1..n, ties sharing their average rank.
Eigen::VectorXd average_ranks(const Eigen::VectorXd& x);

/// The paired t-test of a against b (scipy.stats.ttest_rel(a, b)).
struct PairedTest {
  long n = 0;
  double mean_a = 0, mean_b = 0, mean_difference = 0, sd_difference = 0;
  double t = 0, df = 0, p = 1, cohen_dz = 0;
  std::string why;
  bool ok() const { return why.empty(); }
};
PairedTest paired_t(const Eigen::VectorXd& a, const Eigen::VectorXd& b);

/// n, mean, SD (n − 1), median, min, max.
struct Summary {
  long n = 0;
  double mean = 0, sd = 0, median = 0, min = 0, max = 0;
};
/// \pre values.size() >= 2
Summary summarize(std::vector<double> values);

}  // namespace nc::norms
