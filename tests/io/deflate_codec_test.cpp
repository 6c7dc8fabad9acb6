// The deflate codec against zlib as the peer: what it compresses zlib inflates, what zlib
// compresses (one zlib stream; gzip members one after another) it inflates, and a truncated,
// corrupt, short or overlong stream is refused. The same tests run over both implementations:
// io_tests links the one this build chose, deflate_codec_zlib_tests the zlib one.
#include "io/deflate_codec.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace nc::io::detail {
namespace {

// Compressible bytes, as label chunks are: runs of a few values.
std::vector<unsigned char> runs_of_labels(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out;
  while (out.size() < n) out.insert(out.end(), std::min<std::size_t>(n - out.size(), rng() % 300), rng() % 12);
  return out;
}

// One gzip member written by zlib.
std::vector<unsigned char> gzip_member(std::span<const unsigned char> raw) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<unsigned char> out(deflateBound(&s, uLong(raw.size())) + 32);
  s.next_in = const_cast<unsigned char*>(raw.data());
  s.avail_in = uInt(raw.size());
  s.next_out = out.data();
  s.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&s, Z_FINISH), Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

TEST(DeflateCodec, ZlibInflatesWhatItCompressesAndBack) {
  const std::vector<unsigned char> raw = runs_of_labels(1 << 20, 1);
  ZlibCompressor compressor(6);
  const std::vector<unsigned char> packed = compressor.compress(raw);
  ASSERT_LT(packed.size(), raw.size() / 4);
  std::vector<unsigned char> peer(raw.size());
  uLongf peer_size = uLongf(peer.size());
  ASSERT_EQ(uncompress(peer.data(), &peer_size, packed.data(), uLong(packed.size())), Z_OK);
  EXPECT_EQ(peer, raw);

  std::vector<unsigned char> zlib_packed(compressBound(uLong(raw.size())));
  uLongf zlib_size = uLongf(zlib_packed.size());
  ASSERT_EQ(compress2(zlib_packed.data(), &zlib_size, raw.data(), uLong(raw.size()), 9), Z_OK);
  zlib_packed.resize(zlib_size);
  std::vector<unsigned char> out(raw.size());
  Inflater inflater;
  ASSERT_TRUE(inflater.zlib_exact(zlib_packed, out));
  EXPECT_EQ(out, raw);
}

TEST(DeflateCodec, ZlibStreamsOfAnotherLengthOrCorruptAreRefused) {
  const std::vector<unsigned char> raw = runs_of_labels(100000, 2);
  const std::vector<unsigned char> packed = ZlibCompressor(6).compress(raw);
  Inflater inflater;
  std::vector<unsigned char> shorter(raw.size() - 1), longer(raw.size() + 1), exact(raw.size());
  EXPECT_FALSE(inflater.zlib_exact(packed, shorter));
  EXPECT_FALSE(inflater.zlib_exact(packed, longer));
  EXPECT_FALSE(inflater.zlib_exact(std::span(packed).first(packed.size() / 2), exact));
  std::vector<unsigned char> corrupt = packed;
  corrupt[corrupt.size() - 2] ^= 0x40;  // the Adler-32 checksum
  EXPECT_FALSE(inflater.zlib_exact(corrupt, exact));
  EXPECT_TRUE(inflater.zlib_exact(packed, exact));  // the same inflater, reused
}

TEST(DeflateCodec, GzipMembersAreInflatedOneAfterAnother) {
  const std::vector<unsigned char> a = runs_of_labels(300000, 3), b = runs_of_labels(200001, 4);
  std::vector<unsigned char> file = gzip_member(a);
  const std::vector<unsigned char> second = gzip_member(b);
  file.insert(file.end(), second.begin(), second.end());
  std::vector<unsigned char> expected = a;
  expected.insert(expected.end(), b.begin(), b.end());

  Inflater inflater;
  std::vector<unsigned char> out(expected.size());
  ASSERT_TRUE(inflater.gzip_members_exact(file, out));
  EXPECT_EQ(out, expected);

  std::vector<unsigned char> trailing = file;
  trailing.push_back(0);  // bytes past the voxels: not exactly the file the header describes
  EXPECT_FALSE(inflater.gzip_members_exact(trailing, out));
  EXPECT_FALSE(inflater.gzip_members_exact(std::span(file).first(file.size() - 5), out));  // truncated
  std::vector<unsigned char> corrupt = file;
  corrupt[file.size() - 6] ^= 0x01;  // the second member's CRC-32
  EXPECT_FALSE(inflater.gzip_members_exact(corrupt, out));
  std::vector<unsigned char> longer(expected.size() + 1);
  EXPECT_FALSE(inflater.gzip_members_exact(file, longer));
}

}  // namespace
}  // namespace nc::io::detail
