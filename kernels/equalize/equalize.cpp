#include "kernels/equalize/equalize.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "core/huge_pages.hpp"
#include "kernels/common/finite.hpp"
#include "kernels/equalize/equalize_math.hpp"

namespace nc::kernels {

ImageVolume adaptive_equalize(const ImageVolume& image, const AheParams& params, Backend backend,
                              const Volume<std::uint8_t>* mask) {
  if (image.voxels.empty()) throw Error("adaptive equalization: the image is empty");
  require_finite(image, "adaptive equalization");
  if (params.radius < 1 || params.radius > 64)
    throw Error("adaptive equalization: radius " + std::to_string(params.radius) + " is outside [1, 64]");
  if (!(params.alpha >= 0 && params.alpha <= 1) || !(params.beta >= 0 && params.beta <= 1))
    throw Error("adaptive equalization: alpha and beta must lie in [0, 1]");
  if (mask && mask->geometry.size != image.geometry.size)
    throw Error("adaptive equalization: the mask is not on the image's grid");
  if (backend == Backend::Cuda) require_cuda("adaptive equalization");

  const std::size_t n = image.voxels.size();
  const auto inside = [&](std::size_t v) { return !mask || mask->voxels[v] != 0; };
  float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
  for (std::size_t v = 0; v < n; ++v)
    if (inside(v)) {
      lo = std::min(lo, image.voxels[v]);
      hi = std::max(hi, image.voxels[v]);
    }
  if (!(hi > lo)) return image;  // constant (or empty mask): nothing to equalize
  const float range = hi - lo;

  std::vector<std::int16_t> levels = large_vector<std::int16_t>(n);
  std::vector<float> unit = large_vector<float>(n);
  for (std::size_t v = 0; v < n; ++v) {
    unit[v] = (image.voxels[v] - lo) / range;
    levels[v] = inside(v) ? std::int16_t(ahe_level(unit[v])) : std::int16_t(-1);
  }
  std::vector<float> table(2 * kAheBins - 1);
  for (int d = -(kAheBins - 1); d <= kAheBins - 1; ++d)
    table[std::size_t(d + kAheBins - 1)] = ahe_term(d, params.alpha, params.beta);

  ImageVolume out(image.geometry);  // huge pages (core/huge_pages.hpp), which a copy would not get
  std::copy(image.voxels.begin(), image.voxels.end(), out.voxels.begin());  // outside the mask: unchanged
  (backend == Backend::Cuda ? detail::adaptive_equalize_cuda : detail::adaptive_equalize_cpu)(
      levels.data(), unit.data(), table.data(), image.geometry, params, lo, range, out.voxels.data());
  return out;
}

}  // namespace nc::kernels
