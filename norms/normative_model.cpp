#include "norms/normative_model.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <boost/math/tools/minima.hpp>
#include <cmath>
#include <map>
#include <set>

#include "core/error.hpp"
#include "norms/mixed_model.hpp"
#include "norms/spline.hpp"
#include "norms/statistics.hpp"

namespace nc::norms {
namespace {

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A site effect needs at least this many reference scans to be told apart from the residual.
constexpr double kMinScansPerSite = 2;

double ml_log_likelihood_of(const OlsFit& fit) {
  const double n = double(fit.n), ml_variance = fit.sigma2 * double(fit.df_resid) / n;
  return -0.5 * n * (std::log(2 * M_PI * ml_variance) + 1);
}

Eigen::VectorXd rows_per_site(const Design& d) {
  Eigen::VectorXd n = Eigen::VectorXd::Zero(d.sites);
  for (int g : d.site) n[g] += 1;
  return n;
}

// Row-major m × k (× k) arrays for HDF5, from one vector or matrix per fit.
template <typename Get>
std::vector<double> stacked(const std::vector<MeasureFit>& fits, Get get) {
  std::vector<double> out;
  for (const auto& f : fits) {
    const RowMajor m = get(f);
    out.insert(out.end(), m.data(), m.data() + m.size());
  }
  return out;
}

template <typename Column>
std::vector<double> column_of(const std::vector<MeasureFit>& fits, Column get) {
  std::vector<double> out;
  for (const auto& f : fits) out.push_back(get(f));
  return out;
}

// The new site's effect on one measure under a shash model: the mode of the penalised
// likelihood of its controls in u (Boost.Math's Brent search), and its conditional variance.
std::pair<double, double> shash_site_effect(const MeasureFit& f, const Design& d) {
  const double tau2 = f.site_sd * f.site_sd, bound = 10 * f.site_sd + 0.5;
  const auto at = [&](long i, double u) {
    Shash s = f.predict(ModelFamily::Shash, d.x.row(i).transpose(), -1);
    s.location += u;
    return s;
  };
  const auto minus_penalised = [&](double u) {
    double total = u * u / (2 * tau2);
    for (long i = 0; i < d.x.rows(); ++i) total -= at(i, u).log_density(d.y[i]);
    return total;
  };
  const double u =
      boost::math::tools::brent_find_minima(minus_penalised, -bound, bound, std::numeric_limits<double>::digits).first;
  double information = 1 / tau2;
  for (long i = 0; i < d.x.rows(); ++i) information += at(i, u).location_information(d.y[i]);
  return {u, 1 / information};
}

}  // namespace

std::string family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::Gaussian:
      return "gaussian";
    case ModelFamily::Mixed:
      return "mixed";
    case ModelFamily::Shash:
      return "shash";
  }
  return "gaussian";
}

ModelFamily family_from_name(const std::string& name) {
  for (ModelFamily f : kModelFamilies)
    if (family_name(f) == name) return f;
  throw Error("'" + name + "' is not a normative model (gaussian, mixed or shash)");
}

Shash MeasureFit::predict(ModelFamily family, const Eigen::VectorXd& x, long site) const {
  const bool known = site >= 0 && site < site_effect.size();
  if (family == ModelFamily::Shash)
    return {x.dot(location) + (known ? site_effect[site] : 0.0), std::exp(x.dot(log_scale)), x.dot(skew),
            std::exp(log_tail)};
  // ln V − x'β − u has variance σ² + Var(x'β̂) + Var(u): the site's conditional variance
  // when the model knows the site, τ² for a new one.
  double variance = sigma * sigma * (1 + x.dot(location_inverse * x)), mean = x.dot(location);
  if (site_sd > 0) {
    mean += known ? site_effect[site] : 0.0;
    variance += known ? site_variance[site] : site_sd * site_sd;
  }
  return {mean, std::sqrt(variance), 0, 1};
}

Eigen::VectorXd NormativeModel::design_row(double age, bool male) const {
  Eigen::VectorXd x(static_cast<long>(parameters()));
  x[0] = 1;
  x[1] = male ? 1 : 0;
  const auto basis = spline_basis(age, knots);
  for (std::size_t j = 0; j < basis.size(); ++j) x[long(j) + 2] = basis[j];
  return x;
}

long NormativeModel::site_index(const std::string& site) const {
  const auto it = std::find(sites.begin(), sites.end(), site);
  return it == sites.end() ? -1 : long(it - sites.begin());
}

Shash NormativeModel::predict(std::size_t measure, double age, bool male, long site) const {
  return fits[measure].predict(family, design_row(age, male), site);
}

std::vector<std::string> reference_sites(const Cohort& c, const std::vector<long>& reference, Notes& notes) {
  if (!c.has_site) {
    notes.push_back("normative model: the cohort has no site column; fitted without site effects");
    return {};
  }
  std::map<std::string, int> count;
  for (long i : reference) ++count[c.site[std::size_t(i)]];
  std::vector<std::string> sites;
  for (const auto& [site, n] : count) {
    if (n >= kMinScansPerSite) {
      sites.push_back(site);
      continue;
    }
    notes.push_back("normative model: site '" + site + "' has " + std::to_string(n) +
                    " reference scan; a site effect needs 2, so it is left out of the fit");
  }
  if (sites.size() < 2) {
    notes.push_back("normative model: the reference has " + std::to_string(sites.size()) +
                    " site(s) with 2 or more scans; fitted without site effects");
    sites.clear();
  }
  return sites;
}

Design measure_design(const NormativeModel& shape, const Cohort& c, const MeasureSet& measures, std::size_t m,
                      const std::vector<long>& rows, std::vector<long>* used) {
  std::vector<long> kept;
  std::vector<int> site;
  for (long i : rows) {
    const double v = measures.values(i, long(m));
    if (!(std::isfinite(v) && v > 0)) continue;
    const long s = shape.sites.empty() ? 0 : shape.site_index(c.site[std::size_t(i)]);
    if (s < 0) continue;
    kept.push_back(i);
    site.push_back(int(s));
  }
  Design d;
  d.x.resize(long(kept.size()), long(shape.parameters()));
  d.y.resize(long(kept.size()));
  d.site = std::move(site);
  d.sites = int(shape.sites.size());
  for (std::size_t k = 0; k < kept.size(); ++k) {
    const std::size_t i = std::size_t(kept[k]);
    d.x.row(long(k)) = shape.design_row(c.age[i], c.sex[i] == "M");
    d.y[long(k)] = std::log(measures.values(long(i), long(m)));
  }
  if (used) *used = std::move(kept);
  return d;
}

std::optional<MeasureFit> fit_measure(ModelFamily family, const Design& design, std::string& why,
                                      const MeasureFit* warm) {
  if (design.y.size() > 0 && design.y.maxCoeff() == design.y.minCoeff()) {
    why = "the volume is constant";  // ln V rounds its mean: least squares may not see it
    return std::nullopt;
  }
  const OlsFit least_squares = ols(design.x, design.y);
  if (!least_squares.ok()) {
    why = least_squares.why;
    return std::nullopt;
  }
  MeasureFit f;
  f.n = double(design.x.rows());
  f.age_min = design.x.col(2).minCoeff();
  f.age_max = design.x.col(2).maxCoeff();
  f.location = least_squares.beta;
  f.location_inverse = least_squares.xtx_inverse;
  f.sigma = std::sqrt(least_squares.sigma2);
  f.log_likelihood = ml_log_likelihood_of(least_squares);
  if (family == ModelFamily::Gaussian) return f;

  f.site_n = rows_per_site(design);
  f.site_effect = f.site_variance = Eigen::VectorXd::Zero(design.sites);
  if (design.sites >= 2) {
    const RandomInterceptFit mixed = fit_random_intercept(design);
    if (!mixed.ok()) {
      why = mixed.why;
      return std::nullopt;
    }
    f.location = mixed.beta;
    f.location_inverse = mixed.gls_inverse;
    f.sigma = std::sqrt(mixed.sigma2);
    f.site_sd = std::sqrt(mixed.tau2);
    f.site_effect = mixed.site_effect;
    f.site_variance = mixed.site_variance;
    f.log_likelihood = mixed.reml_log_likelihood;
  }
  if (family == ModelFamily::Mixed) return f;

  const auto gaussian_start = [&] {
    ShashFit start;
    start.location = f.location;
    start.log_scale = Eigen::VectorXd::Zero(design.x.cols());
    start.log_scale[0] = std::log(f.sigma);
    start.site_effect = f.site_effect;
    return start;
  };
  ShashFit start = gaussian_start();
  const bool warmed = warm && warm->skew.size() == design.x.cols();
  if (warmed) {
    start.location = warm->location;
    start.log_scale = warm->log_scale;
    start.skew = warm->skew;
    start.log_tail = warm->log_tail;
  }
  const double tau2 = f.site_sd * f.site_sd;
  ShashFit shash = fit_shash(design, tau2, start);
  // A warm start far from this data's optimum can stall the line search: start again cold.
  if (!shash.ok() && warmed) shash = fit_shash(design, tau2, gaussian_start());
  if (!shash.ok()) {
    why = shash.why;
    return std::nullopt;
  }
  f.location = shash.location;
  f.location_inverse.resize(0, 0);
  f.sigma = 0;
  f.log_scale = shash.log_scale;
  f.skew = shash.skew;
  f.log_tail = shash.log_tail;
  f.site_effect = shash.site_effect;
  f.site_variance = shash.site_variance;
  f.log_likelihood = shash.log_likelihood;
  return f;
}

std::optional<NormativeModel> fit_normative_model(const Cohort& c, const MeasureSet& measures,
                                                  const std::vector<long>& reference, int knot_count,
                                                  ModelFamily family, Notes& notes) {
  std::vector<double> ages;
  bool female = false, male = false;
  for (long i : reference) {
    ages.push_back(c.age[std::size_t(i)]);
    (c.sex[std::size_t(i)] == "M" ? male : female) = true;
  }
  if (!female || !male) {
    notes.push_back("normative model: the reference group has one sex only; not built");
    return std::nullopt;
  }
  NormativeModel model;
  model.family = family;
  try {
    model.knots = spline_knots(ages, knot_count);
  } catch (const Error& e) {
    notes.push_back(std::string("normative model: ") + e.what() + "; not built");
    return std::nullopt;
  }
  if (has_site_effects(family)) model.sites = reference_sites(c, reference, notes);
  std::vector<std::optional<MeasureFit>> fitted(measures.names.size());
  std::vector<std::string> why(measures.names.size());
  tbb::parallel_for(std::size_t(0), measures.names.size(), [&](std::size_t m) {
    fitted[m] = fit_measure(family, measure_design(model, c, measures, m, reference), why[m]);
  });
  for (std::size_t m = 0; m < fitted.size(); ++m) {
    if (!fitted[m]) {
      notes.push_back("normative model of " + measures.names[m] + ": " + why[m] + "; left out");
      continue;
    }
    model.measures.push_back(measures.names[m]);
    model.fits.push_back(std::move(*fitted[m]));
  }
  if (model.fits.empty()) return std::nullopt;
  return model;
}

void write_normative_model(const NormativeModel& model, io::TableFile& file) {
  const std::size_t m = model.measures.size(), p = model.parameters(), sites = model.sites.size();
  const auto& fits = model.fits;
  file.set_attribute("normative_model", family_name(model.family));
  file.write_table("/normative",
                   {{"measure", model.measures},
                    {"sigma", column_of(fits, [](const MeasureFit& f) { return f.sigma; })},
                    {"n", column_of(fits, [](const MeasureFit& f) { return f.n; })},
                    {"age_min", column_of(fits, [](const MeasureFit& f) { return f.age_min; })},
                    {"age_max", column_of(fits, [](const MeasureFit& f) { return f.age_max; })},
                    {"site_sd", column_of(fits, [](const MeasureFit& f) { return f.site_sd; })},
                    {"log_tail", column_of(fits, [](const MeasureFit& f) { return f.log_tail; })},
                    {"log_likelihood", column_of(fits, [](const MeasureFit& f) { return f.log_likelihood; })}});
  file.write_array("/normative/knots", {model.knots.size()}, model.knots);
  file.write_array("/normative/coefficients", {m, p}, stacked(fits, [](const MeasureFit& f) { return f.location; }));
  if (model.family == ModelFamily::Shash) {
    file.write_array("/normative/log_scale", {m, p}, stacked(fits, [](const MeasureFit& f) { return f.log_scale; }));
    file.write_array("/normative/skew", {m, p}, stacked(fits, [](const MeasureFit& f) { return f.skew; }));
  } else {
    file.write_array("/normative/xtx_inverse", {m, p, p},
                     stacked(fits, [](const MeasureFit& f) { return f.location_inverse; }));
  }
  if (sites == 0) return;
  file.write_table("/normative_sites", {{"site", model.sites}});
  file.write_array("/normative_sites/effect", {m, sites},
                   stacked(fits, [](const MeasureFit& f) { return f.site_effect.transpose(); }));
  file.write_array("/normative_sites/variance", {m, sites},
                   stacked(fits, [](const MeasureFit& f) { return f.site_variance.transpose(); }));
  file.write_array("/normative_sites/n", {m, sites},
                   stacked(fits, [](const MeasureFit& f) { return f.site_n.transpose(); }));
}

NormativeModel read_normative_model(const io::TableFile& file, const std::filesystem::path& path) {
  if (!file.has("/normative"))
    throw Error(path.string() + ": no normative model (its build log says why it was not built)");
  NormativeModel model;
  try {
    model.family = family_from_name(file.attribute("normative_model"));
  } catch (const StoreError&) {
    model.family = ModelFamily::Gaussian;  // written before the model families existed
  }
  std::map<std::string, std::vector<double>> number;
  for (const auto& column : file.read_table("/normative")) {
    if (column.name == "measure")
      model.measures = std::get<std::vector<std::string>>(column.values);
    else if (std::holds_alternative<std::vector<double>>(column.values))
      number[column.name] = std::get<std::vector<double>>(column.values);
  }
  model.knots = file.read_array("/normative/knots");
  if (file.has("/normative_sites")) {
    for (const auto& column : file.read_table("/normative_sites"))
      if (column.name == "site") model.sites = std::get<std::vector<std::string>>(column.values);
  }
  const std::size_t m = model.measures.size(), p = model.parameters(), sites = model.sites.size();
  const bool shash = model.family == ModelFamily::Shash;
  const auto array = [&](const std::string& name, std::size_t size) {
    auto values = file.read_array(name);
    if (values.size() != size) throw Error(path.string() + ": " + name + " disagrees in size with /normative/measure");
    return values;
  };
  const auto per_measure = [&](const std::string& name) {
    auto values = number.count(name) ? number[name] : std::vector<double>(m, 0.0);
    if (values.size() != m) throw Error(path.string() + ": /normative/" + name + " disagrees in size");
    return values;
  };
  if (model.knots.size() < 3) throw Error(path.string() + ": the normative model has fewer than 3 knots");
  const auto location = array("/normative/coefficients", m * p);
  const auto inverse = shash ? std::vector<double>() : array("/normative/xtx_inverse", m * p * p);
  const auto log_scale = shash ? array("/normative/log_scale", m * p) : std::vector<double>();
  const auto skew = shash ? array("/normative/skew", m * p) : std::vector<double>();
  const auto effect = sites ? array("/normative_sites/effect", m * sites) : std::vector<double>();
  const auto variance = sites ? array("/normative_sites/variance", m * sites) : std::vector<double>();
  const auto site_n = sites ? array("/normative_sites/n", m * sites) : std::vector<double>();
  const auto sigma = per_measure("sigma"), n = per_measure("n"), age_min = per_measure("age_min"),
             age_max = per_measure("age_max"), site_sd = per_measure("site_sd"), log_tail = per_measure("log_tail"),
             log_likelihood = per_measure("log_likelihood");
  const auto vector_at = [](const std::vector<double>& v, std::size_t k, std::size_t size) {
    return Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(v.data() + k * size, long(size)));
  };
  for (std::size_t k = 0; k < m; ++k) {
    MeasureFit f;
    f.location = vector_at(location, k, p);
    if (!shash) f.location_inverse = Eigen::Map<const RowMajor>(inverse.data() + k * p * p, long(p), long(p));
    if (shash) {
      f.log_scale = vector_at(log_scale, k, p);
      f.skew = vector_at(skew, k, p);
    }
    if (sites) {
      f.site_effect = vector_at(effect, k, sites);
      f.site_variance = vector_at(variance, k, sites);
      f.site_n = vector_at(site_n, k, sites);
    }
    f.sigma = sigma[k];
    f.n = n[k];
    f.age_min = age_min[k];
    f.age_max = age_max[k];
    f.site_sd = site_sd[k];
    f.log_tail = log_tail[k];
    f.log_likelihood = log_likelihood[k];
    model.fits.push_back(std::move(f));
  }
  return model;
}

Table site_effects(const NormativeModel& model) {
  Table table{"site_effects", {"measure", "site", "n", "effect", "se", "ci_low", "ci_high"}, {}};
  for (std::size_t k = 0; k < model.fits.size(); ++k) {
    const MeasureFit& f = model.fits[k];
    for (std::size_t g = 0; g < model.sites.size(); ++g) {
      const double effect = f.site_effect[long(g)], se = std::sqrt(f.site_variance[long(g)]);
      table.rows.push_back({model.measures[k], model.sites[g], f.site_n[long(g)], effect, se, effect - 1.96 * se,
                            effect + 1.96 * se});
    }
  }
  return table;
}

NormativeModel adapt_to_site(const NormativeModel& model, const Cohort& controls, const std::vector<long>& rows,
                             const std::string& site, Notes& notes) {
  if (!has_site_effects(model.family))
    throw Error("the reference was built with --model gaussian, which has no site effects; build it with "
                "--model mixed or --model shash to adapt it to a new site");
  if (model.sites.empty())
    throw Error("the reference has no site effects (its reference scans came from fewer than two sites)");
  if (model.site_index(site) >= 0) throw Error("site '" + site + "' is already in the reference");
  NormativeModel adapted = model;
  adapted.sites.push_back(site);
  const MeasureSet measures = measures_of(controls);
  NormativeModel without_sites;  // the design's shape: the knots, no site filter
  without_sites.knots = model.knots;
  for (std::size_t k = 0; k < model.fits.size(); ++k) {
    MeasureFit& f = adapted.fits[k];
    const long g = long(model.sites.size());
    f.site_effect.conservativeResize(g + 1);
    f.site_variance.conservativeResize(g + 1);
    f.site_n.conservativeResize(g + 1);
    const auto m = std::find(measures.names.begin(), measures.names.end(), model.measures[k]);
    const Design d = m == measures.names.end()
                         ? Design{}
                         : measure_design(without_sites, controls, measures, std::size_t(m - measures.names.begin()),
                                          rows);
    const long n = d.x.rows();
    f.site_n[g] = double(n);
    double effect = 0, variance = f.site_sd * f.site_sd;
    if (n == 0) {
      notes.push_back("adapt: the controls have no " + model.measures[k] + " volume; its site effect is 0");
    } else if (f.site_sd > 0 && model.family == ModelFamily::Mixed) {
      // BLUP of a new group: λ Σ residuals / (1 + n λ), with λ = τ²/σ²
      const double lambda = f.site_sd * f.site_sd / (f.sigma * f.sigma);
      const double residuals = (d.y - d.x * f.location).sum();
      effect = lambda * residuals / (1 + double(n) * lambda);
      variance = f.sigma * f.sigma * lambda / (1 + double(n) * lambda);
    } else if (f.site_sd > 0) {
      std::tie(effect, variance) = shash_site_effect(f, d);
    }
    f.site_effect[g] = effect;
    f.site_variance[g] = variance;
  }
  return adapted;
}

Table score(const Cohort& c, const NormativeModel& model, double threshold, Notes& notes) {
  Table table{
      "scores",
      {"scan_id", "measure", "age", "sex", "volume_ml", "expected_ml", "z", "centile", "flagged", "outside_age_range"},
      {}};
  const MeasureSet measures = measures_of(c);
  std::vector<std::pair<std::size_t, std::size_t>> pairs;  // (cohort measure, model measure)
  for (std::size_t m = 0; m < measures.names.size(); ++m) {
    const auto it = std::find(model.measures.begin(), model.measures.end(), measures.names[m]);
    if (it == model.measures.end()) {
      if (m < measures.regions)
        throw Error(c.sources.front() + ": region " + measures.names[m] + " is not in the reference");
      notes.push_back("scores: the reference has no " + measures.names[m] + "; not scored");
      continue;
    }
    pairs.emplace_back(m, std::size_t(it - model.measures.begin()));
  }
  std::set<std::string> new_sites;
  for (std::size_t i = 0; i < c.size(); ++i) {
    const bool male = c.sex[i] == "M";
    const long site = model.site_index(c.site[i]);
    if (!model.sites.empty() && site < 0 && new_sites.insert(c.site[i]).second)
      notes.push_back("scores: site '" + c.site[i] +
                      "' is not in the reference: scored without its effect (norms adapt estimates it from the "
                      "site's controls)");
    for (const auto& [m, k] : pairs) {
      const double v = measures.values(long(i), long(m));
      if (!(v > 0)) {
        if (!std::isnan(v)) notes.push_back("scores: " + c.scan_id[i] + " has no " + measures.names[m] + " volume");
        continue;
      }
      const Shash prediction = model.predict(k, c.age[i], male, site);
      const double z = prediction.z(std::log(v));
      const bool outside = c.age[i] < model.fits[k].age_min || c.age[i] > model.fits[k].age_max;
      table.rows.push_back({c.scan_id[i], measures.names[m], c.age[i], c.sex[i], v, std::exp(prediction.at_z(0)), z,
                            100 * normal_cdf(z), yes_no(std::fabs(z) > threshold), yes_no(outside)});
    }
  }
  return table;
}

}  // namespace nc::norms
