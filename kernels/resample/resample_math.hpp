#pragma once
/// \file
/// Per-voxel sampling math shared by the oneTBB and CUDA resampling paths (and the synthetic
/// cohort generator): trilinear and nearest-neighbour lookup at a continuous voxel index.
///
/// Border handling: a continuous index is inside when every coordinate lies in
/// [-0.5, size - 0.5] (the voxel footprints). Inside, trilinear sampling clamps the eight
/// neighbours to the grid, so values extend flat to the outer half voxel; outside, both
/// samplers return the caller's `outside` value.

#include <cmath>
#include <cstdint>

#include "core/nc_hd.hpp"

namespace nc::kernels {

/// Dimensions of a voxel grid (i fastest in memory).
struct GridDims {
  std::int64_t nx = 0, ny = 0, nz = 0;
};

NC_HD inline bool index_inside(const GridDims& d, double i, double j, double k) {
  return i >= -0.5 && j >= -0.5 && k >= -0.5 && i <= double(d.nx) - 0.5 && j <= double(d.ny) - 0.5 &&
         k <= double(d.nz) - 0.5;
}

NC_HD inline std::int64_t clamp_index(std::int64_t v, std::int64_t n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

/// Trilinear interpolation of `data` at continuous index (i, j, k); `outside` beyond the border.
template <typename T>
NC_HD inline float sample_trilinear(const T* data, const GridDims& d, double i, double j, double k, float outside) {
  if (!index_inside(d, i, j, k)) return outside;
  const double fi = std::floor(i), fj = std::floor(j), fk = std::floor(k);
  const double ti = i - fi, tj = j - fj, tk = k - fk;
  const std::int64_t i0 = clamp_index(std::int64_t(fi), d.nx), i1 = clamp_index(std::int64_t(fi) + 1, d.nx);
  const std::int64_t j0 = clamp_index(std::int64_t(fj), d.ny), j1 = clamp_index(std::int64_t(fj) + 1, d.ny);
  const std::int64_t k0 = clamp_index(std::int64_t(fk), d.nz), k1 = clamp_index(std::int64_t(fk) + 1, d.nz);
  const auto at = [&](std::int64_t a, std::int64_t b, std::int64_t c) {
    return double(data[a + d.nx * (b + d.ny * c)]);
  };
  const double c00 = at(i0, j0, k0) * (1 - ti) + at(i1, j0, k0) * ti;
  const double c10 = at(i0, j1, k0) * (1 - ti) + at(i1, j1, k0) * ti;
  const double c01 = at(i0, j0, k1) * (1 - ti) + at(i1, j0, k1) * ti;
  const double c11 = at(i0, j1, k1) * (1 - ti) + at(i1, j1, k1) * ti;
  const double c0 = c00 * (1 - tj) + c10 * tj;
  const double c1 = c01 * (1 - tj) + c11 * tj;
  return float(c0 * (1 - tk) + c1 * tk);
}

/// Nearest-neighbour lookup (labels, masks) at continuous index (i, j, k).
template <typename T>
NC_HD inline T sample_nearest(const T* data, const GridDims& d, double i, double j, double k, T outside) {
  if (!index_inside(d, i, j, k)) return outside;
  const std::int64_t a = clamp_index(std::int64_t(std::floor(i + 0.5)), d.nx);
  const std::int64_t b = clamp_index(std::int64_t(std::floor(j + 0.5)), d.ny);
  const std::int64_t c = clamp_index(std::int64_t(std::floor(k + 0.5)), d.nz);
  return data[a + d.nx * (b + d.ny * c)];
}

}  // namespace nc::kernels
