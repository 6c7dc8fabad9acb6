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

/// Continuous index x within the outer half voxel of n grid positions along one axis.
NC_HD inline bool inside_along(double x, std::int64_t n) { return x >= -0.5 && x <= double(n) - 0.5; }

NC_HD inline bool index_inside(const GridDims& d, double i, double j, double k) {
  return inside_along(i, d.nx) && inside_along(j, d.ny) && inside_along(k, d.nz);
}

NC_HD inline std::int64_t clamp_index(std::int64_t v, std::int64_t n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

/// How a lerp from a to b at t is rounded: a + (b − a)·t, or a·(1 − t) + b·t. Equal in exact
/// arithmetic; each sampling path keeps the one it has always used, because the other moves
/// some of its results by a float ulp (132 of 403,680 voxels of an axis-aligned 3 mm-slice
/// input when the border path switched), and the CPU's outputs are kept bit for bit.
enum class Lerp { Difference, Weights };

template <Lerp kLerp, typename S>
NC_HD inline S lerp(S a, S b, S t) {
  if constexpr (kLerp == Lerp::Difference)
    return a + (b - a) * t;
  else
    return a * (1 - t) + b * t;
}

/// The trilinear blend, in precision S, of the eight values `c` of a cell's corners at
/// fractions (ti, tj, tk) ∈ [0, 1] between them: corner q lies at +(q & 1) along i,
/// +(q >> 1 & 1) along j and +(q >> 2) along k. Four lerps along i, two along j, one along k.
/// Both paths of sample_trilinear blend through it (argmax_trilinear says why it does not).
template <Lerp kLerp, typename S>
NC_HD inline S trilinear_blend(const S c[8], S ti, S tj, S tk) {
  const S c0 = lerp<kLerp>(lerp<kLerp>(c[0], c[1], ti), lerp<kLerp>(c[2], c[3], ti), tj);
  const S c1 = lerp<kLerp>(lerp<kLerp>(c[4], c[5], ti), lerp<kLerp>(c[6], c[7], ti), tj);
  return lerp<kLerp>(c0, c1, tk);
}

/// The cell around a continuous index: its eight corners (in trilinear_blend's order) as
/// offsets into a volume of `d`, clamped to the grid so that values extend flat over the outer
/// half voxel and grids one voxel thin, and the index's fractions between them.
struct ClampedCell {
  std::int64_t offset[8];
  double ti, tj, tk;
};

/// One axis of a clamped cell: the two neighbouring grid positions of continuous index x
/// among n, clamped to the grid, and x's fraction between them.
struct AxisCell {
  std::int64_t lo, hi;
  double t;
};

NC_HD inline AxisCell axis_cell(double x, std::int64_t n) {
  const double f = std::floor(x);
  return {clamp_index(std::int64_t(f), n), clamp_index(std::int64_t(f) + 1, n), x - f};
}

/// The cell of three axis cells, on a grid whose rows hold nx and whose slices nx · ny voxels.
NC_HD inline ClampedCell cell_of(const AxisCell& a, const AxisCell& b, const AxisCell& c, std::int64_t nx,
                                 std::int64_t ny) {
  return {{a.lo + nx * (b.lo + ny * c.lo), a.hi + nx * (b.lo + ny * c.lo), a.lo + nx * (b.hi + ny * c.lo),
           a.hi + nx * (b.hi + ny * c.lo), a.lo + nx * (b.lo + ny * c.hi), a.hi + nx * (b.lo + ny * c.hi),
           a.lo + nx * (b.hi + ny * c.hi), a.hi + nx * (b.hi + ny * c.hi)},
          a.t,
          b.t,
          c.t};
}

NC_HD inline ClampedCell clamped_cell(const GridDims& d, double i, double j, double k) {
  return cell_of(axis_cell(i, d.nx), axis_cell(j, d.ny), axis_cell(k, d.nz), d.nx, d.ny);
}

/// Trilinear interpolation strictly inside the grid (0 <= i < nx-1, and so on for j, k): no
/// clamping, single-precision weights. The common case, so it is kept lean.
template <typename T>
NC_HD inline float sample_trilinear_interior(const T* data, const GridDims& d, double i, double j, double k) {
  const std::int64_t i0 = std::int64_t(i), j0 = std::int64_t(j), k0 = std::int64_t(k);  // truncation = floor here
  const std::int64_t sy = d.nx, sz = d.nx * d.ny;
  const T* p = data + i0 + sy * j0 + sz * k0;
  const float c[8] = {float(p[0]),  float(p[1]),      float(p[sy]),      float(p[sy + 1]),
                      float(p[sz]), float(p[sz + 1]), float(p[sz + sy]), float(p[sz + sy + 1])};
  return trilinear_blend<Lerp::Difference>(c, float(i - double(i0)), float(j - double(j0)), float(k - double(k0)));
}

/// Trilinear interpolation of `data` at continuous index (i, j, k); `outside` beyond the border.
template <typename T>
NC_HD inline float sample_trilinear(const T* data, const GridDims& d, double i, double j, double k, float outside) {
  if (!index_inside(d, i, j, k)) return outside;
  if (i >= 0 && j >= 0 && k >= 0 && i < double(d.nx - 1) && j < double(d.ny - 1) && k < double(d.nz - 1))
    return sample_trilinear_interior(data, d, i, j, k);
  // The outer half voxel (and grids one voxel thin): neighbours clamped to the grid, blended in double.
  const ClampedCell cell = clamped_cell(d, i, j, k);
  double c[8];
  for (int q = 0; q < 8; ++q) c[q] = double(data[cell.offset[q]]);
  return float(trilinear_blend<Lerp::Weights>(c, cell.ti, cell.tj, cell.tk));
}

/// The nearest of n grid positions along one axis to continuous index x, into `a`; false
/// beyond the outer half voxel (where index_inside fails on this axis).
NC_HD inline bool nearest_along(double x, std::int64_t n, std::int64_t& a) {
  if (!inside_along(x, n)) return false;
  a = clamp_index(std::int64_t(std::floor(x + 0.5)), n);
  return true;
}

/// Nearest-neighbour lookup (labels, masks) at continuous index (i, j, k).
template <typename T>
NC_HD inline T sample_nearest(const T* data, const GridDims& d, double i, double j, double k, T outside) {
  std::int64_t a = 0, b = 0, c = 0;
  if (!nearest_along(i, d.nx, a) || !nearest_along(j, d.ny, b) || !nearest_along(k, d.nz, c)) return outside;
  return data[a + d.nx * (b + d.ny * c)];
}

/// The class whose trilinear blend over `cell` is the largest, for `probabilities` of
/// `classes` volumes of n voxels each: shared by argmax_trilinear and the CPU's path for grids
/// that share their axes.
NC_HD inline std::uint16_t argmax_in_cell(const float* probabilities, int classes, std::int64_t n,
                                          const ClampedCell& cell) {
  const float ti = float(cell.ti), tj = float(cell.tj), tk = float(cell.tk);
  // The corners' weights, once for all classes, then a dot product per class. Not
  // trilinear_blend: its lerps round differently from these products, and labels would change
  // where two classes tie to within a float rounding (measured: about one voxel in 10^7 of
  // continuous probabilities, one in 10^5 of probabilities in steps of 0.001).
  const float weight[8] = {(1 - ti) * (1 - tj) * (1 - tk), ti * (1 - tj) * (1 - tk), (1 - ti) * tj * (1 - tk),
                           ti * tj * (1 - tk),             (1 - ti) * (1 - tj) * tk, ti * (1 - tj) * tk,
                           (1 - ti) * tj * tk,             ti * tj * tk};
  std::uint16_t best = 0;
  float best_p = -1.0f;
  for (int c = 0; c < classes; ++c) {
    const float* p = probabilities + n * c;
    float v = 0.0f;
    for (int q = 0; q < 8; ++q) v += weight[q] * p[cell.offset[q]];
    if (v > best_p) {  // ties go to the lower class, as numpy's and torch's argmax do
      best_p = v;
      best = std::uint16_t(c);
    }
  }
  return best;
}

/// The class whose probability, trilinearly interpolated at continuous index (i, j, k), is the
/// largest; `probabilities` holds `classes` volumes of `d` one after another. Interpolating the
/// probabilities and then taking the argmax (rather than upsampling a label map) keeps region
/// borders smooth when a network runs on a coarser grid. Beyond the border: class 0.
NC_HD inline std::uint16_t argmax_trilinear(const float* probabilities, int classes, const GridDims& d, double i,
                                            double j, double k) {
  if (!index_inside(d, i, j, k)) return 0;
  return argmax_in_cell(probabilities, classes, d.count(), clamped_cell(d, i, j, k));
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
