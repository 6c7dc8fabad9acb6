#pragma once
/// \file
/// Per-voxel and per-line math of skull stripping, shared by the oneTBB and CUDA paths: the
/// intensity window test and the 1-D pass of the exact Euclidean distance transform
/// (Felzenszwalb & Huttenlocher's lower envelope of parabolas), on which the morphology is
/// built: a voxel survives erosion by a ball of radius r when its distance to the nearest
/// background voxel exceeds r, and is added by dilation when its distance to the nearest
/// foreground voxel is at most r.

#include <cstdint>

#include "core/nc_hd.hpp"

namespace nc::kernels {

/// Squared distance standing in for "infinitely far" (no feature voxel on the line yet).
inline constexpr float kFarSquared = 1e20f;

/// 1 when lower <= value <= upper.
NC_HD inline std::uint8_t in_window(float value, float lower, float upper) {
  return value >= lower && value <= upper ? 1 : 0;
}

/// One 1-D pass of the squared Euclidean distance transform along a line of `n` samples
/// `stride` apart: d[q] = min_p ((spacing·(q−p))² + f[p]). `f` is read and overwritten in place.
/// Scratch: `v` (n ints) and `z` (n+1 floats), owned by the caller.
NC_HD inline void distance_transform_line(float* f, std::int64_t stride, int n, float spacing, int* v, float* z,
                                          float* d) {
  const float s2 = spacing * spacing;
  int k = 0;
  v[0] = 0;
  z[0] = -kFarSquared;
  z[1] = kFarSquared;
  for (int q = 1; q < n; ++q) {
    const float fq = f[q * stride];
    float boundary;
    while (true) {
      const int p = v[k];
      // Where the parabolas from q and from v[k] intersect, in sample units.
      boundary = ((fq + s2 * float(q) * float(q)) - (f[p * stride] + s2 * float(p) * float(p))) /
                 (2.0f * s2 * float(q - p));
      if (boundary > z[k] || k == 0) break;
      --k;
    }
    if (boundary <= z[k]) {  // k == 0 and the new parabola dominates everywhere
      v[0] = q;
      z[0] = -kFarSquared;
      z[1] = kFarSquared;
      k = 0;
      continue;
    }
    ++k;
    v[k] = q;
    z[k] = boundary;
    z[k + 1] = kFarSquared;
  }
  k = 0;
  for (int q = 0; q < n; ++q) {
    while (z[k + 1] < float(q)) ++k;
    const float dq = spacing * float(q - v[k]);
    d[q] = dq * dq + f[v[k] * stride];
  }
  for (int q = 0; q < n; ++q) f[q * stride] = d[q];
}

}  // namespace nc::kernels
