#include "kernels/common/device_buffer.cuh"
#include "kernels/equalize/equalize.hpp"
#include "kernels/equalize/clahe_math.hpp"
#include "kernels/equalize/equalize_math.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;
constexpr int kTableSize = 2 * kAheBins - 1;

// One thread per voxel summing the tabulated terms over its window directly; the term table
// sits in shared memory. Consecutive threads take consecutive voxels of a row, so the
// window loads of a warp are contiguous.
__global__ void equalize_kernel(const std::int16_t* __restrict__ gm_levels, const float* __restrict__ gm_unit,
                                const float* __restrict__ gm_table, long long nx, long long ny, long long nz, int r,
                                float beta, float minimum, float range, float* __restrict__ gm_out) {
  __shared__ float sm_table[kTableSize];
  for (int t = threadIdx.x; t < kTableSize; t += blockDim.x) sm_table[t] = gm_table[t];
  __syncthreads();
  const long long n = nx * ny * nz;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride) {
    const int level = gm_levels[v];
    if (level < 0) continue;
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
  }
}

}  // namespace

void adaptive_equalize_cuda(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                            const AheParams& params, float minimum, float range, float* out) {
  const std::size_t n = std::size_t(g.voxel_count());
  const DeviceBuffer<std::int16_t> d_levels(std::span<const std::int16_t>(levels, n));
  const DeviceBuffer<float> d_unit(std::span<const float>(unit, n));
  const DeviceBuffer<float> d_table(std::span<const float>(table, std::size_t(kTableSize)));
  DeviceBuffer<float> d_out(std::span<const float>(out, n));  // starts as the input: unmasked voxels stay
  equalize_kernel<<<grid_stride_blocks(static_cast<long long>(n), kThreads), kThreads>>>(
      d_levels.get(), d_unit.get(), d_table.get(), g.size[0], g.size[1], g.size[2], params.radius, params.beta,
      minimum, range, d_out.get());
  NC_CUDA_CHECK(cudaGetLastError());
  d_out.copy_to(std::span<float>(out, n));
}

}  // namespace nc::kernels::detail

namespace nc::kernels::detail {
namespace {

struct ClaheGrid {
  std::int64_t tiles[3], kernel[3], pad_start[3], size[3];
};

__global__ void clahe_blend_kernel(const std::int32_t* __restrict__ gm_maps, int nbins, ClaheGrid grid,
                                   const std::int16_t* __restrict__ gm_bins, std::uint16_t* __restrict__ gm_out) {
  const long long n = grid.size[0] * grid.size[1] * grid.size[2];
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride) {
    const std::int64_t p[3] = {v % grid.size[0] + grid.pad_start[0], (v / grid.size[0]) % grid.size[1] + grid.pad_start[1],
                               v / (grid.size[0] * grid.size[1]) + grid.pad_start[2]};
    gm_out[v] = clahe_blend(gm_maps, nbins, grid.tiles, grid.kernel, p, gm_bins[v]);
  }
}

}  // namespace

void clahe_blend_cuda(const std::int32_t* maps, int nbins, const std::int64_t tiles[3], const std::int64_t kernel[3],
                      const std::int64_t pad_start[3], const std::int16_t* bins, const Geometry& g,
                      std::uint16_t* out) {
  ClaheGrid grid{};
  for (int a = 0; a < 3; ++a) {
    grid.tiles[a] = tiles[a];
    grid.kernel[a] = kernel[a];
    grid.pad_start[a] = pad_start[a];
    grid.size[a] = g.size[a];
  }
  const std::size_t n = std::size_t(g.voxel_count());
  const std::size_t map_count = std::size_t(tiles[0] * tiles[1] * tiles[2] * nbins);
  const DeviceBuffer<std::int32_t> d_maps(std::span<const std::int32_t>(maps, map_count));
  const DeviceBuffer<std::int16_t> d_bins(std::span<const std::int16_t>(bins, n));
  DeviceBuffer<std::uint16_t> d_out{n};
  clahe_blend_kernel<<<grid_stride_blocks(static_cast<long long>(n), kThreads), kThreads>>>(d_maps.get(), nbins, grid,
                                                                                             d_bins.get(), d_out.get());
  NC_CUDA_CHECK(cudaGetLastError());
  d_out.copy_to(std::span<std::uint16_t>(out, n));
}

}  // namespace nc::kernels::detail
