#pragma once
/// \file
/// Per-voxel math of 3-D CLAHE with the semantics of skimage.exposure.equalize_adapthist,
/// shared by the oneTBB and CUDA paths: the reflect padding of indices and the trilinear
/// blend of the eight neighbouring tiles' grey-level mappings.

#include <cstdint>

#include "core/nc_hd.hpp"

namespace nc::kernels {

/// Grey levels of the working image (skimage's NR_OF_GRAY).
inline constexpr int kClaheLevels = 1 << 14;

/// numpy's 'reflect' padding: index p of an axis of n samples, mirrored about the end samples.
NC_HD inline std::int64_t reflect_index(std::int64_t p, std::int64_t n) {
  if (n == 1) return 0;
  const std::int64_t period = 2 * (n - 1);
  p %= period;
  if (p < 0) p += period;
  return p < n ? p : period - p;
}

/// The equalized level of a voxel whose padded index is `p` (per axis) and histogram bin is
/// `bin`: the tile mappings around it blended trilinearly, as skimage does. `maps` holds
/// nbins entries per tile, tiles i fastest; `tiles` counts them per axis; `kernel` is the
/// tile size. Accumulates in float, like skimage, and truncates to an integer level.
NC_HD inline std::uint16_t clahe_blend(const std::int32_t* maps, int nbins, const std::int64_t tiles[3],
                                       const std::int64_t kernel[3], const std::int64_t p[3], int bin) {
  std::int64_t block[3];
  double c[3];
  for (int a = 0; a < 3; ++a) {
    block[a] = p[a] / kernel[a];
    c[a] = double(p[a] % kernel[a]) / double(kernel[a]);
  }
  float sum = 0.0f;
  for (int corner = 0; corner < 8; ++corner) {
    double weight = 1.0;
    std::int64_t tile[3];
    for (int a = 0; a < 3; ++a) {
      const int e = (corner >> a) & 1;
      weight *= e ? c[a] : 1.0 - c[a];
      // Block b blends tiles b-1 and b; the edge tiles repeat beyond the grid of tiles.
      std::int64_t t = block[a] + e - 1;
      tile[a] = t < 0 ? 0 : (t >= tiles[a] ? tiles[a] - 1 : t);
    }
    const std::int64_t index = tile[0] + tiles[0] * (tile[1] + tiles[1] * tile[2]);
    sum += float(double(maps[index * nbins + bin]) * weight);
  }
  return std::uint16_t(sum);
}

}  // namespace nc::kernels
