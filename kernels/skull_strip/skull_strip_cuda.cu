#include "kernels/common/device_buffer.cuh"
#include "kernels/skull_strip/skull_strip.hpp"
#include "kernels/skull_strip/skull_strip_math.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;

__global__ void window_kernel(const float* __restrict__ gm_image, long long n, float lower, float upper,
                              std::uint8_t* __restrict__ gm_mask) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride)
    gm_mask[v] = in_window(gm_image[v], lower, upper);
}

__global__ void init_distance_kernel(const std::uint8_t* __restrict__ gm_mask, std::uint8_t feature, long long n,
                                     float* __restrict__ gm_d2) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride)
    gm_d2[v] = gm_mask[v] == feature ? 0.0f : kFarSquared;
}

// One thread per line. Lines are numbered so that neighbouring threads take neighbouring
// lines, whose samples are adjacent in memory for the y and z passes (coalesced loads).
__global__ void distance_pass_kernel(float* gm_d2, long long lines, long long line_stride_a, long long count_a,
                                     long long line_stride_b, long long sample_stride, int n, float spacing,
                                     int* gm_v, float* gm_z, float* gm_d) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long line = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; line < lines; line += stride) {
    const long long a = line % count_a, b = line / count_a;
    float* f = gm_d2 + a * line_stride_a + b * line_stride_b;
    const long long slot = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
    distance_transform_line(f, sample_stride, n, spacing, gm_v + slot * n, gm_z + slot * (n + 1), gm_d + slot * n);
  }
}

__global__ void threshold_distance_kernel(const float* __restrict__ gm_d2, long long n, float r2, bool erode,
                                          std::uint8_t* __restrict__ gm_mask) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride)
    gm_mask[v] = erode ? (gm_mask[v] && gm_d2[v] > r2) : (gm_d2[v] <= r2);
}

// Erosion (feature 0: distance to background > r) or dilation (feature 1: distance to
// foreground <= r) of the device mask, through the squared distance transform.
void morphology(std::uint8_t* d_mask, const Geometry& g, double radius_mm, bool erode) {
  const long long nx = g.size[0], ny = g.size[1], nz = g.size[2], n = nx * ny * nz;
  DeviceBuffer<float> d_d2{std::size_t(n)};
  init_distance_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(d_mask, erode ? 0 : 1, n, d_d2.get());
  NC_CUDA_CHECK(cudaGetLastError());
  struct Pass {
    long long count_a, stride_a, count_b, stride_b, sample_stride;
    int n;
    double spacing;
  };
  const Pass passes[3] = {{ny, nx, nz, nx * ny, 1, int(nx), g.spacing_mm[0]},
                          {nx, 1, nz, nx * ny, nx, int(ny), g.spacing_mm[1]},
                          {nx, 1, ny, nx, nx * ny, int(nz), g.spacing_mm[2]}};
  for (const Pass& p : passes) {
    const long long lines = p.count_a * p.count_b;
    const int blocks = grid_stride_blocks(lines, kThreads);
    const std::size_t slots = std::size_t(blocks) * kThreads;  // one scratch slot per thread
    DeviceBuffer<int> d_v(slots * std::size_t(p.n));
    DeviceBuffer<float> d_z(slots * std::size_t(p.n + 1));
    DeviceBuffer<float> d_d(slots * std::size_t(p.n));
    distance_pass_kernel<<<blocks, kThreads>>>(d_d2.get(), lines, p.stride_a, p.count_a, p.stride_b, p.sample_stride,
                                               p.n, float(p.spacing), d_v.get(), d_z.get(), d_d.get());
    NC_CUDA_CHECK(cudaGetLastError());
  }
  threshold_distance_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(d_d2.get(), n,
                                                                           float(radius_mm * radius_mm), erode, d_mask);
  NC_CUDA_CHECK(cudaGetLastError());
}

void morphology_host(std::uint8_t* h_mask, const Geometry& g, double radius_mm, bool erode) {
  if (radius_mm <= 0) return;
  const std::size_t n = std::size_t(g.voxel_count());
  DeviceBuffer<std::uint8_t> d_mask(std::span<const std::uint8_t>(h_mask, n));
  morphology(d_mask.get(), g, radius_mm, erode);
  d_mask.copy_to(std::span<std::uint8_t>(h_mask, n));
}

}  // namespace

void window_cuda(const float* image, std::int64_t n, float lower, float upper, std::uint8_t* mask) {
  const DeviceBuffer<float> d_image(std::span<const float>(image, std::size_t(n)));
  DeviceBuffer<std::uint8_t> d_mask{std::size_t(n)};
  window_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(d_image.get(), n, lower, upper, d_mask.get());
  NC_CUDA_CHECK(cudaGetLastError());
  d_mask.copy_to(std::span<std::uint8_t>(mask, std::size_t(n)));
}

void erode_cuda(std::uint8_t* mask, const Geometry& g, double radius_mm) { morphology_host(mask, g, radius_mm, true); }
void dilate_cuda(std::uint8_t* mask, const Geometry& g, double radius_mm) { morphology_host(mask, g, radius_mm, false); }

}  // namespace nc::kernels::detail
