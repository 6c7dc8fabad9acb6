#pragma once
/// \file
/// Restricted (natural) cubic splines of age, Harrell's parameterisation: cubic between the
/// knots, linear beyond the outer ones, K knots giving K − 1 columns (x and K − 2 cubic
/// terms), each cubic term divided by (t_K − t_1)² to keep the design well scaled.

#include <vector>

namespace nc::norms {

/// Knot positions as quantiles of the data: Harrell's 5/35/65/95 % for four knots, else
/// spread evenly between the 5th and 95th percentiles.
/// \throws Error when k < 3 or the knots coincide (too few distinct values).
std::vector<double> spline_knots(const std::vector<double>& values, int k);

/// The K − 1 basis values at x: x, then C_1(x) … C_{K−2}(x).
std::vector<double> spline_basis(double x, const std::vector<double>& knots);

}  // namespace nc::norms
