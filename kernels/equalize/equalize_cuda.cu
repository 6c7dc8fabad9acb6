#include "kernels/common/device_buffer.cuh"
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

}  // namespace

void adaptive_equalize_cuda(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                            const AheParams& params, float minimum, float range, float* out) {
  use_bound_device();
  const std::size_t n = std::size_t(g.voxel_count());
  const DeviceBuffer<std::int16_t> d_levels(std::span<const std::int16_t>(levels, n));
  const DeviceBuffer<float> d_unit(std::span<const float>(unit, n));
  const DeviceBuffer<float> d_table(std::span<const float>(table, std::size_t(kTableSize)));
  DeviceBuffer<float> d_out(std::span<const float>(out, n));  // starts as the input: unmasked voxels stay
  equalize_kernel<<<grid_stride_blocks(static_cast<long long>(n), kThreads), kThreads>>>(
      d_levels.get(), d_unit.get(), d_table.get(), g.size[0], g.size[1], g.size[2], params.radius, params.beta,
      minimum, range, d_out.get());
  NC_CUDA_CHECK_LAUNCH();
  d_out.copy_to(std::span<float>(out, n));
}

}  // namespace nc::kernels::detail
