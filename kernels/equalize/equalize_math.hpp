#pragma once
/// \file
/// Per-voxel math of adaptive histogram equalization with the semantics of ITK's
/// AdaptiveHistogramEqualizationImageFilter, shared by the oneTBB and CUDA paths.
///
/// Intensities are normalised to u ∈ [-0.5, 0.5] by the image's minimum and maximum. For a
/// voxel u and the n in-image voxels v of its box window (radius r per axis),
///   out(u) = β·u + (1/n) Σ_v ½·sgn(u−v)·|2(u−v)|^α − ½·β·sgn(u−v)·|2(u−v)|,
/// mapped back by min + (max − min)·(out + ½). As ITK documents it: α = 0 is classical
/// histogram equalization (the window's CDF), α = 1 an unsharp mask; β moves from unsharp
/// masking (β = 0) to passing the input through (β = 1 with α = 1). neurocohort quantises the
/// window histogram to kAheBins levels and tabulates the bracket per level difference, which
/// keeps the result within a fraction of a percent of ITK's exact sum.
///
/// Both backends take the levels, the term table and the output mapping from here, but each
/// sums the window its own way, so they agree to 1e-4 of the intensity range, not bit for bit.
/// The oneTBB path keeps the window as a histogram that slides along i voxel by voxel (and
/// along j row by row) and weights its occupied levels in 16 float lanes; the CUDA path gives
/// each voxel a thread that adds the (2r + 1)³ terms of its window directly, in double. Either algorithm
/// would cost the other backend its speed. The direct sum on the CPU took 14 times as long
/// (1.26 µs against 90 ns per voxel, one thread, radius 5). The sliding histogram is serial
/// along each row, which leaves the GPU one thread per row (39,000 for Colin27, where an H200
/// holds 270,000), each with its own 1 KiB histogram instead of a block's shared 2 KiB table.
/// Nor would sharing give equal bits: the CPU's x86-64-v3 and v4 clones fuse the lane updates
/// into FMAs and its baseline clone does not, so its own output already depends on the CPU.

#include <cmath>
#include <cstdint>

#include "core/nc_hd.hpp"

namespace nc::kernels {

inline constexpr int kAheBins = 256;

/// Histogram level of a normalised intensity in [0, 1].
NC_HD inline int ahe_level(float unit) {
  const int level = int(unit * float(kAheBins - 1) + 0.5f);
  return level < 0 ? 0 : (level > kAheBins - 1 ? kAheBins - 1 : level);
}

/// The bracketed term of the sum for a level difference d = level(u) − level(v), in
/// normalised units (d / (kAheBins − 1)).
inline float ahe_term(int level_difference, float alpha, float beta) {
  const double d = double(level_difference) / double(kAheBins - 1);
  const double s = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
  const double ad = std::abs(2.0 * d);
  return float(0.5 * s * std::pow(ad, double(alpha)) - 0.5 * double(beta) * s * ad);
}

/// The equalized intensity from the window's term sum over its `count` in-image voxels.
NC_HD inline float ahe_output(float u_normalised, double term_sum, double count, float beta, float minimum,
                              float range) {
  const double out = double(beta) * double(u_normalised) + term_sum / count;
  return float(double(minimum) + double(range) * (out + 0.5));
}

}  // namespace nc::kernels
