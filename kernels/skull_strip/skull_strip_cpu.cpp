#include <tbb/parallel_for.h>

#include <vector>

#include "kernels/skull_strip/morphology.hpp"
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

// Packs mask == value into bits, 64 voxels per word along i; padding bits stay zero.
std::vector<std::uint64_t> pack(const std::uint8_t* mask, std::uint8_t value, const Geometry& g) {
  const std::int64_t nx = g.size[0], rows = g.size[1] * g.size[2];
  const int words = packed_words(nx);
  std::vector<std::uint64_t> bits(std::size_t(rows * words), 0);
  tbb::parallel_for(std::int64_t{0}, rows, [&](std::int64_t row) {
    const std::uint8_t* src = mask + row * nx;
    std::uint64_t* dst = bits.data() + row * words;
    for (std::int64_t i = 0; i < nx; ++i)
      if (src[i] == value) dst[i / 64] |= std::uint64_t{1} << (i % 64);
  });
  return bits;
}

// Dilation of packed rows by the ball; bits past the row end are cleared.
std::vector<std::uint64_t> dilate_bits(const std::vector<std::uint64_t>& src, const Geometry& g,
                                       const std::vector<BallRow>& ball) {
  const std::int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2];
  const int words = packed_words(nx);
  const std::uint64_t last_word_mask = nx % 64 ? (std::uint64_t{1} << (nx % 64)) - 1 : ~std::uint64_t{0};
  std::vector<std::uint64_t> dst(src.size());
  tbb::parallel_for(std::int64_t{0}, nz, [&](std::int64_t k) {
    for (std::int64_t j = 0; j < ny; ++j) {
      std::uint64_t* out = dst.data() + (j + ny * k) * words;
      for (int q = 0; q < words; ++q) out[q] = 0;
      for (const BallRow& b : ball) {
        const std::int64_t jj = j + b.dj, kk = k + b.dk;
        if (jj < 0 || kk < 0 || jj >= ny || kk >= nz) continue;
        const std::uint64_t* row = src.data() + (jj + ny * kk) * words;
        for (int q = 0; q < words; ++q) out[q] |= dilate_word(row, words, q, b.half_width);
      }
      out[words - 1] &= last_word_mask;
    }
  });
  return dst;
}

bool bit(const std::vector<std::uint64_t>& bits, int words, std::int64_t nx, std::int64_t v) {
  const std::int64_t row = v / nx, i = v % nx;
  return (bits[std::size_t(row * words + i / 64)] >> (i % 64)) & 1;
}

}  // namespace

void window_cpu(const float* image, std::int64_t n, float lower, float upper, std::uint8_t* mask) {
  tbb::parallel_for(std::int64_t{0}, n, [&](std::int64_t v) { mask[v] = in_window(image[v], lower, upper); });
}

void erode_cpu(std::uint8_t* mask, const Geometry& g, double radius_mm) {
  if (radius_mm <= 0) return;
  // A voxel survives when no background voxel lies within the ball: the background, dilated.
  const auto near_background = dilate_bits(pack(mask, 0, g), g, ball_rows(g, radius_mm));
  const int words = packed_words(g.size[0]);
  tbb::parallel_for(std::int64_t{0}, g.voxel_count(), [&](std::int64_t v) {
    mask[v] = mask[v] && !bit(near_background, words, g.size[0], v);
  });
}

void dilate_cpu(std::uint8_t* mask, const Geometry& g, double radius_mm) {
  if (radius_mm <= 0) return;
  const auto grown = dilate_bits(pack(mask, 1, g), g, ball_rows(g, radius_mm));
  const int words = packed_words(g.size[0]);
  tbb::parallel_for(std::int64_t{0}, g.voxel_count(), [&](std::int64_t v) { mask[v] = bit(grown, words, g.size[0], v); });
}

}  // namespace nc::kernels::detail
