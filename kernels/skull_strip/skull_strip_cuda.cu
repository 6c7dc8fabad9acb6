#include <optional>

#include "kernels/common/device_buffer.cuh"
#include "kernels/common/grid_stride.cuh"
#include "kernels/skull_strip/morphology.hpp"
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;

// One thread per voxel slot of the packed layout (words · 64 per row, the tail past nx empty):
// each warp's ballot is one half word, written by its first lane. Reads are coalesced along i.
// The slot count is a multiple of 64 and the stride of 32, so every warp runs whole.
__global__ void window_kernel(const float* __restrict__ gm_image, long long nx, long long slots, int words, float lower,
                              float upper, std::uint32_t* __restrict__ gm_half_words) {
  const long long row_slots = static_cast<long long>(words) * 64;
  for_each_index(slots, [&](long long t) {
    const long long row = t / row_slots, i = t % row_slots;
    const bool inside = i < nx && in_window(gm_image[row * nx + i], lower, upper);
    const std::uint32_t ballot = __ballot_sync(0xffffffffu, inside);
    if (threadIdx.x % 32 == 0) gm_half_words[t / 32] = ballot;  // little endian: low half first
  });
}

// The grid's voxels that are not set.
__global__ void complement_kernel(const std::uint64_t* __restrict__ gm_src, long long total, int words,
                                  std::uint64_t last_word_mask, std::uint64_t* __restrict__ gm_dst) {
  for_each_index(total,
                 [&](long long w) { gm_dst[w] = complement_word(gm_src[w], w % words == words - 1, last_word_mask); });
}

// Erosion's last step: a voxel survives when no background voxel was near.
__global__ void remove_kernel(std::uint64_t* __restrict__ gm_mask, const std::uint64_t* __restrict__ gm_near,
                              long long total) {
  for_each_index(total, [&](long long w) { gm_mask[w] = eroded_word(gm_mask[w], gm_near[w]); });
}

// One thread per output word: the OR over the ball's rows of the dilated source words.
__global__ void dilate_kernel(const std::uint64_t* __restrict__ gm_src, long long ny, long long nz, int words,
                              std::uint64_t last_word_mask, const BallRow* __restrict__ gm_ball, int ball_rows,
                              std::uint64_t* __restrict__ gm_dst) {
  for_each_index(ny * nz * words, [&](long long w) {
    const long long row = w / words;
    const int q = int(w % words);
    const long long j = row % ny, k = row / ny;
    std::uint64_t acc = 0;
    for (int b = 0; b < ball_rows; ++b) {
      const long long jj = j + gm_ball[b].dj, kk = k + gm_ball[b].dk;
      if (jj < 0 || kk < 0 || jj >= ny || kk >= nz) continue;
      acc |= dilate_word(gm_src + (jj + ny * kk) * words, words, q, gm_ball[b].half_width);
    }
    gm_dst[w] = within_row(acc, q == words - 1, last_word_mask);
  });
}

void morphology(BitMask& mask, const Geometry& g, double radius_mm, bool erode) {
  if (radius_mm <= 0) return;
  const long long total = static_cast<long long>(mask.bits.size());
  const std::vector<BallRow> ball = ball_rows(g, radius_mm);
  const DeviceBuffer<BallRow> d_ball{std::span<const BallRow>(ball)};
  DeviceBuffer<std::uint64_t> d_mask{std::span<const std::uint64_t>(mask.bits)};
  DeviceBuffer<std::uint64_t> d_near{mask.bits.size()};
  const int blocks = grid_stride_blocks(total, kThreads);
  // Erosion dilates the background, dilation the mask itself.
  const std::uint64_t* source = d_mask.get();
  std::optional<DeviceBuffer<std::uint64_t>> d_background;
  if (erode) {
    d_background.emplace(mask.bits.size());
    complement_kernel<<<blocks, kThreads>>>(d_mask.get(), total, mask.words, mask.last_word_mask(),
                                            d_background->get());
    NC_CUDA_CHECK(cudaGetLastError());
    source = d_background->get();
  }
  dilate_kernel<<<blocks, kThreads>>>(source, mask.ny, mask.nz, mask.words, mask.last_word_mask(), d_ball.get(),
                                      int(ball.size()), d_near.get());
  NC_CUDA_CHECK(cudaGetLastError());
  if (erode) {
    remove_kernel<<<blocks, kThreads>>>(d_mask.get(), d_near.get(), total);
    NC_CUDA_CHECK(cudaGetLastError());
    d_mask.copy_to(std::span<std::uint64_t>(mask.bits));
  } else {
    d_near.copy_to(std::span<std::uint64_t>(mask.bits));
  }
}

}  // namespace

BitMask window_cuda(const ImageVolume& image, float lower, float upper) {
  BitMask mask(image.geometry);
  const DeviceBuffer<float> d_image{std::span<const float>(image.voxels)};
  DeviceBuffer<std::uint64_t> d_bits{mask.bits.size()};
  const long long slots = static_cast<long long>(mask.bits.size()) * 64;
  window_kernel<<<grid_stride_blocks(slots, kThreads), kThreads>>>(
      d_image.get(), mask.nx, slots, mask.words, lower, upper, reinterpret_cast<std::uint32_t*>(d_bits.get()));
  NC_CUDA_CHECK(cudaGetLastError());
  d_bits.copy_to(std::span<std::uint64_t>(mask.bits));
  return mask;
}

void erode_cuda(BitMask& mask, const Geometry& g, double radius_mm) { morphology(mask, g, radius_mm, true); }
void dilate_cuda(BitMask& mask, const Geometry& g, double radius_mm) { morphology(mask, g, radius_mm, false); }

}  // namespace nc::kernels::detail
