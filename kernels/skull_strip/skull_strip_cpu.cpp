#include <tbb/parallel_for.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <numeric>
#include <vector>

#include "core/huge_pages.hpp"
#include "kernels/skull_strip/morphology.hpp"
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

// Calls fill(row, packed_row) for every row of a new mask, rows in parallel.
BitMask make_rows(const Geometry& g, const std::function<void(std::int64_t, std::uint64_t*)>& fill) {
  BitMask mask(g);
  tbb::parallel_for(std::int64_t{0}, mask.rows(), [&](std::int64_t r) { fill(r, mask.row(r)); });
  return mask;
}

// Packs 64 (or fewer, at the row's end) voxels of one row into a word: bit b = keep(b).
template <typename Keep>
std::uint64_t pack_word(std::int64_t count, Keep keep) {
  std::uint64_t word = 0;
  for (std::int64_t b = 0; b < count; ++b) word |= std::uint64_t{keep(b)} << b;
  return word;
}

// The rows of `src` dilated along i by 0, 1, ..., max_width voxels: entry w starts at
// w · src.bits.size(). Every ball row then costs one OR per word instead of 2w shifts.
std::vector<std::uint64_t> dilations_along_i(const BitMask& src, int max_width) {
  const std::size_t size = src.bits.size();
  std::vector<std::uint64_t> table = large_vector<std::uint64_t>(size * std::size_t(max_width + 1));
  const std::uint64_t last = src.last_word_mask();
  tbb::parallel_for(std::int64_t{0}, src.rows(), [&](std::int64_t r) {
    const std::uint64_t* row = src.row(r);
    for (int w = 0; w <= max_width; ++w) {
      std::uint64_t* out = table.data() + std::size_t(w) * size + std::size_t(r * src.words);
      for (int q = 0; q < src.words; ++q)
        out[q] = within_row(dilate_word(row, src.words, q, w), q == src.words - 1, last);
    }
  });
  return table;
}

// Dilation by the ball: each output row ORs, for every (j, k) offset of the ball, the source
// row there dilated along i by the ball's half-width at that offset.
BitMask dilate_by_ball(const BitMask& src, const std::vector<BallRow>& ball) {
  int max_width = 0;
  for (const BallRow& b : ball) max_width = std::max(max_width, b.half_width);
  const std::vector<std::uint64_t> table = dilations_along_i(src, max_width);
  const std::int64_t ny = src.ny, nz = src.nz;
  const int words = src.words;
  BitMask dst = src;
  tbb::parallel_for(std::int64_t{0}, nz, [&](std::int64_t k) {
    for (std::int64_t j = 0; j < ny; ++j) {
      std::uint64_t* out = dst.row(j + ny * k);
      std::fill(out, out + words, std::uint64_t{0});
      for (const BallRow& b : ball) {
        const std::int64_t jj = j + b.dj, kk = k + b.dk;
        if (jj < 0 || kk < 0 || jj >= ny || kk >= nz) continue;
        const std::uint64_t* in =
            table.data() + std::size_t(b.half_width) * src.bits.size() + std::size_t((jj + ny * kk) * words);
        for (int q = 0; q < words; ++q) out[q] |= in[q];
      }
    }
  });
  return dst;
}

}  // namespace

BitMask pack_mask(const std::uint8_t* mask, const Geometry& g) {
  const std::int64_t nx = g.size[0];
  return make_rows(g, [&](std::int64_t r, std::uint64_t* out) {
    const std::uint8_t* src = mask + r * nx;
    for (std::int64_t i0 = 0, q = 0; i0 < nx; i0 += 64, ++q)
      out[q] = pack_word(std::min<std::int64_t>(64, nx - i0), [&](std::int64_t b) { return src[i0 + b] != 0; });
  });
}

void unpack_mask(const BitMask& mask, std::uint8_t* out) {
  tbb::parallel_for(std::int64_t{0}, mask.rows(), [&](std::int64_t r) {
    const std::uint64_t* row = mask.row(r);
    std::uint8_t* dst = out + r * mask.nx;
    for (std::int64_t i = 0; i < mask.nx; ++i) dst[i] = std::uint8_t((row[i / 64] >> (i % 64)) & 1);
  });
}

std::int64_t count_set(const BitMask& mask) {
  return std::transform_reduce(mask.bits.begin(), mask.bits.end(), std::int64_t{0}, std::plus<>(),
                               [](std::uint64_t w) { return std::int64_t(std::popcount(w)); });
}

BitMask complement(const BitMask& mask) {
  BitMask out = mask;
  const std::uint64_t last = mask.last_word_mask();
  tbb::parallel_for(std::int64_t{0}, mask.rows(), [&](std::int64_t r) {
    std::uint64_t* row = out.row(r);
    for (int q = 0; q < out.words; ++q) row[q] = complement_word(row[q], q == out.words - 1, last);
  });
  return out;
}

void intersect(BitMask& mask, const BitMask& other) {
  tbb::parallel_for(std::size_t{0}, mask.bits.size(), [&](std::size_t w) { mask.bits[w] &= other.bits[w]; });
}

BitMask window_cpu(const ImageVolume& image, float lower, float upper) {
  const std::int64_t nx = image.geometry.size[0];
  return make_rows(image.geometry, [&](std::int64_t r, std::uint64_t* out) {
    const float* src = image.voxels.data() + r * nx;
    for (std::int64_t i0 = 0, q = 0; i0 < nx; i0 += 64, ++q)
      out[q] = pack_word(std::min<std::int64_t>(64, nx - i0),
                         [&](std::int64_t b) { return in_window(src[i0 + b], lower, upper) != 0; });
  });
}

void erode_cpu(BitMask& mask, const Geometry& g, double radius_mm) {
  if (radius_mm <= 0) return;
  // A voxel survives when no background voxel lies within the ball: the background, dilated.
  const BitMask near_background = dilate_by_ball(complement(mask), ball_rows(g, radius_mm));
  tbb::parallel_for(std::size_t{0}, mask.bits.size(),
                    [&](std::size_t w) { mask.bits[w] = eroded_word(mask.bits[w], near_background.bits[w]); });
}

void dilate_cpu(BitMask& mask, const Geometry& g, double radius_mm) {
  if (radius_mm <= 0) return;
  mask = dilate_by_ball(mask, ball_rows(g, radius_mm));
}

namespace {

class CpuMaskChain final : public MaskChain {
 public:
  CpuMaskChain(const ImageVolume& image, float lower, float upper, bool keep_window)
      : geometry_(image.geometry), mask_(window_cpu(image, lower, upper)) {
    if (keep_window) window_ = mask_;
  }
  void erode(double radius_mm) override { erode_cpu(mask_, geometry_, radius_mm); }
  void dilate(double radius_mm) override { dilate_cpu(mask_, geometry_, radius_mm); }
  void intersect_window() override { intersect(mask_, window_); }
  BitMask& on_host() override { return mask_; }

 private:
  Geometry geometry_;
  BitMask mask_, window_;
};

}  // namespace

std::unique_ptr<MaskChain> window_chain_cpu(const ImageVolume& image, float lower, float upper, bool keep_window) {
  return std::make_unique<CpuMaskChain>(image, lower, upper, keep_window);
}

}  // namespace nc::kernels::detail
