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
  NC_HD std::int64_t count() const { return nx * ny * nz; }
};

/// Affine map from an output voxel index to a continuous input voxel index:
/// input = m · output + b (row-major m). Both grids' geometry is folded into it once, on
/// the host, so the per-voxel work is one multiply-add per axis.
struct IndexMap {
  double m[9];
  double b[3];
};

NC_HD inline void map_index(const IndexMap& map, double i, double j, double k, double& x, double& y, double& z) {
  x = map.m[0] * i + map.m[1] * j + map.m[2] * k + map.b[0];
  y = map.m[3] * i + map.m[4] * j + map.m[5] * k + map.b[1];
  z = map.m[6] * i + map.m[7] * j + map.m[8] * k + map.b[2];
}

NC_HD inline bool index_inside(const GridDims& d, double i, double j, double k) {
  return i >= -0.5 && j >= -0.5 && k >= -0.5 && i <= double(d.nx) - 0.5 && j <= double(d.ny) - 0.5 &&
         k <= double(d.nz) - 0.5;
}

NC_HD inline std::int64_t clamp_index(std::int64_t v, std::int64_t n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

/// Trilinear interpolation strictly inside the grid (0 <= i < nx-1, and so on for j, k): no
/// clamping, single-precision weights. The common case, so it is kept lean.
template <typename T>
NC_HD inline float sample_trilinear_interior(const T* data, const GridDims& d, double i, double j, double k) {
  const std::int64_t i0 = std::int64_t(i), j0 = std::int64_t(j), k0 = std::int64_t(k);  // truncation = floor here
  const float ti = float(i - double(i0)), tj = float(j - double(j0)), tk = float(k - double(k0));
  const std::int64_t sy = d.nx, sz = d.nx * d.ny;
  const T* p = data + i0 + sy * j0 + sz * k0;
  const float c00 = float(p[0]) + (float(p[1]) - float(p[0])) * ti;
  const float c10 = float(p[sy]) + (float(p[sy + 1]) - float(p[sy])) * ti;
  const float c01 = float(p[sz]) + (float(p[sz + 1]) - float(p[sz])) * ti;
  const float c11 = float(p[sz + sy]) + (float(p[sz + sy + 1]) - float(p[sz + sy])) * ti;
  const float c0 = c00 + (c10 - c00) * tj;
  const float c1 = c01 + (c11 - c01) * tj;
  return c0 + (c1 - c0) * tk;
}

/// Trilinear interpolation of `data` at continuous index (i, j, k); `outside` beyond the border.
template <typename T>
NC_HD inline float sample_trilinear(const T* data, const GridDims& d, double i, double j, double k, float outside) {
  if (!index_inside(d, i, j, k)) return outside;
  if (i >= 0 && j >= 0 && k >= 0 && i < double(d.nx - 1) && j < double(d.ny - 1) && k < double(d.nz - 1))
    return sample_trilinear_interior(data, d, i, j, k);
  // The outer half voxel (and grids one voxel thin): neighbours clamped to the grid.
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

/// The class whose probability, trilinearly interpolated at continuous index (i, j, k), is the
/// largest; `probabilities` holds `classes` volumes of `d` one after another. Interpolating the
/// probabilities and then taking the argmax (rather than upsampling a label map) keeps region
/// borders smooth when a network runs on a coarser grid. Beyond the border: class 0.
NC_HD inline std::uint16_t argmax_trilinear(const float* probabilities, int classes, const GridDims& d, double i,
                                            double j, double k) {
  if (!index_inside(d, i, j, k)) return 0;
  const double fi = std::floor(i), fj = std::floor(j), fk = std::floor(k);
  const float ti = float(i - fi), tj = float(j - fj), tk = float(k - fk);
  const std::int64_t i0 = clamp_index(std::int64_t(fi), d.nx), i1 = clamp_index(std::int64_t(fi) + 1, d.nx);
  const std::int64_t j0 = clamp_index(std::int64_t(fj), d.ny), j1 = clamp_index(std::int64_t(fj) + 1, d.ny);
  const std::int64_t k0 = clamp_index(std::int64_t(fk), d.nz), k1 = clamp_index(std::int64_t(fk) + 1, d.nz);
  // The eight neighbours and their weights, computed once for all classes.
  const std::int64_t offset[8] = {i0 + d.nx * (j0 + d.ny * k0), i1 + d.nx * (j0 + d.ny * k0),
                                  i0 + d.nx * (j1 + d.ny * k0), i1 + d.nx * (j1 + d.ny * k0),
                                  i0 + d.nx * (j0 + d.ny * k1), i1 + d.nx * (j0 + d.ny * k1),
                                  i0 + d.nx * (j1 + d.ny * k1), i1 + d.nx * (j1 + d.ny * k1)};
  const float weight[8] = {(1 - ti) * (1 - tj) * (1 - tk), ti * (1 - tj) * (1 - tk), (1 - ti) * tj * (1 - tk),
                           ti * tj * (1 - tk),             (1 - ti) * (1 - tj) * tk, ti * (1 - tj) * tk,
                           (1 - ti) * tj * tk,             ti * tj * tk};
  const std::int64_t n = d.count();
  std::uint16_t best = 0;
  float best_p = -1.0f;
  for (int c = 0; c < classes; ++c) {
    const float* p = probabilities + n * c;
    float v = 0.0f;
    for (int q = 0; q < 8; ++q) v += weight[q] * p[offset[q]];
    if (v > best_p) {  // ties go to the lower class, as numpy's and torch's argmax do
      best_p = v;
      best = std::uint16_t(c);
    }
  }
  return best;
}

enum class Interpolation { Linear, Nearest };

/// The value of output voxel (i, j, k): its continuous input index through `map`, sampled.
template <Interpolation kInterpolation, typename T>
NC_HD inline T resample_voxel(const T* input, const GridDims& in, const IndexMap& map, std::int64_t i,
                              std::int64_t j, std::int64_t k, T outside) {
  double x, y, z;
  map_index(map, double(i), double(j), double(k), x, y, z);
  if constexpr (kInterpolation == Interpolation::Linear)
    return T(sample_trilinear(input, in, x, y, z, float(outside)));
  else
    return sample_nearest(input, in, x, y, z, outside);
}

}  // namespace nc::kernels
