#include <tbb/blocked_range2d.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <vector>

#include "kernels/skull_strip/skull_strip.hpp"
#include "kernels/skull_strip/skull_strip_math.hpp"

namespace nc::kernels::detail {
namespace {

// Lines are processed in bundles of kBundle neighbouring lines: for the passes along j and k,
// samples of one line lie a row or a slice apart, so the bundle is gathered into a small
// contiguous block first (each cache line fetched once serves kBundle lines), transformed
// there, and scattered back.
constexpr std::int64_t kBundle = 16;

struct BundleScratch {
  std::vector<float> block, d, z;
  std::vector<int> v;
  void ensure(int n) {
    if (int(v.size()) < n) {
      block.resize(std::size_t(n * kBundle));
      v.resize(std::size_t(n));
      z.resize(std::size_t(n) + 1);
      d.resize(std::size_t(n));
    }
  }
};

// Squared Euclidean distance (mm²) from every voxel to the nearest voxel whose mask value is
// `feature`: three separable passes.
std::vector<float> distance_squared(const std::uint8_t* mask, std::uint8_t feature, const Geometry& g) {
  const std::int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2];
  std::vector<float> d2(std::size_t(nx * ny * nz));
  tbb::parallel_for(std::int64_t{0}, nx * ny * nz,
                    [&](std::int64_t v) { d2[std::size_t(v)] = mask[v] == feature ? 0.0f : kFarSquared; });
  tbb::enumerable_thread_specific<BundleScratch> scratch;
  // Along i: lines are contiguous already.
  tbb::parallel_for(tbb::blocked_range2d<std::int64_t>(0, nz, 0, ny), [&](const auto& r) {
    BundleScratch& s = scratch.local();
    s.ensure(int(nx));
    for (std::int64_t k = r.rows().begin(); k != r.rows().end(); ++k)
      for (std::int64_t j = r.cols().begin(); j != r.cols().end(); ++j)
        distance_transform_line(d2.data() + nx * (j + ny * k), 1, int(nx), float(g.spacing_mm[0]), s.v.data(),
                                s.z.data(), s.d.data());
  });
  // Along j (stride nx) and k (stride nx·ny): bundles of neighbouring i.
  const auto strided_pass = [&](std::int64_t outer_count, std::int64_t outer_stride, std::int64_t stride, int n,
                                double spacing) {
    const std::int64_t bundles = (nx + kBundle - 1) / kBundle;
    tbb::parallel_for(tbb::blocked_range2d<std::int64_t>(0, outer_count, 0, bundles), [&](const auto& r) {
      BundleScratch& s = scratch.local();
      s.ensure(n);
      for (std::int64_t o = r.rows().begin(); o != r.rows().end(); ++o)
        for (std::int64_t b = r.cols().begin(); b != r.cols().end(); ++b) {
          const std::int64_t i0 = b * kBundle, width = std::min(kBundle, nx - i0);
          float* base = d2.data() + o * outer_stride + i0;
          for (int q = 0; q < n; ++q)
            std::copy_n(base + q * stride, width, s.block.data() + q * kBundle);
          for (std::int64_t t = 0; t < width; ++t)
            distance_transform_line(s.block.data() + t, kBundle, n, float(spacing), s.v.data(), s.z.data(), s.d.data());
          for (int q = 0; q < n; ++q)
            std::copy_n(s.block.data() + q * kBundle, width, base + q * stride);
        }
    });
  };
  strided_pass(nz, nx * ny, nx, int(ny), g.spacing_mm[1]);  // lines along j, one slice k at a time
  strided_pass(ny, nx, nx * ny, int(nz), g.spacing_mm[2]);  // lines along k, one row j at a time
  return d2;
}

}  // namespace

void window_cpu(const float* image, std::int64_t n, float lower, float upper, std::uint8_t* mask) {
  tbb::parallel_for(std::int64_t{0}, n, [&](std::int64_t v) { mask[v] = in_window(image[v], lower, upper); });
}

void erode_cpu(std::uint8_t* mask, const Geometry& g, double radius_mm) {
  if (radius_mm <= 0) return;
  const std::vector<float> d2 = distance_squared(mask, 0, g);
  const float r2 = float(radius_mm * radius_mm);
  tbb::parallel_for(std::int64_t{0}, g.voxel_count(), [&](std::int64_t v) { mask[v] = mask[v] && d2[std::size_t(v)] > r2; });
}

void dilate_cpu(std::uint8_t* mask, const Geometry& g, double radius_mm) {
  if (radius_mm <= 0) return;
  const std::vector<float> d2 = distance_squared(mask, 1, g);
  const float r2 = float(radius_mm * radius_mm);
  tbb::parallel_for(std::int64_t{0}, g.voxel_count(), [&](std::int64_t v) { mask[v] = d2[std::size_t(v)] <= r2; });
}

}  // namespace nc::kernels::detail
