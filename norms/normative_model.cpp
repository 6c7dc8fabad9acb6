#include "norms/normative_model.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "norms/spline.hpp"
#include "norms/statistics.hpp"

namespace nc::norms {

Eigen::VectorXd NormativeModel::design_row(double age, bool male) const {
  Eigen::VectorXd x(static_cast<long>(parameters()));
  x[0] = 1;
  x[1] = male ? 1 : 0;
  const auto basis = spline_basis(age, knots);
  for (std::size_t j = 0; j < basis.size(); ++j) x[long(j) + 2] = basis[j];
  return x;
}

NormativeModel::Prediction NormativeModel::predict(std::size_t measure, double age, bool male) const {
  const Eigen::VectorXd x = design_row(age, male);
  const double leverage = x.dot(xtx_inverse[measure] * x);
  return {coefficients.row(long(measure)).dot(x), sigma[measure] * std::sqrt(1 + leverage)};
}

std::optional<NormativeModel> fit_normative_model(const Cohort& c, const MeasureSet& measures,
                                                  const std::vector<long>& reference, int knot_count, Notes& notes) {
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
  try {
    model.knots = spline_knots(ages, knot_count);
  } catch (const Error& e) {
    notes.push_back(std::string("normative model: ") + e.what() + "; not built");
    return std::nullopt;
  }
  struct Fitted {
    OlsFit fit;
    double age_min = 0, age_max = 0;
  };
  std::vector<Fitted> fitted(measures.names.size());
  tbb::parallel_for(std::size_t(0), measures.names.size(), [&](std::size_t m) {
    std::vector<long> used;
    for (long i : reference)
      if (std::isfinite(measures.values(i, long(m))) && measures.values(i, long(m)) > 0) used.push_back(i);
    Eigen::MatrixXd x(long(used.size()), long(model.parameters()));
    Eigen::VectorXd y(long(used.size()));
    for (std::size_t k = 0; k < used.size(); ++k) {
      const std::size_t i = std::size_t(used[k]);
      x.row(long(k)) = model.design_row(c.age[i], c.sex[i] == "M");
      y[long(k)] = std::log(measures.values(long(i), long(m)));
    }
    fitted[m].fit = ols(x, y);
    if (!used.empty()) {
      fitted[m].age_min = x.col(2).minCoeff();
      fitted[m].age_max = x.col(2).maxCoeff();
    }
  });
  std::vector<std::size_t> kept;
  for (std::size_t m = 0; m < fitted.size(); ++m) {
    if (fitted[m].fit.ok())
      kept.push_back(m);
    else
      notes.push_back("normative model of " + measures.names[m] + ": " + fitted[m].fit.why + "; left out");
  }
  if (kept.empty()) return std::nullopt;
  model.coefficients.resize(long(kept.size()), long(model.parameters()));
  for (std::size_t k = 0; k < kept.size(); ++k) {
    const Fitted& f = fitted[kept[k]];
    model.measures.push_back(measures.names[kept[k]]);
    model.coefficients.row(long(k)) = f.fit.beta.transpose();
    model.xtx_inverse.push_back(f.fit.xtx_inverse);
    model.sigma.push_back(std::sqrt(f.fit.sigma2));
    model.n.push_back(double(f.fit.n));
    model.age_min.push_back(f.age_min);
    model.age_max.push_back(f.age_max);
  }
  return model;
}

void write_normative_model(const NormativeModel& model, io::TableFile& file) {
  const std::size_t m = model.measures.size(), p = model.parameters();
  file.write_table("/normative", {{"measure", model.measures},
                                  {"sigma", model.sigma},
                                  {"n", model.n},
                                  {"age_min", model.age_min},
                                  {"age_max", model.age_max}});
  file.write_array("/normative/knots", {model.knots.size()}, model.knots);
  // Row-major on disk, as h5py and numpy expect.
  std::vector<double> coefficients, xtx;
  for (std::size_t k = 0; k < m; ++k) {
    for (std::size_t j = 0; j < p; ++j) coefficients.push_back(model.coefficients(long(k), long(j)));
    for (std::size_t a = 0; a < p; ++a)
      for (std::size_t b = 0; b < p; ++b) xtx.push_back(model.xtx_inverse[k](long(a), long(b)));
  }
  file.write_array("/normative/coefficients", {m, p}, coefficients);
  file.write_array("/normative/xtx_inverse", {m, p, p}, xtx);
}

NormativeModel read_normative_model(const io::TableFile& file, const std::filesystem::path& path) {
  if (!file.has("/normative"))
    throw Error(path.string() + ": no normative model (its build log says why it was not built)");
  NormativeModel model;
  for (const auto& column : file.read_table("/normative")) {
    if (column.name == "measure") model.measures = std::get<std::vector<std::string>>(column.values);
    if (column.name == "sigma") model.sigma = std::get<std::vector<double>>(column.values);
    if (column.name == "n") model.n = std::get<std::vector<double>>(column.values);
    if (column.name == "age_min") model.age_min = std::get<std::vector<double>>(column.values);
    if (column.name == "age_max") model.age_max = std::get<std::vector<double>>(column.values);
  }
  model.knots = file.read_array("/normative/knots");
  const std::size_t m = model.measures.size(), p = model.parameters();
  const auto coefficients = file.read_array("/normative/coefficients");
  const auto xtx = file.read_array("/normative/xtx_inverse");
  if (model.knots.size() < 3 || coefficients.size() != m * p || xtx.size() != m * p * p || model.sigma.size() != m)
    throw Error(path.string() + ": the normative model's arrays disagree in size");
  model.coefficients = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      coefficients.data(), long(m), long(p));
  for (std::size_t k = 0; k < m; ++k)
    model.xtx_inverse.push_back(
        Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(xtx.data() + k * p * p,
                                                                                                 long(p), long(p)));
  return model;
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
  for (std::size_t i = 0; i < c.size(); ++i) {
    const bool male = c.sex[i] == "M";
    for (const auto& [m, k] : pairs) {
      const double v = measures.values(long(i), long(m));
      if (!(v > 0)) {
        if (!std::isnan(v)) notes.push_back("scores: " + c.scan_id[i] + " has no " + measures.names[m] + " volume");
        continue;
      }
      const auto prediction = model.predict(k, c.age[i], male);
      const double z = (std::log(v) - prediction.log_mean) / prediction.se_obs;
      const bool outside = c.age[i] < model.age_min[k] || c.age[i] > model.age_max[k];
      table.rows.push_back({c.scan_id[i], measures.names[m], c.age[i], c.sex[i], v, std::exp(prediction.log_mean), z,
                            100 * normal_cdf(z), yes_no(std::fabs(z) > threshold), yes_no(outside)});
    }
  }
  return table;
}

}  // namespace nc::norms
