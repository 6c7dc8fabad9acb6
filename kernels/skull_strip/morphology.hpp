#pragma once
/// \file
/// Host helper of the bit-packed morphology shared by both backends: the ball's rows for a
/// radius and spacing.

#include <cmath>
#include <vector>

#include "core/geometry.hpp"
#include "kernels/skull_strip/skull_strip_math.hpp"

namespace nc::kernels::detail {

/// The (j, k) offsets of a ball of `radius_mm` with their half-widths along i, for voxel
/// spacing `g.spacing_mm`: offset (a, b, c) is in the ball when (a·sx)² + (b·sy)² + (c·sz)² ≤ r².
inline std::vector<BallRow> ball_rows(const Geometry& g, double radius_mm) {
  std::vector<BallRow> rows;
  const auto reach = [&](int axis) { return int(std::floor(radius_mm / g.spacing_mm[axis])); };
  const double r2 = radius_mm * radius_mm;
  for (int dk = -reach(2); dk <= reach(2); ++dk)
    for (int dj = -reach(1); dj <= reach(1); ++dj) {
      const double rest = r2 - std::pow(dj * g.spacing_mm[1], 2) - std::pow(dk * g.spacing_mm[2], 2);
      if (rest < 0) continue;
      rows.push_back({dj, dk, std::min(63, int(std::floor(std::sqrt(rest) / g.spacing_mm[0] + 1e-9)))});
    }
  return rows;
}

}  // namespace nc::kernels::detail
