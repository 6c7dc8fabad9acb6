#pragma once
/// \file
/// The stored form of a label map, and the one definition of how /labels/<scan_id> lies on
/// disk (docs/hdf5-schema.md): 64³ chunks over the [k][j][i] dataset, each byte-shuffled (low
/// bytes first; a no-op for uint8), zlib-compressed at level 4 and given a Fletcher-32
/// checksum, exactly as the dataset's filter pipeline (shuffle, deflate, fletcher32) leaves
/// it. Workers make it in parallel; the coordinator stores the bytes with H5Dwrite_chunk and
/// merge copies them with H5Dread_chunk, so neither decompresses nor recompresses a voxel.
/// A CT map of 65 M voxels is about 0.5 MB in this form instead of 131 MB.

#include <array>
#include <cstdint>
#include <vector>

#include "core/volume.hpp"

namespace nc::io {

struct StoredLabels {
  Geometry geometry;
  bool one_byte = true;  ///< stored as uint8 (every label below 256), else uint16
  /// The filtered chunks in dataset order: i-chunks fastest, then j, then k.
  std::vector<std::vector<unsigned char>> chunks;

  bool operator==(const StoredLabels&) const = default;
  /// Bytes of all chunks together: what the form costs on the wire and on disk.
  std::size_t stored_bytes() const;
};

inline constexpr std::uint64_t kLabelChunkEdge = 64;
/// No label map has more voxels (4 Gi, beyond any image budget): a larger claim in a results
/// file or a record message is damage, refused before anything is allocated.
inline constexpr double kMaxLabelVoxels = 4.0 * 1024 * 1024 * 1024;
inline constexpr int kLabelDeflateLevel = 4;

/// The dataset's dimensions [k][j][i] for a map on `grid`.
std::array<std::uint64_t, 3> label_dataset_dims(const Geometry& grid);
/// The chunk dimensions [k][j][i] (64, or the dimension where it is smaller).
std::array<std::uint64_t, 3> label_chunk_dims(const Geometry& grid);
/// How many chunks a map on `grid` has.
std::size_t label_chunk_count(const Geometry& grid);
/// The dataset offset [k][j][i] of chunk `index` (dataset order).
std::array<std::uint64_t, 3> label_chunk_offset(const Geometry& grid, std::size_t index);

/// Cuts, shuffles, compresses and checksums every chunk, in parallel (oneTBB).
StoredLabels to_stored_form(const LabelVolume& labels);

/// The voxels back, each chunk's checksum verified. \throws Error on a damaged chunk.
LabelVolume from_stored_form(const StoredLabels& stored);

/// HDF5's Fletcher-32 of `bytes` (16-bit words big-endian, an odd last byte as a high byte).
std::uint32_t fletcher32(const unsigned char* bytes, std::size_t size);

}  // namespace nc::io
