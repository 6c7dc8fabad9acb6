#include <optional>

#include "kernels/common/device_array.hpp"
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

// mask &= window, word by word.
__global__ void intersect_kernel(std::uint64_t* __restrict__ gm_mask, const std::uint64_t* __restrict__ gm_window,
                                 long long total) {
  for_each_index(total, [&](long long w) { gm_mask[w] &= gm_window[w]; });
}

// The image inside the mask, `background` elsewhere.
__global__ void mask_image_kernel(const float* __restrict__ gm_image, const std::uint64_t* __restrict__ gm_bits,
                                  long long nx, long long ny, long long nz, int words, float background,
                                  float* __restrict__ gm_out) {
  for_each_index(nx * ny * nz, [&](long long v) {
    const long long i = v % nx, row = v / nx;
    const bool inside = (gm_bits[row * words + i / 64] >> (i % 64)) & 1u;
    gm_out[v] = inside ? gm_image[v] : background;
  });
}

class CudaMaskChain final : public MaskChain {
 public:
  CudaMaskChain(const float* d_image, const Geometry& g, float lower, float upper, bool keep_window)
      : geometry_(g),
        host_(g),
        total_(static_cast<long long>(host_.bits.size())),
        mask_(host_.bits.size()),
        scratch_(host_.bits.size()),
        near_(host_.bits.size()) {
    const long long slots = total_ * 64;
    window_kernel<<<grid_stride_blocks(slots, kThreads), kThreads>>>(
        d_image, host_.nx, slots, host_.words, lower, upper, reinterpret_cast<std::uint32_t*>(mask_.data()));
    NC_CUDA_CHECK_LAUNCH();
    if (keep_window) {
      window_.emplace(host_.bits.size());
      copy_on_device(window_->data(), mask_.data(), mask_.bytes());
    }
  }

  void erode(double radius_mm) override { morphology(radius_mm, true); }
  void dilate(double radius_mm) override { morphology(radius_mm, false); }

  void intersect_window() override {
    on_device();
    intersect_kernel<<<blocks(), kThreads>>>(mask_.data(), window_->data(), total_);
    NC_CUDA_CHECK_LAUNCH();
  }

  BitMask& on_host() override {
    if (current_on_device_) mask_.download(std::span<std::uint64_t>(host_.bits));
    current_on_device_ = false;  // the host step may change it: upload before the next device step
    return host_;
  }

 private:
  int blocks() const { return grid_stride_blocks(total_, kThreads); }

  void on_device() {
    if (!current_on_device_) mask_.upload(std::span<const std::uint64_t>(host_.bits));
    current_on_device_ = true;
  }

  // Erosion dilates the background (complement, dilate, remove); dilation the mask itself.
  void morphology(double radius_mm, bool erode) {
    if (radius_mm <= 0) return;
    on_device();
    const std::vector<BallRow> ball = ball_rows(geometry_, radius_mm);
    const DeviceArray<BallRow> d_ball{std::span<const BallRow>(ball)};
    const std::uint64_t last = host_.last_word_mask();
    if (erode) {
      complement_kernel<<<blocks(), kThreads>>>(mask_.data(), total_, host_.words, last, scratch_.data());
      NC_CUDA_CHECK_LAUNCH();
    }
    dilate_kernel<<<blocks(), kThreads>>>(erode ? scratch_.data() : mask_.data(), host_.ny, host_.nz, host_.words,
                                          last, d_ball.data(), int(ball.size()), near_.data());
    NC_CUDA_CHECK_LAUNCH();
    if (erode) {
      remove_kernel<<<blocks(), kThreads>>>(mask_.data(), near_.data(), total_);
      NC_CUDA_CHECK_LAUNCH();
    } else {
      std::swap(mask_, near_);
    }
  }

  Geometry geometry_;
  BitMask host_;
  long long total_;
  DeviceArray<std::uint64_t> mask_, scratch_, near_;
  std::optional<DeviceArray<std::uint64_t>> window_;
  bool current_on_device_ = true;
};

}  // namespace

std::unique_ptr<MaskChain> window_chain_cuda(const ImageVolume& image, float lower, float upper, bool keep_window) {
  use_bound_device();
  // Freed in stream order: after the chain's window kernel has read it.
  const DeviceArray<float> d_image{std::span<const float>(image.voxels)};
  return std::make_unique<CudaMaskChain>(d_image.data(), image.geometry, lower, upper, keep_window);
}

std::unique_ptr<MaskChain> window_chain_on_device(const DeviceVolume<float>& image, float lower, float upper,
                                                  bool keep_window) {
  use_bound_device();
  return std::make_unique<CudaMaskChain>(image.voxels.data(), image.geometry, lower, upper, keep_window);
}

DeviceVolume<float> mask_image_on_device(const BitMask& mask, const DeviceVolume<float>& image, float background) {
  use_bound_device();
  const DeviceArray<std::uint64_t> d_bits{std::span<const std::uint64_t>(mask.bits)};
  DeviceVolume<float> out(image.geometry);
  mask_image_kernel<<<grid_stride_blocks(image.geometry.voxel_count(), kThreads), kThreads>>>(
      image.voxels.data(), d_bits.data(), mask.nx, mask.ny, mask.nz, mask.words, background, out.voxels.data());
  NC_CUDA_CHECK_LAUNCH();
  return out;
}

}  // namespace nc::kernels::detail
