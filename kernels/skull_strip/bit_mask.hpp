#pragma once
/// \file
/// The skull strip's working mask: bits packed 64 voxels to a word along i, one row of words
/// per (j, k). A 256³ mask is 2 MiB instead of 16, every morphology pass reads whole words,
/// and the component labelling walks runs of set bits instead of voxels. Both backends keep
/// the mask packed from the window test to the last closing; it is unpacked once at the end.

#include <cstdint>
#include <vector>

#include "core/geometry.hpp"

namespace nc::kernels::detail {

/// Words per packed row of `nx` voxels.
inline int packed_words(std::int64_t nx) { return int((nx + 63) / 64); }

struct BitMask {
  std::int64_t nx = 0, ny = 0, nz = 0;
  int words = 0;
  /// Row r = j + ny·k starts at word r·words; bits at and past nx are always zero.
  std::vector<std::uint64_t> bits;

  BitMask() = default;
  explicit BitMask(const Geometry& g)
      : nx(g.size[0]), ny(g.size[1]), nz(g.size[2]), words(packed_words(nx)), bits(std::size_t(ny * nz * words), 0) {}

  std::int64_t rows() const { return ny * nz; }
  std::uint64_t* row(std::int64_t r) { return bits.data() + r * words; }
  const std::uint64_t* row(std::int64_t r) const { return bits.data() + r * words; }
  /// The bits of a row's last word that lie inside the grid.
  std::uint64_t last_word_mask() const { return nx % 64 ? (std::uint64_t{1} << (nx % 64)) - 1 : ~std::uint64_t{0}; }
  bool operator==(const BitMask&) const = default;
};

// Host helpers (oneTBB).
BitMask pack_mask(const std::uint8_t* mask, const Geometry& g);
void unpack_mask(const BitMask& mask, std::uint8_t* out);
/// Voxels set, by popcount.
std::int64_t count_set(const BitMask& mask);
/// Every voxel of the grid that is not set (padding bits stay zero).
BitMask complement(const BitMask& mask);
/// mask &= other, word by word.
void intersect(BitMask& mask, const BitMask& other);

}  // namespace nc::kernels::detail
