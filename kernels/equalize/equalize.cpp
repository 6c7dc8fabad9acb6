#include "kernels/equalize/equalize.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/huge_pages.hpp"
#include "kernels/common/finite.hpp"
#include "kernels/equalize/equalize_math.hpp"

namespace nc::kernels {
namespace {

// The smallest and largest intensity of the voxels for which `inside(v)` holds.
template <typename Inside>
std::pair<float, float> intensity_range(const ImageVolume& image, const Inside& inside) {
  using Range = std::pair<float, float>;
  const Range empty{std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()};
  return tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, image.voxels.size()), empty,
      [&](const tbb::blocked_range<std::size_t>& block, Range r) {
        for (std::size_t v = block.begin(); v < block.end(); ++v)
          if (inside(v)) r = {std::min(r.first, image.voxels[v]), std::max(r.second, image.voxels[v])};
        return r;
      },
      [](const Range& a, const Range& b) { return Range{std::min(a.first, b.first), std::max(a.second, b.second)}; });
}

void validate(std::size_t voxels, const AheParams& params, bool mask_on_grid) {
  if (voxels == 0) throw Error("adaptive equalization: the image is empty");
  if (params.radius < 1 || params.radius > 64)
    throw Error("adaptive equalization: radius " + std::to_string(params.radius) + " is outside [1, 64]");
  if (!(params.alpha >= 0 && params.alpha <= 1) || !(params.beta >= 0 && params.beta <= 1))
    throw Error("adaptive equalization: alpha and beta must lie in [0, 1]");
  if (!mask_on_grid) throw Error("adaptive equalization: the mask is not on the image's grid");
}

// The bracket per level difference, indexed difference + kAheBins − 1.
std::vector<float> term_table(const AheParams& params) {
  std::vector<float> table(2 * kAheBins - 1);
  for (int d = -(kAheBins - 1); d <= kAheBins - 1; ++d)
    table[std::size_t(d + kAheBins - 1)] = ahe_term(d, params.alpha, params.beta);
  return table;
}

// A radius beyond the CUDA kernel's: the CPU's sliding histogram on host copies.
DeviceVolume<float> equalize_on_host(const DeviceVolume<float>& image, const AheParams& params,
                                     const DeviceArray<std::uint8_t>* mask) {
  ImageVolume host(image.geometry);
  image.voxels.download(std::span<float>(host.voxels));
  std::optional<Volume<std::uint8_t>> host_mask;
  if (mask) {
    host_mask.emplace(image.geometry);
    mask->download(std::span<std::uint8_t>(host_mask->voxels));
  }
  const ImageVolume out = adaptive_equalize(host, params, Backend::Cpu, host_mask ? &*host_mask : nullptr);
  DeviceVolume<float> result(image.geometry);
  result.voxels.upload(std::span<const float>(out.voxels));
  return result;
}

}  // namespace

ImageVolume adaptive_equalize(const ImageVolume& image, const AheParams& params, Backend backend,
                              const Volume<std::uint8_t>* mask) {
  validate(image.voxels.size(), params, !mask || mask->geometry.size == image.geometry.size);
  require_finite(image, "adaptive equalization");
  if (backend == Backend::Cuda) require_cuda("adaptive equalization");

  const std::size_t n = image.voxels.size();
  const auto inside = [&](std::size_t v) { return !mask || mask->voxels[v] != 0; };
  const auto [lo, hi] = intensity_range(image, inside);
  if (!(hi > lo)) return image;  // constant (or empty mask): nothing to equalize
  const float range = hi - lo;

  // Every whole-volume pass runs in parallel: serial ones took a sixth of the 2-thread time.
  std::vector<std::int16_t> levels = large_vector<std::int16_t>(n);
  std::vector<float> unit = large_vector<float>(n);
  ImageVolume out(image.geometry);  // huge pages (core/huge_pages.hpp), which a copy would not get
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n), [&](const tbb::blocked_range<std::size_t>& block) {
    for (std::size_t v = block.begin(); v < block.end(); ++v) {
      unit[v] = (image.voxels[v] - lo) / range;
      levels[v] = inside(v) ? std::int16_t(ahe_level(unit[v])) : std::int16_t(-1);
      out.voxels[v] = image.voxels[v];  // outside the mask: unchanged
    }
  });
  const std::vector<float> table = term_table(params);

  const bool direct_sum_on_gpu = backend == Backend::Cuda && params.radius <= kCudaAheMaxRadius;
  (direct_sum_on_gpu ? detail::adaptive_equalize_cuda : detail::adaptive_equalize_cpu)(
      levels.data(), unit.data(), table.data(), image.geometry, params, lo, range, out.voxels.data());
  return out;
}

DeviceVolume<float> adaptive_equalize(const DeviceVolume<float>& image, const AheParams& params,
                                      const DeviceArray<std::uint8_t>* mask) {
  validate(image.voxels.size(), params, !mask || mask->size() == image.voxels.size());
  require_cuda("adaptive equalization");
  if (params.radius > kCudaAheMaxRadius) return equalize_on_host(image, params, mask);
  const long long n = image.geometry.voxel_count();
  const std::uint8_t* inside = mask ? mask->data() : nullptr;
  const detail::IntensityRange r = detail::intensity_range_on_device(image.voxels.data(), inside, n);
  if (r.non_finite > 0)
    throw Error("adaptive equalization: the image holds " + std::to_string(r.non_finite) + " NaN or infinite voxels");
  if (!(r.hi > r.lo)) return copy_of(image);  // constant (or empty mask): nothing to equalize
  DeviceVolume<float> out(image.geometry);
  const std::vector<float> table = term_table(params);
  detail::adaptive_equalize_on_device(image.voxels.data(), inside, table.data(), image.geometry, params, r.lo,
                                      r.hi - r.lo, out.voxels.data());
  return out;
}

}  // namespace nc::kernels
