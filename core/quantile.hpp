#pragma once
/// \file
/// numpy's default quantile, for every statistic that the tests check against numpy (the norms'
/// medians and spline knots, the 95th-percentile surface distance of HD95).

#include <algorithm>
#include <cstddef>
#include <vector>

namespace nc {

/// The q-quantile (q in [0, 1]) as numpy.percentile(values, 100 q) computes it by default: linear
/// interpolation between the two order statistics around position q (n − 1). Only those two are
/// found (nth_element), not a full sort. \pre values not empty
inline double quantile(std::vector<double> values, double q) {
  const double position = q * double(values.size() - 1);
  const std::size_t below = std::size_t(position);
  const auto nth = values.begin() + std::ptrdiff_t(below);
  std::nth_element(values.begin(), nth, values.end());
  if (below + 1 >= values.size()) return *nth;
  const double next = *std::min_element(nth + 1, values.end());
  return *nth + (next - *nth) * (position - double(below));
}

}  // namespace nc
