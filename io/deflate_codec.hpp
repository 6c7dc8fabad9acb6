#pragma once
/// \file
/// The deflate streams neurocohort reads and writes: zlib streams (RFC 1950), one per stored
/// label chunk, and the gzip members (RFC 1952) of .nii.gz voxel data. Two implementations
/// behind one interface, chosen at configure time (io/CMakeLists.txt): libdeflate, 2–3× faster
/// on whole buffers, where it is found; zlib otherwise. Either reads what the other wrote.

#include <memory>
#include <span>
#include <vector>

namespace nc::io::detail {

/// Compresses whole buffers into zlib streams at one level. One per thread.
class ZlibCompressor {
 public:
  explicit ZlibCompressor(int level);
  ~ZlibCompressor();
  ZlibCompressor(const ZlibCompressor&) = delete;
  ZlibCompressor& operator=(const ZlibCompressor&) = delete;

  std::vector<unsigned char> compress(std::span<const unsigned char> raw);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Inflates whole buffers. One per thread.
class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  /// One zlib stream that fills `out` exactly; false on corrupt data or another length.
  bool zlib_exact(std::span<const unsigned char> in, std::span<unsigned char> out);
  /// gzip members one after another until `out` is full; true only when `out` is filled
  /// exactly and all of `in` was consumed, so that every member's CRC and length were checked.
  bool gzip_members_exact(std::span<const unsigned char> in, std::span<unsigned char> out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nc::io::detail
