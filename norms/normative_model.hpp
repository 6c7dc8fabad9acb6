#pragma once
/// \file
/// The normative model: per measure, ln(volume) as a restricted cubic spline of age plus a
/// sex term, fitted on the reference group, with the residual spread and (X'X)⁻¹ that turn
/// a new scan's volume into a z-score and a centile (docs/statistics.md has the formulas).

#include <Eigen/Dense>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/table_file.hpp"
#include "norms/analyses.hpp"
#include "norms/cohort.hpp"
#include "norms/table.hpp"

namespace nc::norms {

struct NormativeModel {
  std::vector<double> knots;
  std::vector<std::string> measures;
  Eigen::MatrixXd coefficients;  ///< measures × parameters: intercept, sex[M], age, C_1 … C_{K−2}
  std::vector<Eigen::MatrixXd> xtx_inverse;
  std::vector<double> sigma, n, age_min, age_max;

  std::size_t parameters() const { return knots.size() + 1; }
  Eigen::VectorXd design_row(double age, bool male) const;

  struct Prediction {
    double log_mean = 0;  ///< x0'β, the expected ln(volume)
    double se_obs = 0;    ///< σ √(1 + x0'(X'X)⁻¹x0)
  };
  Prediction predict(std::size_t measure, double age, bool male) const;
};

/// Fits the model on the reference rows; nullopt (with a note) when it cannot be built at all.
std::optional<NormativeModel> fit_normative_model(const Cohort& cohort, const MeasureSet& measures,
                                                  const std::vector<long>& reference, int knots, Notes& notes);

void write_normative_model(const NormativeModel& model, io::TableFile& file);
/// \throws Error when the file has no normative model.
NormativeModel read_normative_model(const io::TableFile& file, const std::filesystem::path& path);

/// scores.tsv: each scan's z-score and centile per measure the model has.
/// \throws Error when the cohort has a region the model does not know.
Table score(const Cohort& cohort, const NormativeModel& model, double threshold, Notes& notes);

}  // namespace nc::norms
