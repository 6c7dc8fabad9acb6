#include "norms/spline.hpp"

#include <string>

#include "core/error.hpp"
#include "core/quantile.hpp"

namespace nc::norms {

std::vector<double> spline_knots(const std::vector<double>& values, int k) {
  if (k < 3) throw Error("a restricted cubic spline needs at least 3 knots, not " + std::to_string(k));
  std::vector<double> q;
  if (k == 4) {
    q = {0.05, 0.35, 0.65, 0.95};
  } else {
    for (int i = 0; i < k; ++i) q.push_back(0.05 + 0.90 * double(i) / double(k - 1));
  }
  std::vector<double> knots;
  for (double at : q) knots.push_back(quantile(values, at));
  for (std::size_t i = 1; i < knots.size(); ++i)
    if (!(knots[i] > knots[i - 1]))
      throw Error("the ages give coincident spline knots (" + std::to_string(knots[i]) +
                  "): too few distinct ages for " + std::to_string(k) + " knots");
  return knots;
}

std::vector<double> spline_basis(double x, const std::vector<double>& knots) {
  const std::size_t k = knots.size();
  const double last = knots[k - 1], before_last = knots[k - 2];
  const double scale = (last - knots[0]) * (last - knots[0]);
  const auto cube_plus = [](double v) { return v > 0 ? v * v * v : 0.0; };
  std::vector<double> basis{x};
  for (std::size_t j = 0; j + 2 < k; ++j) {
    const double t = knots[j];
    const double term = cube_plus(x - t) - cube_plus(x - before_last) * (last - t) / (last - before_last) +
                        cube_plus(x - last) * (before_last - t) / (last - before_last);
    basis.push_back(term / scale);
  }
  return basis;
}

}  // namespace nc::norms
