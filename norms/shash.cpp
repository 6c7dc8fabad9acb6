#include "norms/shash.hpp"

#include <nlopt.h>

#include <algorithm>
#include <boost/math/special_functions/bessel.hpp>
#include <cmath>
#include <memory>

namespace nc::norms {
namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178;
// Past this |sinh-arcsinh argument| the density underflows: the parameters are far off.
constexpr double kMaxArgument = 300;
// Subsampled first fit: on cohorts larger than kSubsampleAbove rows, the optimiser first
// runs on about kSubsampleRows of them (every k-th row), then refines on all rows from there.
constexpr long kSubsampleAbove = 12000, kSubsampleRows = 5000;
// ln δ = kMaxLogTail · tanh(θ_d): the tail weight stays within [e^−2, e^2]. Beyond it a fit
// only chases a few extreme values (a cross-validation fold of a few hundred scans can push δ
// towards a two-point distribution), and held-out values then get absurd densities.
constexpr double kMaxLogTail = 2;
double log_tail_of(double theta_d) { return kMaxLogTail * std::tanh(theta_d); }

// Rows per pass of the vectorised likelihood: its workspace (16 arrays) stays in the L2 cache.
constexpr long kChunkRows = 2048;
// Converged when no gradient component of the mean negative log-likelihood exceeds this.
constexpr double kGradientTolerance = 1e-4;

// Jones & Pewsey's P_q = e^{1/4} / √(8π) · (K_{(q+1)/2}(1/4) + K_{(q−1)/2}(1/4)).
double bessel_moment(double q) {
  using boost::math::cyl_bessel_k;
  return std::exp(0.25) / std::sqrt(8 * M_PI) *
         (cyl_bessel_k((q + 1) / 2, 0.25) + cyl_bessel_k(std::fabs(q - 1) / 2, 0.25));
}

double sign_of(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }
Eigen::ArrayXd sign_of(const Eigen::ArrayXd& v) { return v.sign(); }

// The log density and its derivatives with respect to μ, ln σ, ε and ln δ, for one value
// (A = double) or for every row of a fit at once (A = Eigen::ArrayXd, whose exp and log
// Eigen vectorises): the formulas are written once for both. With r = (x − μ)/σ and
// h = δ asinh r − ε:
//   ln f = ln δ − ln σ − ½ ln(1 + r²) + ln cosh h − ½ sinh² h − ½ ln 2π.
// Each transcendental counts (this is most of a fit's time): asinh r from √(1 + r²), sinh and
// cosh from one exponential, −½ ln(1 + r²) + ln cosh h as one logarithm.
// For arrays the struct is a fit's workspace: kept across evaluations, so that its rows'
// memory is not allocated (and page-faulted) anew each time.
template <typename A>
struct Terms {
  A inverse_sigma, r, one_r2, s, asinh_r, h, e, sh, ch, dh, g_r;  ///< dh = ∂ ln f/∂h, g_r = ∂ ln f/∂r
  A log_f, d_location, d_log_scale, d_skew, d_log_tail;
};

template <typename A, typename X, typename L, typename S, typename K>
void compute_terms(Terms<A>& t, const X& x, const L& location, const S& log_scale, const K& skew, double log_tail,
                   double delta) {
  using Eigen::exp, Eigen::log, Eigen::sqrt, Eigen::abs, std::exp, std::log, std::sqrt, std::abs;
  t.inverse_sigma = exp(-log_scale);
  t.r = (x - location) * t.inverse_sigma;
  t.one_r2 = 1 + t.r * t.r;
  t.s = sqrt(t.one_r2);
  t.asinh_r = sign_of(t.r) * log(abs(t.r) + t.s);
  t.h = delta * t.asinh_r - skew;
  t.e = exp(t.h);
  t.sh = 0.5 * (t.e - 1 / t.e);
  t.ch = 0.5 * (t.e + 1 / t.e);
  t.log_f = log_tail - log_scale + log(t.ch / t.s) - 0.5 * t.sh * t.sh - kHalfLog2Pi;
  t.dh = t.sh / t.ch - t.sh * t.ch;
  t.g_r = -t.r / t.one_r2 + t.dh * delta / t.s;
  t.d_location = -t.g_r * t.inverse_sigma;
  t.d_log_scale = -1 - t.g_r * t.r;
  t.d_skew = -t.dh;
  t.d_log_tail = 1 + t.dh * delta * t.asinh_r;
}

Terms<double> terms_at(double x, double location, double log_scale, double skew, double log_tail, double delta) {
  Terms<double> t;
  compute_terms(t, x, location, log_scale, skew, log_tail, delta);
  return t;
}

bool finite_argument(double h) { return std::fabs(h) < kMaxArgument; }
bool finite_argument(const Eigen::ArrayXd& h) { return (h.abs() < kMaxArgument).all(); }

// −∂² ln f / ∂μ² from one value's terms.
double location_information_of(const Terms<double>& t, double sigma, double delta) {
  const double dh_dh = 1 / (t.ch * t.ch) - t.ch * t.ch - t.sh * t.sh;
  const double dg_dr = -(1 - t.r * t.r) / (t.one_r2 * t.one_r2) + dh_dh * delta * delta / t.one_r2 -
                       t.dh * delta * t.r / (t.s * t.one_r2);
  return -dg_dr / (sigma * sigma);
}

// The optimiser's view: θ = [ã, b̃, c̃ (p each), θ_d, ũ (sites, when τ² > 0)] on a whitened
// design X̃ = X R⁻¹ (X = QR, so X̃'X̃ = nI), with the location and the site effects in units
// of the start's residual SD: a = R⁻¹ ã · unit, b = R⁻¹ b̃, c = R⁻¹ c̃, u = ũ · unit. The
// log-likelihood's curvature is then about the same in every direction, and L-BFGS needs a
// fraction of the steps it takes on raw ages and spline terms.
struct Problem {
  const Design& design;  ///< whitened
  double site_variance;
  bool free_sites;
  double unit;
  Eigen::MatrixXd eta, derivative;  ///< per-row workspace, kept across evaluations (no page faults)
  Eigen::ArrayXd location;
  Terms<Eigen::ArrayXd> terms;

  long p() const { return design.x.cols(); }
  long dimension() const { return 3 * p() + 1 + (free_sites ? design.sites : 0); }
};

// The penalised log-likelihood; its gradient into `gradient` when non-null. Per row: the
// derivatives of ln f with respect to μ, ln σ and ε, then X' times them.
double penalised_log_likelihood(Problem& problem, const double* theta, double* gradient,
                                Eigen::VectorXd* site_information = nullptr) {
  const Design& d = problem.design;
  const long n = d.x.rows(), p = problem.p();
  Eigen::MatrixXd coefficients = Eigen::Map<const Eigen::MatrixXd>(theta, p, 3);
  coefficients.col(0) *= problem.unit;
  const double log_delta = log_tail_of(theta[3 * p]), delta = std::exp(log_delta);
  Eigen::VectorXd u = Eigen::VectorXd::Zero(d.sites);
  if (problem.free_sites) u = problem.unit * Eigen::Map<const Eigen::VectorXd>(theta + 3 * p + 1, d.sites);
  Eigen::MatrixXd& eta = problem.eta;
  Eigen::MatrixXd& derivative = problem.derivative;
  eta.noalias() = d.x * coefficients;
  derivative.resize(n, 3);
  Eigen::ArrayXd& location = problem.location;
  location = eta.col(0).array();
  if (problem.free_sites)
    for (long i = 0; i < n; ++i) location[i] += u[d.site[std::size_t(i)]];
  auto& t = problem.terms;
  double total = 0, d_log_delta = 0;
  for (long first = 0; first < n; first += kChunkRows) {
    const long m = std::min(kChunkRows, n - first);
    compute_terms(t, d.y.segment(first, m).array(), location.segment(first, m), eta.col(1).segment(first, m).array(),
                  eta.col(2).segment(first, m).array(), log_delta, delta);
    if (!finite_argument(t.h)) return -HUGE_VAL;
    total += t.log_f.sum();
    d_log_delta += t.d_log_tail.sum();
    derivative.block(first, 0, m, 1) = t.d_location.matrix();
    derivative.block(first, 1, m, 1) = t.d_log_scale.matrix();
    derivative.block(first, 2, m, 1) = t.d_skew.matrix();
  }
  Eigen::VectorXd d_site = Eigen::VectorXd::Zero(d.sites);
  if (problem.free_sites)
    for (long i = 0; i < n; ++i) d_site[d.site[std::size_t(i)]] += derivative(i, 0);
  if (site_information && d.sites > 0)
    for (long i = 0; i < n; ++i) {
      const auto one = terms_at(d.y[i], location[i], eta(i, 1), eta(i, 2), log_delta, delta);
      (*site_information)[d.site[std::size_t(i)]] += location_information_of(one, std::exp(eta(i, 1)), delta);
    }
  if (problem.free_sites)
    for (int g = 0; g < d.sites; ++g) {
      total -= u[g] * u[g] / (2 * problem.site_variance);
      d_site[g] -= u[g] / problem.site_variance;
    }
  if (gradient) {
    Eigen::Map<Eigen::MatrixXd> g(gradient, p, 3);
    g.noalias() = d.x.transpose() * derivative;
    g.col(0) *= problem.unit;
    const double bounded = std::tanh(theta[3 * p]);
    gradient[3 * p] = d_log_delta * kMaxLogTail * (1 - bounded * bounded);
    if (problem.free_sites)
      for (int k = 0; k < d.sites; ++k) gradient[3 * p + 1 + k] = problem.unit * d_site[k];
  }
  return total;
}

// NLopt minimises the mean negative penalised log-likelihood (scaled by n so that its
// tolerances mean the same at every cohort size).
double nlopt_objective(unsigned dimension, const double* theta, double* gradient, void* data) {
  auto& problem = *static_cast<Problem*>(data);
  const double n = double(problem.design.x.rows());
  const double value = penalised_log_likelihood(problem, theta, gradient);
  if (!std::isfinite(value)) {
    if (gradient) std::fill(gradient, gradient + dimension, 0.0);
    return HUGE_VAL;
  }
  if (gradient)
    for (unsigned k = 0; k < dimension; ++k) gradient[k] = -gradient[k] / n;
  return -value / n;
}

std::string nlopt_failure(nlopt_result result) {
  return std::string("the optimiser stopped: ") + nlopt_result_to_string(result);
}

// Runs L-BFGS from θ; returns the failure, or "" when the gradient vanished.
std::string maximise(Problem& problem, Eigen::VectorXd& theta) {
  const std::unique_ptr<nlopt_opt_s, decltype(&nlopt_destroy)> opt(
      nlopt_create(NLOPT_LD_LBFGS, unsigned(theta.size())), nlopt_destroy);
  nlopt_set_min_objective(opt.get(), nlopt_objective, &problem);
  nlopt_set_ftol_rel(opt.get(), 1e-10);
  nlopt_set_xtol_rel(opt.get(), 1e-7);
  nlopt_set_maxeval(opt.get(), 5000);
  double value = 0;
  const nlopt_result result = nlopt_optimize(opt.get(), theta.data(), &value);
  Eigen::VectorXd gradient(theta.size());
  nlopt_objective(unsigned(theta.size()), theta.data(), gradient.data(), &problem);
  if (!std::isfinite(value)) return "the likelihood is not finite at the optimiser's end point";
  if (gradient.cwiseAbs().maxCoeff() > kGradientTolerance)
    return result < 0 && result != NLOPT_ROUNDOFF_LIMITED ? nlopt_failure(result)
                                                          : "the optimiser did not converge (gradient " +
                                                                std::to_string(gradient.cwiseAbs().maxCoeff()) + ")";
  return "";
}

Design every_kth_row(const Design& d, long k) {
  Design sub;
  const long rows = (d.x.rows() + k - 1) / k;
  sub.x.resize(rows, d.x.cols());
  sub.y.resize(rows);
  sub.sites = d.sites;
  for (long i = 0, j = 0; i < d.x.rows(); i += k, ++j) {
    sub.x.row(j) = d.x.row(i);
    sub.y[j] = d.y[i];
    sub.site.push_back(d.site[std::size_t(i)]);
  }
  return sub;
}

}  // namespace

// The normal case (ε = 0, δ = 1) exactly, without sinh(asinh r)'s last-bit rounding.
double Shash::z(double x) const {
  const double r = (x - location) / scale;
  return skew == 0 && tail == 1 ? r : std::sinh(tail * std::asinh(r) - skew);
}

double Shash::at_z(double value) const {
  return location + scale * (skew == 0 && tail == 1 ? value : std::sinh((std::asinh(value) + skew) / tail));
}

double Shash::log_density(double x) const {
  const auto t = terms_at(x, location, std::log(scale), skew, std::log(tail), tail);
  return finite_argument(t.h) ? t.log_f : -HUGE_VAL;
}

double Shash::location_information(double x) const {
  return location_information_of(terms_at(x, location, std::log(scale), skew, std::log(tail), tail), scale, tail);
}

double Shash::mean() const { return location + scale * std::sinh(skew / tail) * bessel_moment(1 / tail); }

double Shash::variance() const {
  const double m1 = std::sinh(skew / tail) * bessel_moment(1 / tail);
  const double m2 = 0.5 * (std::cosh(2 * skew / tail) * bessel_moment(2 / tail) - 1);
  return scale * scale * (m2 - m1 * m1);
}

ShashFit fit_shash(const Design& raw, double site_variance, const ShashFit& start) {
  const long p = raw.x.cols(), sites = raw.sites;
  const bool free_sites = sites > 0 && site_variance > 0;
  const double unit = std::exp(start.log_scale[0]);
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(raw.x / std::sqrt(double(raw.x.rows())));
  const Eigen::MatrixXd r = qr.matrixQR().topRows(p).triangularView<Eigen::Upper>();
  Design design = raw;
  design.x = r.transpose().triangularView<Eigen::Lower>().solve(raw.x.transpose()).transpose();
  const auto to_raw = [&](const Eigen::VectorXd& v) { return Eigen::VectorXd(r.triangularView<Eigen::Upper>().solve(v)); };

  Eigen::VectorXd theta = Eigen::VectorXd::Zero(3 * p + 1 + (free_sites ? sites : 0));
  theta.segment(0, p) = r * start.location / unit;
  theta.segment(p, p) = r * start.log_scale;
  if (start.skew.size() == p) theta.segment(2 * p, p) = r * start.skew;
  theta[3 * p] = std::atanh(std::clamp(start.log_tail / kMaxLogTail, -0.99, 0.99));
  if (free_sites) theta.tail(sites) = start.site_effect / unit;

  ShashFit fit;
  const bool warm = start.skew.size() == p;  // already near the optimum: no subsampled first fit
  if (design.x.rows() > kSubsampleAbove && !warm) {
    const Design sub = every_kth_row(design, design.x.rows() / kSubsampleRows);
    Problem first{sub, site_variance, free_sites, unit, {}, {}, {}, {}};
    Eigen::VectorXd guess = theta;
    // A failed first fit only costs its evaluations: the full fit then starts where it began.
    if (maximise(first, guess).empty()) theta = guess;
  }
  Problem problem{design, site_variance, free_sites, unit, {}, {}, {}, {}};
  fit.why = maximise(problem, theta);
  fit.location = to_raw(theta.segment(0, p) * unit);
  fit.log_scale = to_raw(theta.segment(p, p));
  fit.skew = to_raw(theta.segment(2 * p, p));
  fit.log_tail = log_tail_of(theta[3 * p]);
  fit.site_effect = Eigen::VectorXd::Zero(sites);
  fit.site_variance = Eigen::VectorXd::Zero(sites);
  Eigen::VectorXd information = Eigen::VectorXd::Zero(sites);
  fit.penalised_log_likelihood = penalised_log_likelihood(problem, theta.data(), nullptr, &information);
  fit.log_likelihood = fit.penalised_log_likelihood;
  if (free_sites) {
    fit.site_effect = theta.tail(sites) * unit;
    for (int g = 0; g < sites; ++g) {
      fit.log_likelihood += fit.site_effect[g] * fit.site_effect[g] / (2 * site_variance);
      fit.site_variance[g] = 1 / (information[g] + 1 / site_variance);
    }
  }
  return fit;
}

}  // namespace nc::norms
