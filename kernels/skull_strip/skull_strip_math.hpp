#pragma once
/// \file
/// Per-voxel and per-word math of skull stripping, shared by the oneTBB and CUDA paths: the
/// intensity window test and binary morphology on bit-packed rows.
///
/// Masks are packed 64 voxels to a word along i. Dilation by a ball of radius r (mm) ORs,
/// for every (j, k) offset of the ball's cross-section, the source row dilated along i by the
/// ball's half-width at that offset. Erosion is the complement's dilation: complement_word,
/// the dilation, then eroded_word. Voxels outside the grid count as neither: the bits past a
/// row's end stay zero in every mask (within_row), the complement's included.

#include <cstdint>

#include "core/nc_hd.hpp"

namespace nc::kernels {

/// 1 when lower <= value <= upper.
NC_HD inline std::uint8_t in_window(float value, float lower, float upper) {
  return value >= lower && value <= upper ? 1 : 0;
}

/// One (j, k) offset of a ball and the half-width, in voxels along i, of its cross-section there.
struct BallRow {
  int dj, dk, half_width;
};

/// Word q of a bit row of `words` words, dilated along i by `w` voxels (w < 64): the OR of
/// the row shifted by -w .. w bits. Bits beyond the row's ends are zero.
NC_HD inline std::uint64_t dilate_word(const std::uint64_t* row, int words, int q, int w) {
  const std::uint64_t mid = row[q];
  const std::uint64_t prev = q > 0 ? row[q - 1] : 0;
  const std::uint64_t next = q + 1 < words ? row[q + 1] : 0;
  std::uint64_t acc = mid;
  for (int t = 1; t <= w; ++t) {
    acc |= (mid << t) | (prev >> (64 - t));  // voxel x takes x - t
    acc |= (mid >> t) | (next << (64 - t));  // voxel x takes x + t
  }
  return acc;
}

/// `word` with the bits past the grid's end cleared when it is the last of its row
/// (`last_word_mask`: BitMask::last_word_mask()).
NC_HD inline std::uint64_t within_row(std::uint64_t word, bool last_of_row, std::uint64_t last_word_mask) {
  return last_of_row ? word & last_word_mask : word;
}

/// A word of the mask's complement: the grid's voxels that are not set.
NC_HD inline std::uint64_t complement_word(std::uint64_t word, bool last_of_row, std::uint64_t last_word_mask) {
  return within_row(~word, last_of_row, last_word_mask);
}

/// A word of the eroded mask, given the same word of the complement dilated by the ball: a
/// voxel survives when no background voxel lies within the ball.
NC_HD inline std::uint64_t eroded_word(std::uint64_t word, std::uint64_t dilated_background) {
  return word & ~dilated_background;
}

}  // namespace nc::kernels
