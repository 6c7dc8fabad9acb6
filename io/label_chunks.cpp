#include "io/label_chunks.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "io/deflate_codec.hpp"

namespace nc::io {
namespace {

std::uint16_t largest_label(const LabelVolume& labels) {
  return tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, labels.voxels.size()), std::uint16_t{0},
      [&](const tbb::blocked_range<std::size_t>& r, std::uint16_t m) {
        for (std::size_t v = r.begin(); v != r.end(); ++v) m = std::max(m, labels.voxels[v]);
        return m;
      },
      [](std::uint16_t a, std::uint16_t b) { return std::max(a, b); });
}

std::array<std::uint64_t, 3> chunk_grid(const Geometry& grid) {
  const auto dims = label_dataset_dims(grid), chunk = label_chunk_dims(grid);
  return {(dims[0] + chunk[0] - 1) / chunk[0], (dims[1] + chunk[1] - 1) / chunk[1],
          (dims[2] + chunk[2] - 1) / chunk[2]};
}

// Visits the voxels of chunk `offset` that lie inside the map (edge chunks are partial; the
// rest of such a chunk is zero): f(voxel index in the map, position in the chunk).
template <typename F>
void for_each_voxel_of_chunk(const Geometry& grid, const std::array<std::uint64_t, 3>& offset, F&& f) {
  const auto dims = label_dataset_dims(grid), chunk = label_chunk_dims(grid);
  const std::uint64_t nx = dims[2], ny = dims[1];
  for (std::uint64_t k = 0; k < std::min(chunk[0], dims[0] - offset[0]); ++k)
    for (std::uint64_t j = 0; j < std::min(chunk[1], dims[1] - offset[1]); ++j) {
      const std::uint64_t src = offset[2] + nx * ((offset[1] + j) + ny * (offset[0] + k));
      const std::uint64_t dst = chunk[2] * (j + chunk[1] * k);
      for (std::uint64_t i = 0; i < std::min(chunk[2], dims[2] - offset[2]); ++i) f(src + i, dst + i);
    }
}

std::uint64_t chunk_voxels(const Geometry& grid) {
  const auto chunk = label_chunk_dims(grid);
  return chunk[0] * chunk[1] * chunk[2];
}

std::vector<unsigned char> filtered_chunk(const LabelVolume& labels, bool one_byte, std::size_t index,
                                          detail::ZlibCompressor& compressor) {
  const std::uint64_t n = chunk_voxels(labels.geometry);
  std::vector<unsigned char> raw(n * (one_byte ? 1 : 2), 0);
  for_each_voxel_of_chunk(labels.geometry, label_chunk_offset(labels.geometry, index),
                          [&](std::uint64_t voxel, std::uint64_t at) {
                            const std::uint16_t v = labels.voxels[voxel];
                            raw[at] = static_cast<unsigned char>(v & 0xff);
                            if (!one_byte) raw[n + at] = static_cast<unsigned char>(v >> 8);
                          });
  std::vector<unsigned char> out = compressor.compress(raw);
  const std::uint32_t checksum = fletcher32(out.data(), out.size());
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<unsigned char>(checksum >> (8 * b)));
  return out;
}

}  // namespace

std::size_t StoredLabels::stored_bytes() const {
  std::size_t bytes = 0;
  for (const auto& c : chunks) bytes += c.size();
  return bytes;
}

std::array<std::uint64_t, 3> label_dataset_dims(const Geometry& grid) {
  return {std::uint64_t(grid.size[2]), std::uint64_t(grid.size[1]), std::uint64_t(grid.size[0])};
}

std::array<std::uint64_t, 3> label_chunk_dims(const Geometry& grid) {
  const auto dims = label_dataset_dims(grid);
  return {std::min(dims[0], kLabelChunkEdge), std::min(dims[1], kLabelChunkEdge), std::min(dims[2], kLabelChunkEdge)};
}

std::size_t label_chunk_count(const Geometry& grid) {
  const auto g = chunk_grid(grid);
  return std::size_t(g[0] * g[1] * g[2]);
}

std::array<std::uint64_t, 3> label_chunk_offset(const Geometry& grid, std::size_t index) {
  const auto g = chunk_grid(grid), chunk = label_chunk_dims(grid);
  return {(index / g[2] / g[1]) * chunk[0], (index / g[2] % g[1]) * chunk[1], (index % g[2]) * chunk[2]};
}

// 360 words per block keep both sums below 2^32 before they are folded.
std::uint32_t fletcher32(const unsigned char* p, std::size_t size) {
  std::uint32_t sum1 = 0, sum2 = 0;
  const auto fold = [&] {
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  };
  const std::size_t words = size / 2;
  for (std::size_t done = 0; done < words;) {
    const std::size_t block = std::min<std::size_t>(360, words - done);
    for (std::size_t w = 0; w < block; ++w, p += 2) {
      sum1 += (std::uint32_t(p[0]) << 8) | p[1];
      sum2 += sum1;
    }
    done += block;
    fold();
  }
  if (size % 2) {
    sum1 += std::uint32_t(*p) << 8;
    sum2 += sum1;
    fold();
  }
  fold();
  return (sum2 << 16) | sum1;
}

StoredLabels to_stored_form(const LabelVolume& labels) {
  StoredLabels stored;
  stored.geometry = labels.geometry;
  stored.one_byte = largest_label(labels) < 256;
  stored.chunks.resize(label_chunk_count(labels.geometry));
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, stored.chunks.size()),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      detail::ZlibCompressor compressor(kLabelDeflateLevel);
                      for (std::size_t c = r.begin(); c != r.end(); ++c)
                        stored.chunks[c] = filtered_chunk(labels, stored.one_byte, c, compressor);
                    });
  return stored;
}

LabelVolume from_stored_form(const StoredLabels& stored) {
  if (stored.chunks.size() != label_chunk_count(stored.geometry))
    throw Error("stored label map: " + std::to_string(stored.chunks.size()) + " chunks for a grid of " +
                std::to_string(label_chunk_count(stored.geometry)));
  LabelVolume labels(stored.geometry);
  const std::uint64_t n = chunk_voxels(stored.geometry);
  const std::size_t bytes = std::size_t(n) * (stored.one_byte ? 1 : 2);
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, stored.chunks.size()), [&](const tbb::blocked_range<std::size_t>& r) {
        detail::Inflater inflater;
        std::vector<unsigned char> raw(bytes);
        for (std::size_t c = r.begin(); c != r.end(); ++c) {
          const auto& chunk = stored.chunks[c];
          if (chunk.size() < 4) throw Error("stored label map: chunk " + std::to_string(c) + " is truncated");
          std::uint32_t stored_sum = 0;
          for (int b = 0; b < 4; ++b) stored_sum |= std::uint32_t(chunk[chunk.size() - 4 + std::size_t(b)]) << (8 * b);
          if (fletcher32(chunk.data(), chunk.size() - 4) != stored_sum)
            throw Error("stored label map: chunk " + std::to_string(c) + " fails its checksum");
          if (!inflater.zlib_exact(std::span(chunk.data(), chunk.size() - 4), raw))
            throw Error("stored label map: chunk " + std::to_string(c) + " does not inflate to its size");
          for_each_voxel_of_chunk(
              stored.geometry, label_chunk_offset(stored.geometry, c), [&](std::uint64_t voxel, std::uint64_t at) {
                labels.voxels[voxel] = stored.one_byte ? raw[at] : std::uint16_t(raw[at] | (raw[n + at] << 8));
              });
        }
      });
  return labels;
}

}  // namespace nc::io
