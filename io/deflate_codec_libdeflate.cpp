// The deflate codec on libdeflate (io/CMakeLists.txt chooses it where libdeflate is found).
#include <libdeflate.h>

#include "io/deflate_codec.hpp"

namespace nc::io::detail {

struct ZlibCompressor::Impl {
  libdeflate_compressor* compressor;
  ~Impl() { libdeflate_free_compressor(compressor); }
};

ZlibCompressor::ZlibCompressor(int level) : impl_(new Impl{libdeflate_alloc_compressor(level)}) {
  if (!impl_->compressor) throw std::bad_alloc();
}
ZlibCompressor::~ZlibCompressor() = default;

std::vector<unsigned char> ZlibCompressor::compress(std::span<const unsigned char> raw) {
  std::vector<unsigned char> out(libdeflate_zlib_compress_bound(impl_->compressor, raw.size()));
  out.resize(libdeflate_zlib_compress(impl_->compressor, raw.data(), raw.size(), out.data(), out.size()));
  return out;
}

struct Inflater::Impl {
  libdeflate_decompressor* decompressor;
  ~Impl() { libdeflate_free_decompressor(decompressor); }
};

Inflater::Inflater() : impl_(new Impl{libdeflate_alloc_decompressor()}) {
  if (!impl_->decompressor) throw std::bad_alloc();
}
Inflater::~Inflater() = default;

bool Inflater::zlib_exact(std::span<const unsigned char> in, std::span<unsigned char> out) {
  std::size_t produced = 0;
  return libdeflate_zlib_decompress(impl_->decompressor, in.data(), in.size(), out.data(), out.size(), &produced) ==
             LIBDEFLATE_SUCCESS &&
         produced == out.size();
}

bool Inflater::gzip_members_exact(std::span<const unsigned char> in, std::span<unsigned char> out) {
  std::size_t in_pos = 0, out_pos = 0;
  while (out_pos < out.size() && in_pos < in.size()) {
    std::size_t consumed = 0, produced = 0;
    if (libdeflate_gzip_decompress_ex(impl_->decompressor, in.data() + in_pos, in.size() - in_pos,
                                      out.data() + out_pos, out.size() - out_pos, &consumed,
                                      &produced) != LIBDEFLATE_SUCCESS)
      return false;
    in_pos += consumed;
    out_pos += produced;
  }
  return out_pos == out.size() && in_pos == in.size();
}

}  // namespace nc::io::detail
