// CLAHE with skimage's semantics: the tile histograms and their clipping and mapping (small:
// tiles × nbins) on the host, the per-voxel blend on the chosen backend.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/common/finite.hpp"
#include "kernels/equalize/clahe_math.hpp"
#include "kernels/equalize/equalize.hpp"

namespace nc::kernels {
namespace {

// skimage's clip_histogram, step for step (its rounding decides which bins get the excess):
// clip at `limit`, add the average excess to bins below limit − average, top up the bins
// then between that and the limit, and hand out what is left along strided passes.
void clip_histogram(std::vector<std::int64_t>& hist, std::int64_t limit) {
  std::int64_t excess = 0;
  for (auto& h : hist)
    if (h > limit) {
      excess += h - limit;
      h = limit;
    }
  const std::int64_t size = std::int64_t(hist.size());
  const std::int64_t increment = excess / size;
  const std::int64_t upper = limit - increment;
  for (auto& h : hist)
    if (h < upper) {
      h += increment;
      excess -= increment;
    }
  for (auto& h : hist)  // after the increment, as skimage computes its mask
    if (h >= upper && h < limit) {
      excess -= limit - h;
      h = limit;
    }
  while (excess > 0) {
    const std::int64_t before = excess;
    for (std::int64_t index = 0; index < size; ++index) {
      const std::int64_t under = std::count_if(hist.begin(), hist.end(), [&](std::int64_t h) { return h < limit; });
      const std::int64_t step = std::max<std::int64_t>(1, under / excess);
      for (std::int64_t b = index; b < size; b += step)
        if (hist[std::size_t(b)] < limit) {
          ++hist[std::size_t(b)];
          --excess;
        }
      if (excess <= 0) break;
    }
    if (before == excess) break;
  }
}

}  // namespace

ImageVolume clahe(const ImageVolume& image, const ClaheParams& params, Backend backend) {
  if (image.voxels.empty()) throw Error("CLAHE: the image is empty");
  require_finite(image, "CLAHE");
  if (params.nbins < 2 || params.nbins > kClaheLevels) throw Error("CLAHE: nbins must lie in [2, 16384]");
  if (backend == Backend::Cuda) require_cuda("CLAHE");
  const Geometry& g = image.geometry;
  std::int64_t kernel[3], pad_start[3], padded[3], tiles[3];
  for (int a = 0; a < 3; ++a) {
    kernel[a] = params.kernel_size[std::size_t(a)] > 0 ? params.kernel_size[std::size_t(a)] : std::max<std::int64_t>(g.size[a] / 8, 1);
    if (kernel[a] > g.size[a]) throw Error("CLAHE: the tile is larger than the image along axis " + std::to_string(a));
    pad_start[a] = kernel[a] / 2;
    const std::int64_t pad_end = (kernel[a] - g.size[a] % kernel[a]) % kernel[a] + (kernel[a] + 1) / 2;
    padded[a] = g.size[a] + pad_start[a] + pad_end;
    tiles[a] = padded[a] / kernel[a] - 1;
  }

  // Grey levels as skimage makes them: [0, 1] → uint16 → rescaled to 0 .. 16383 by their range.
  const auto [lo_it, hi_it] = std::minmax_element(image.voxels.begin(), image.voxels.end());
  const double lo = *lo_it, range = double(*hi_it) - lo;
  std::vector<std::uint16_t> u16(image.voxels.size());
  for (std::size_t n = 0; n < u16.size(); ++n)
    u16[n] = std::uint16_t(std::nearbyint(range > 0 ? (double(image.voxels[n]) - lo) / range * 65535.0 : 0.0));
  const auto [u_lo_it, u_hi_it] = std::minmax_element(u16.begin(), u16.end());
  const double u_lo = *u_lo_it, u_range = double(*u_hi_it) - u_lo;
  const int bin_size = 1 + kClaheLevels / params.nbins;
  std::vector<std::int16_t> bins(u16.size());
  for (std::size_t n = 0; n < u16.size(); ++n) {
    const double level = u_range > 0 ? std::nearbyint((double(u16[n]) - u_lo) / u_range * (kClaheLevels - 1)) : 0.0;
    bins[n] = std::int16_t(int(level) / bin_size);
  }

  // Tile histograms over the reflect-padded image, clipped and turned into mappings.
  const std::int64_t tile_voxels = kernel[0] * kernel[1] * kernel[2];
  const bool clip = params.clip_limit > 0.0;
  const std::int64_t limit = clip ? std::max<std::int64_t>(std::int64_t(params.clip_limit * double(tile_voxels)), 1)
                                  : tile_voxels;
  const std::int64_t tile_count = tiles[0] * tiles[1] * tiles[2];
  std::vector<std::int32_t> maps(std::size_t(tile_count * params.nbins));
  tbb::parallel_for(std::int64_t{0}, tile_count, [&](std::int64_t t) {
    const std::int64_t ti = t % tiles[0], tj = (t / tiles[0]) % tiles[1], tk = t / (tiles[0] * tiles[1]);
    std::vector<std::int64_t> hist(std::size_t(params.nbins), 0);
    for (std::int64_t z = 0; z < kernel[2]; ++z) {
      const std::int64_t k = reflect_index(kernel[2] / 2 + tk * kernel[2] + z - pad_start[2], g.size[2]);
      for (std::int64_t y = 0; y < kernel[1]; ++y) {
        const std::int64_t j = reflect_index(kernel[1] / 2 + tj * kernel[1] + y - pad_start[1], g.size[1]);
        for (std::int64_t x = 0; x < kernel[0]; ++x) {
          const std::int64_t i = reflect_index(kernel[0] / 2 + ti * kernel[0] + x - pad_start[0], g.size[0]);
          ++hist[std::size_t(bins[std::size_t(g.linear_index(i, j, k))])];
        }
      }
    }
    clip_histogram(hist, limit);
    std::int64_t cumulative = 0;
    for (int b = 0; b < params.nbins; ++b) {
      cumulative += hist[std::size_t(b)];
      const double mapped = std::min(double(cumulative) * (double(kClaheLevels - 1) / double(tile_voxels)),
                                     double(kClaheLevels - 1));
      maps[std::size_t(t * params.nbins + b)] = std::int32_t(mapped);
    }
  });

  std::vector<std::uint16_t> levels(image.voxels.size());
  (backend == Backend::Cuda ? detail::clahe_blend_cuda : detail::clahe_blend_cpu)(
      maps.data(), params.nbins, tiles, kernel, pad_start, bins.data(), g, levels.data());

  // skimage returns the result rescaled to [0, 1] by its own range.
  const auto [r_lo_it, r_hi_it] = std::minmax_element(levels.begin(), levels.end());
  const double r_lo = *r_lo_it, r_range = double(*r_hi_it) - r_lo;
  ImageVolume out(g);
  for (std::size_t n = 0; n < levels.size(); ++n)
    out.voxels[n] = r_range > 0 ? float((double(levels[n]) - r_lo) / r_range) : 0.0f;
  return out;
}

namespace detail {

void clahe_blend_cpu(const std::int32_t* maps, int nbins, const std::int64_t tiles[3], const std::int64_t kernel[3],
                     const std::int64_t pad_start[3], const std::int16_t* bins, const Geometry& g,
                     std::uint16_t* out) {
  tbb::parallel_for(std::int64_t{0}, g.size[2], [&](std::int64_t k) {
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i) {
        const std::int64_t p[3] = {i + pad_start[0], j + pad_start[1], k + pad_start[2]};
        const std::size_t v = std::size_t(g.linear_index(i, j, k));
        out[v] = clahe_blend(maps, nbins, tiles, kernel, p, bins[v]);
      }
  });
}

}  // namespace detail

}  // namespace nc::kernels
