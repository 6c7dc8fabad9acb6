#pragma once
/// \file
/// Where a voxel grid sits in physical space, in ITK's convention (LPS, millimetres):
/// physical = origin + direction · diag(spacing) · index. Every stage works in physical space
/// through these functions, so an image stored oblique, LPS or RAS gives the same result.
/// Host code: kernels fold the geometry into an IndexMap (resample_math.hpp) before the loop.

#include <array>
#include <cmath>
#include <cstdint>


namespace nc {

using Vec3 = std::array<double, 3>;
/// Row-major 3×3 matrix; column j is the physical direction of voxel axis j.
using Mat3 = std::array<double, 9>;

inline constexpr Mat3 kIdentity3 = {1, 0, 0, 0, 1, 0, 0, 0, 1};

/// A 3-D voxel grid in physical space.
struct Geometry {
  std::array<std::int64_t, 3> size{0, 0, 0};  ///< voxels along i, j, k (i fastest in memory)
  Vec3 spacing_mm{1, 1, 1};
  Vec3 origin_mm{0, 0, 0};  ///< physical position of voxel (0,0,0)'s centre
  Mat3 direction = kIdentity3;

  std::int64_t voxel_count() const { return size[0] * size[1] * size[2]; }
  /// Volume of one voxel in millilitres (1 mL = 1000 mm³).
  double voxel_volume_ml() const { return spacing_mm[0] * spacing_mm[1] * spacing_mm[2] / 1000.0; }
  std::int64_t linear_index(std::int64_t i, std::int64_t j, std::int64_t k) const {
    return i + size[0] * (j + size[1] * k);
  }
  bool operator==(const Geometry&) const = default;
};

/// Physical point (mm) of a continuous voxel index.
inline Vec3 index_to_physical(const Geometry& g, const Vec3& index) {
  Vec3 p = g.origin_mm;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) p[r] += g.direction[r * 3 + c] * g.spacing_mm[c] * index[c];
  return p;
}

/// Inverse of direction · diag(spacing); precondition: the direction matrix is invertible.
inline Mat3 physical_to_index_matrix(const Geometry& g) {
  Mat3 m{};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r * 3 + c] = g.direction[r * 3 + c] * g.spacing_mm[c];
  const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                     m[2] * (m[3] * m[7] - m[4] * m[6]);
  Mat3 inv{};
  inv[0] = (m[4] * m[8] - m[5] * m[7]) / det;
  inv[1] = (m[2] * m[7] - m[1] * m[8]) / det;
  inv[2] = (m[1] * m[5] - m[2] * m[4]) / det;
  inv[3] = (m[5] * m[6] - m[3] * m[8]) / det;
  inv[4] = (m[0] * m[8] - m[2] * m[6]) / det;
  inv[5] = (m[2] * m[3] - m[0] * m[5]) / det;
  inv[6] = (m[3] * m[7] - m[4] * m[6]) / det;
  inv[7] = (m[1] * m[6] - m[0] * m[7]) / det;
  inv[8] = (m[0] * m[4] - m[1] * m[3]) / det;
  return inv;
}

/// Continuous voxel index of a physical point, given physical_to_index_matrix(g).
inline Vec3 physical_to_index(const Geometry& g, const Mat3& to_index, const Vec3& p) {
  const Vec3 d = {p[0] - g.origin_mm[0], p[1] - g.origin_mm[1], p[2] - g.origin_mm[2]};
  Vec3 idx{};
  for (int r = 0; r < 3; ++r)
    idx[r] = to_index[r * 3] * d[0] + to_index[r * 3 + 1] * d[1] + to_index[r * 3 + 2] * d[2];
  return idx;
}

}  // namespace nc
