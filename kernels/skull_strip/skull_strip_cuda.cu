#include "kernels/common/device_buffer.cuh"
#include "kernels/skull_strip/morphology.hpp"
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;

__global__ void window_kernel(const float* __restrict__ gm_image, long long n, float lower, float upper,
                              std::uint8_t* __restrict__ gm_mask) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride)
    gm_mask[v] = in_window(gm_image[v], lower, upper);
}

// One thread per word: packs 64 voxels of a row where mask == value.
__global__ void pack_kernel(const std::uint8_t* __restrict__ gm_mask, std::uint8_t value, long long nx, long long rows,
                            int words, std::uint64_t* __restrict__ gm_bits) {
  const long long total = rows * words;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long w = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; w < total; w += stride) {
    const long long row = w / words, q = w % words;
    std::uint64_t bits = 0;
    for (int b = 0; b < 64; ++b) {
      const long long i = q * 64 + b;
      if (i < nx && gm_mask[row * nx + i] == value) bits |= std::uint64_t{1} << b;
    }
    gm_bits[w] = bits;
  }
}

// One thread per output word: the OR over the ball's rows of the dilated source words.
__global__ void dilate_kernel(const std::uint64_t* __restrict__ gm_src, long long ny, long long nz, int words,
                              std::uint64_t last_word_mask, const BallRow* __restrict__ gm_ball, int ball_rows,
                              std::uint64_t* __restrict__ gm_dst) {
  const long long total = ny * nz * words;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long w = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; w < total; w += stride) {
    const long long row = w / words;
    const int q = int(w % words);
    const long long j = row % ny, k = row / ny;
    std::uint64_t acc = 0;
    for (int b = 0; b < ball_rows; ++b) {
      const long long jj = j + gm_ball[b].dj, kk = k + gm_ball[b].dk;
      if (jj < 0 || kk < 0 || jj >= ny || kk >= nz) continue;
      acc |= dilate_word(gm_src + (jj + ny * kk) * words, words, q, gm_ball[b].half_width);
    }
    gm_dst[w] = q == words - 1 ? acc & last_word_mask : acc;
  }
}

// erode: mask = mask && !near; dilate: mask = near.
__global__ void unpack_kernel(const std::uint64_t* __restrict__ gm_bits, long long nx, long long n, int words,
                              bool erode, std::uint8_t* __restrict__ gm_mask) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride) {
    const long long row = v / nx, i = v % nx;
    const bool near = (gm_bits[row * words + i / 64] >> (i % 64)) & 1;
    gm_mask[v] = erode ? (gm_mask[v] && !near) : near;
  }
}

void morphology(std::uint8_t* h_mask, const Geometry& g, double radius_mm, bool erode) {
  if (radius_mm <= 0) return;
  const long long nx = g.size[0], ny = g.size[1], nz = g.size[2], n = nx * ny * nz, rows = ny * nz;
  const int words = packed_words(nx);
  const std::uint64_t last_word_mask = nx % 64 ? (std::uint64_t{1} << (nx % 64)) - 1 : ~std::uint64_t{0};
  const std::vector<BallRow> ball = ball_rows(g, radius_mm);
  DeviceBuffer<std::uint8_t> d_mask(std::span<const std::uint8_t>(h_mask, std::size_t(n)));
  const DeviceBuffer<BallRow> d_ball{std::span<const BallRow>(ball)};
  DeviceBuffer<std::uint64_t> d_src{std::size_t(rows * words)};
  DeviceBuffer<std::uint64_t> d_dst{std::size_t(rows * words)};
  // Erosion dilates the background (feature 0), dilation the foreground (feature 1).
  pack_kernel<<<grid_stride_blocks(rows * words, kThreads), kThreads>>>(d_mask.get(), erode ? 0 : 1, nx, rows, words,
                                                                       d_src.get());
  NC_CUDA_CHECK(cudaGetLastError());
  dilate_kernel<<<grid_stride_blocks(rows * words, kThreads), kThreads>>>(d_src.get(), ny, nz, words, last_word_mask,
                                                                         d_ball.get(), int(ball.size()), d_dst.get());
  NC_CUDA_CHECK(cudaGetLastError());
  unpack_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(d_dst.get(), nx, n, words, erode, d_mask.get());
  NC_CUDA_CHECK(cudaGetLastError());
  d_mask.copy_to(std::span<std::uint8_t>(h_mask, std::size_t(n)));
}

}  // namespace

void window_cuda(const float* image, std::int64_t n, float lower, float upper, std::uint8_t* mask) {
  const DeviceBuffer<float> d_image(std::span<const float>(image, std::size_t(n)));
  DeviceBuffer<std::uint8_t> d_mask{std::size_t(n)};
  window_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(d_image.get(), n, lower, upper, d_mask.get());
  NC_CUDA_CHECK(cudaGetLastError());
  d_mask.copy_to(std::span<std::uint8_t>(mask, std::size_t(n)));
}

void erode_cuda(std::uint8_t* mask, const Geometry& g, double radius_mm) { morphology(mask, g, radius_mm, true); }
void dilate_cuda(std::uint8_t* mask, const Geometry& g, double radius_mm) { morphology(mask, g, radius_mm, false); }

}  // namespace nc::kernels::detail
