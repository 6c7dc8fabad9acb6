#include "norms/calibration.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <boost/math/statistics/anderson_darling.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "norms/statistics.hpp"

namespace nc::norms {
namespace {

constexpr int kCentiles = 99;  // 1 … 99

// FNV-1a: a subject's fold must not depend on the standard library's std::hash.
std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

// The held-out predictions of one measure under one family, pooled over the folds.
struct HeldOut {
  std::vector<double> y, z, log_density, mean, trivial_log_density;
};

struct FoldResult {
  std::optional<HeldOut> held_out;  ///< nullopt when a fold could not be fitted
  std::string why;
};

double variance_of(const std::vector<double>& v) {
  double mean = 0, sum = 0;
  for (double x : v) mean += x;
  mean /= double(v.size());
  for (double x : v) sum += (x - mean) * (x - mean);
  return sum / double(v.size());
}

// ln N(y; mean, variance): the trivial model MSLL standardises against.
double normal_log_density(double y, double mean, double variance) {
  return -0.5 * (std::log(2 * M_PI * variance) + (y - mean) * (y - mean) / variance);
}

// `warm`: the full reference's fit of this family, or nullptr; it starts the first fold's
// optimiser, and each fold's fit the next one's.
FoldResult cross_validate_one(ModelFamily family, const NormativeModel& shape, const Cohort& c,
                              const MeasureSet& measures, std::size_t m,
                              const std::vector<std::vector<long>>& fold_rows, const MeasureFit* warm) {
  FoldResult cell;
  HeldOut out;
  const int folds = int(fold_rows.size());
  std::optional<MeasureFit> previous;
  if (warm) previous = *warm;
  for (int k = 0; k < folds; ++k) {
    std::vector<long> train;
    for (int j = 0; j < folds; ++j)
      if (j != k) train.insert(train.end(), fold_rows[std::size_t(j)].begin(), fold_rows[std::size_t(j)].end());
    const Design training = measure_design(shape, c, measures, m, train);
    const auto fit = fit_measure(family, training, cell.why, previous ? &*previous : nullptr);
    if (!fit) {
      cell.why = fmt::format("fold {}: {}", k + 1, cell.why);
      return cell;
    }
    const double train_mean = training.y.mean();
    const double train_variance = (training.y.array() - train_mean).square().mean();
    const Design test = measure_design(shape, c, measures, m, fold_rows[std::size_t(k)]);
    for (long i = 0; i < test.x.rows(); ++i) {
      const Shash prediction = fit->predict(family, test.x.row(i).transpose(), test.site[std::size_t(i)]);
      const double y = test.y[i];
      out.y.push_back(y);
      out.z.push_back(prediction.z(y));
      out.log_density.push_back(prediction.log_density(y));
      out.mean.push_back(prediction.mean());
      out.trivial_log_density.push_back(normal_log_density(y, train_mean, train_variance));
    }
    previous = fit;
  }
  if (out.y.size() < 2) {
    cell.why = "fewer than 2 held-out scans";
    return cell;
  }
  cell.held_out = std::move(out);
  return cell;
}

// Share of held-out scans below each centile 1 … 99.
std::vector<double> coverage_of(const HeldOut& h) {
  std::vector<double> below(kCentiles, 0);
  for (double z : h.z) {
    const double centile = 100 * normal_cdf(z);
    for (int q = 1; q <= kCentiles; ++q) below[std::size_t(q - 1)] += centile < q;
  }
  for (double& b : below) b /= double(h.z.size());
  return below;
}

struct Metrics {
  double msll = 0, expv = 0, smse = 0, anderson_darling = 0, mace = 0;
};

// `below`: coverage_of(h), computed once by the caller for the coverage table too.
Metrics metrics_of(const HeldOut& h, const std::vector<double>& below) {
  Metrics out;
  const std::size_t n = h.y.size();
  std::vector<double> error(n);
  double squared = 0, msll = 0;
  for (std::size_t i = 0; i < n; ++i) {
    error[i] = h.y[i] - h.mean[i];
    squared += error[i] * error[i];
    msll += h.trivial_log_density[i] - h.log_density[i];
  }
  const double variance = variance_of(h.y);
  out.msll = msll / double(n);
  out.smse = squared / double(n) / variance;
  out.expv = 1 - variance_of(error) / variance;
  std::vector<double> sorted = h.z;
  std::sort(sorted.begin(), sorted.end());
  out.anderson_darling = boost::math::statistics::anderson_darling_normality_statistic(sorted, 0.0, 1.0);
  for (int q = 1; q <= kCentiles; ++q) out.mace += std::fabs(below[std::size_t(q - 1)] - q / 100.0);
  out.mace /= kCentiles;
  return out;
}

// Folds of the reference rows, by subject; at most max_subjects subjects take part.
std::vector<std::vector<long>> folds_of(const Cohort& c, const std::vector<long>& reference,
                                        const CalibrationOptions& options, Notes& notes) {
  std::set<std::string> subjects;
  for (long i : reference) subjects.insert(c.subject[std::size_t(i)]);
  const std::uint64_t stride = (subjects.size() + options.max_subjects - 1) / options.max_subjects;
  std::vector<std::vector<long>> folds(std::size_t(options.folds));
  std::set<std::string> used;
  for (long i : reference) {
    const std::uint64_t h = fnv1a(c.subject[std::size_t(i)]);
    if ((h / std::uint64_t(options.folds)) % stride != 0) continue;
    folds[h % std::uint64_t(options.folds)].push_back(i);
    used.insert(c.subject[std::size_t(i)]);
  }
  if (used.size() < subjects.size())
    notes.push_back(fmt::format("calibration: cross-validated on an even sample of {} of the {} reference subjects",
                                used.size(), subjects.size()));
  return folds;
}

// Metrics per family and measure, for the families compared on the measures they all fitted.
using MetricsByFamily = std::map<ModelFamily, std::map<std::string, Metrics>>;

std::string verdict_of(const MetricsByFamily& by_family) {
  std::set<std::string> common;
  for (const auto& [measure, m] : by_family.begin()->second) common.insert(measure);
  for (const auto& [family, metrics] : by_family)
    for (auto it = common.begin(); it != common.end();) it = metrics.count(*it) ? std::next(it) : common.erase(it);
  if (common.empty()) return "no measure could be cross-validated with every model family";
  std::string text;
  ModelFamily best = ModelFamily::Gaussian;
  double best_mace = HUGE_VAL;
  for (const auto& [family, metrics] : by_family) {
    double mace = 0, msll = 0;
    for (const auto& measure : common) {
      mace += metrics.at(measure).mace;
      msll += metrics.at(measure).msll;
    }
    mace /= double(common.size());
    msll /= double(common.size());
    text += fmt::format("{}{}: mean absolute centile error {:.4f}, MSLL {:.4f}", text.empty() ? "" : "; ",
                        family_name(family), mace, msll);
    if (mace < best_mace) {
      best_mace = mace;
      best = family;
    }
  }
  return fmt::format("held out ({} over {} measures): {} fitted best by the mean absolute centile error", text,
                     common.size(), family_name(best));
}

}  // namespace

Calibration cross_validate(const Cohort& c, const MeasureSet& measures, const std::vector<long>& reference,
                           const NormativeModel& model, const std::vector<std::string>& sites,
                           const std::vector<ModelFamily>& families, const CalibrationOptions& options, Notes& notes) {
  Calibration out{
      {"calibration", {"measure", "model", "n", "folds", "msll", "expv", "smse", "anderson_darling", "mace"}, {}},
      {"coverage", {"model", "centile", "expected", "observed"}, {}},
      {}};
  const auto folds = folds_of(c, reference, options, notes);
  std::vector<std::size_t> measure_index;
  for (const auto& name : model.measures)
    measure_index.push_back(std::size_t(std::find(measures.names.begin(), measures.names.end(), name) -
                                        measures.names.begin()));
  std::vector<NormativeModel> shapes;
  for (ModelFamily f : families) {
    NormativeModel shape;
    shape.family = f;
    shape.knots = model.knots;
    if (has_site_effects(f)) shape.sites = sites;
    shapes.push_back(std::move(shape));
  }
  const std::size_t cells = measure_index.size() * families.size();
  std::vector<FoldResult> result(cells);
  tbb::parallel_for(std::size_t(0), cells, [&](std::size_t k) {
    const std::size_t m = k / families.size(), f = k % families.size();
    const bool same = families[f] == model.family && shapes[f].sites == model.sites;
    result[k] = cross_validate_one(families[f], shapes[f], c, measures, measure_index[m], folds,
                                   same ? &model.fits[m] : nullptr);
  });

  MetricsByFamily by_family;
  std::map<ModelFamily, int> covered;
  std::map<ModelFamily, std::vector<double>> coverage_sum;
  for (std::size_t k = 0; k < cells; ++k) {
    const std::string& measure = model.measures[k / families.size()];
    const ModelFamily family = families[k % families.size()];
    const FoldResult& cell = result[k];
    if (!cell.held_out) {
      notes.push_back("calibration of " + measure + " (" + family_name(family) + "): " + cell.why + "; left out");
      continue;
    }
    const auto below = coverage_of(*cell.held_out);
    const Metrics m = metrics_of(*cell.held_out, below);
    by_family[family][measure] = m;
    ++covered[family];
    auto& sum = coverage_sum[family];
    sum.resize(kCentiles, 0);
    for (int q = 0; q < kCentiles; ++q) sum[std::size_t(q)] += below[std::size_t(q)];
    out.calibration.rows.push_back({measure, family_name(family), double(cell.held_out->y.size()),
                                    double(options.folds), m.msll, m.expv, m.smse, m.anderson_darling, m.mace});
  }
  for (const auto& [family, sum] : coverage_sum)
    for (int q = 1; q <= kCentiles; ++q)
      out.coverage.rows.push_back({family_name(family), double(q), q / 100.0,
                                   sum[std::size_t(q - 1)] / double(covered[family])});
  if (!by_family.empty()) out.verdict = verdict_of(by_family);
  return out;
}

}  // namespace nc::norms
