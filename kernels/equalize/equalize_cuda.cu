#include <cfloat>

#include "kernels/common/device_reduce.cuh"
#include "kernels/common/grid_stride.cuh"
#include "kernels/equalize/equalize.hpp"
#include "kernels/equalize/equalize_math.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;
constexpr int kTableSize = 2 * kAheBins - 1;

// One thread per voxel summing the tabulated terms over its window directly (why not the
// CPU's sliding histogram: equalize_math.hpp); the term table sits in shared memory.
// Consecutive threads take consecutive voxels of a row, so the window loads of a warp are
// contiguous.
__global__ void equalize_kernel(const std::int16_t* __restrict__ gm_levels, const float* __restrict__ gm_unit,
                                const float* __restrict__ gm_table, long long nx, long long ny, long long nz, int r,
                                float beta, float minimum, float range, float* __restrict__ gm_out) {
  __shared__ float sm_table[kTableSize];
  for (int t = threadIdx.x; t < kTableSize; t += blockDim.x) sm_table[t] = gm_table[t];
  __syncthreads();
  for_each_index(nx * ny * nz, [&](long long v) {
    const int level = gm_levels[v];
    if (level < 0) return;
    const long long i = v % nx, j = (v / nx) % ny, k = v / (nx * ny);
    double sum = 0.0;
    long long count = 0;
    for (long long kk = max(0LL, k - r); kk <= min(nz - 1, k + r); ++kk)
      for (long long jj = max(0LL, j - r); jj <= min(ny - 1, j + r); ++jj) {
        const std::int16_t* row = gm_levels + nx * (jj + ny * kk);
        for (long long ii = max(0LL, i - r); ii <= min(nx - 1, i + r); ++ii) {
          const int other = row[ii];
          if (other < 0) continue;
          sum += sm_table[level - other + kAheBins - 1];
          ++count;
        }
      }
    if (count > 0) gm_out[v] = ahe_output(gm_unit[v] - 0.5f, sum, double(count), beta, minimum, range);
  });
}

// The host's level quantisation (equalize.cpp), on the device: levels, normalised intensities,
// and the output starting as the input (voxels outside the mask keep it).
__global__ void levels_kernel(const float* __restrict__ gm_image, const std::uint8_t* __restrict__ gm_mask,
                              long long n, float minimum, float range, std::int16_t* __restrict__ gm_levels,
                              float* __restrict__ gm_unit, float* __restrict__ gm_out) {
  for_each_index(n, [&](long long v) {
    const float unit = (gm_image[v] - minimum) / range;
    gm_unit[v] = unit;
    gm_levels[v] = !gm_mask || gm_mask[v] ? std::int16_t(ahe_level(unit)) : std::int16_t(-1);
    gm_out[v] = gm_image[v];
  });
}

struct RangeOfVoxel {
  const float* image;
  const std::uint8_t* mask;
  __device__ IntensityRange operator()(long long v) const {
    const float x = image[v];
    if (!isfinite(x)) return {FLT_MAX, -FLT_MAX, 1};
    if (mask && !mask[v]) return {FLT_MAX, -FLT_MAX, 0};
    return {x, x, 0};
  }
};
struct JoinRanges {
  __device__ IntensityRange operator()(const IntensityRange& a, const IntensityRange& b) const {
    return {fminf(a.lo, b.lo), fmaxf(a.hi, b.hi), a.non_finite + b.non_finite};
  }
};

void run_equalize(const DeviceArray<std::int16_t>& levels, const DeviceArray<float>& unit, const float* table,
                  const Geometry& g, const AheParams& params, float minimum, float range, float* out) {
  const DeviceArray<float> d_table(std::span<const float>(table, std::size_t(kTableSize)));
  equalize_kernel<<<grid_stride_blocks(g.voxel_count(), kThreads), kThreads>>>(
      levels.data(), unit.data(), d_table.data(), g.size[0], g.size[1], g.size[2], params.radius, params.beta,
      minimum, range, out);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void adaptive_equalize_cuda(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                            const AheParams& params, float minimum, float range, float* out) {
  use_bound_device();
  const std::size_t n = std::size_t(g.voxel_count());
  const DeviceArray<std::int16_t> d_levels(std::span<const std::int16_t>(levels, n));
  const DeviceArray<float> d_unit(std::span<const float>(unit, n));
  DeviceArray<float> d_out(std::span<const float>(out, n));  // starts as the input: unmasked voxels stay
  run_equalize(d_levels, d_unit, table, g, params, minimum, range, d_out.data());
  d_out.download(std::span<float>(out, n));
}

IntensityRange intensity_range_on_device(const float* image, const std::uint8_t* mask, long long n) {
  use_bound_device();
  return reduce_over_indices(n, RangeOfVoxel{image, mask}, JoinRanges{}, IntensityRange{FLT_MAX, -FLT_MAX, 0});
}

void adaptive_equalize_on_device(const float* image, const std::uint8_t* mask, const float* table, const Geometry& g,
                                 const AheParams& params, float minimum, float range, float* out) {
  use_bound_device();
  const long long n = g.voxel_count();
  DeviceArray<std::int16_t> levels{std::size_t(n)};
  DeviceArray<float> unit{std::size_t(n)};
  levels_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(image, mask, n, minimum, range, levels.data(),
                                                               unit.data(), out);
  NC_CUDA_CHECK_LAUNCH();
  run_equalize(levels, unit, table, g, params, minimum, range, out);
}

}  // namespace nc::kernels::detail
