// The deflate codec on zlib: where libdeflate is missing (io/CMakeLists.txt). zlib counts its
// buffers in 32-bit uInt, so longer buffers are fed to it in pieces.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <new>

#include "io/deflate_codec.hpp"

namespace nc::io::detail {
namespace {

constexpr std::size_t kPiece = UINT_MAX;

// inflate() over all of `in` into `out` from the positions given, member after member when
// `gzip`; stops at the end of a stream unless more input and room remain (gzip only).
bool inflate_all(z_stream& stream, std::span<const unsigned char> in, std::span<unsigned char> out, bool gzip) {
  std::size_t in_pos = 0, out_pos = 0;
  for (;;) {
    stream.next_in = const_cast<unsigned char*>(in.data() + in_pos);
    stream.avail_in = uInt(std::min(kPiece, in.size() - in_pos));
    stream.next_out = out.data() + out_pos;
    stream.avail_out = uInt(std::min(kPiece, out.size() - out_pos));
    const uInt had_in = stream.avail_in, had_out = stream.avail_out;
    const int status = inflate(&stream, Z_NO_FLUSH);
    in_pos += had_in - stream.avail_in;
    out_pos += had_out - stream.avail_out;
    if (status == Z_STREAM_END) {
      if (!gzip || out_pos == out.size() || in_pos == in.size()) break;
      if (inflateReset(&stream) != Z_OK) return false;  // the next member
      continue;
    }
    if (status != Z_OK) return false;
    if (had_in == stream.avail_in && had_out == stream.avail_out) return false;  // no progress: truncated
  }
  return out_pos == out.size() && in_pos == in.size();
}

}  // namespace

struct ZlibCompressor::Impl {
  int level;
};

ZlibCompressor::ZlibCompressor(int level) : impl_(new Impl{level}) {}
ZlibCompressor::~ZlibCompressor() = default;

std::vector<unsigned char> ZlibCompressor::compress(std::span<const unsigned char> raw) {
  z_stream stream{};
  if (deflateInit(&stream, impl_->level) != Z_OK) throw std::bad_alloc();
  std::vector<unsigned char> out(deflateBound(&stream, uLong(raw.size())));
  stream.next_in = const_cast<unsigned char*>(raw.data());
  stream.avail_in = uInt(raw.size());  // label chunks are a few MB at most
  stream.next_out = out.data();
  stream.avail_out = uInt(out.size());
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END) throw std::bad_alloc();  // deflateBound was too small: cannot happen
  return out;
}

struct Inflater::Impl {};

Inflater::Inflater() = default;
Inflater::~Inflater() = default;

bool Inflater::zlib_exact(std::span<const unsigned char> in, std::span<unsigned char> out) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return false;
  const bool ok = inflate_all(stream, in, out, false);
  inflateEnd(&stream);
  return ok;
}

bool Inflater::gzip_members_exact(std::span<const unsigned char> in, std::span<unsigned char> out) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return false;
  const bool ok = inflate_all(stream, in, out, true);
  inflateEnd(&stream);
  return ok;
}

}  // namespace nc::io::detail
