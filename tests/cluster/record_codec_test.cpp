// The record a worker sends to the coordinator: label maps in the store's form round-trip
// exactly (CT- and MR-sized, uint8 and uint16, partial edge chunks), and every malformed
// message is a RecordError naming what is wrong — never a crash, never a record.
#include "cluster/record_codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/label_chunks.hpp"

namespace nc::cluster {
namespace {

// A map of smooth blobs (as a segmentation is) on `size`, with labels up to `top`.
LabelVolume blob_labels(std::array<std::int64_t, 3> size, std::uint16_t top) {
  Geometry g;
  g.size = size;
  g.spacing_mm = {0.45, 0.45, 0.8};
  g.origin_mm = {-115.0, -120.0, 10.0};
  LabelVolume labels(g);
  for (std::int64_t k = 0; k < size[2]; ++k)
    for (std::int64_t j = 0; j < size[1]; ++j)
      for (std::int64_t i = 0; i < size[0]; ++i) {
        const std::int64_t di = i - size[0] / 2, dj = j - size[1] / 2, dk = k - size[2] / 2;
        const double r = std::sqrt(double(di * di + dj * dj + 4 * dk * dk)) / double(size[0]);
        labels.at(i, j, k) = r < 0.4 ? std::uint16_t(1 + (i > size[0] / 2) + 2 * int(r * 10) % top) : 0;
      }
  return labels;
}

io::ScanRecord record_with(const LabelVolume& labels, std::size_t row) {
  io::ScanRecord r;
  r.row = row;
  r.ok = true;
  r.icv_ml = 1480.5;
  r.seconds = 3.25;
  r.host = "gpu-node-017";
  r.rank = 12;
  r.started_at = 1796130000.25;
  r.finished_at = 1796130003.5;
  r.stage_seconds = {0.5, 0.75, 1.5, 0.5};
  r.metrics["volume_ml"] = {101.5, 99.0, 0.0};
  r.metrics["dice"] = {};
  r.qc["mean_max_probability"] = {0.93};
  r.qc["components"] = {1, 4, 0};
  r.labels = io::to_stored_form(labels);
  return r;
}

void expect_same(const io::ScanRecord& a, const io::ScanRecord& b) {
  EXPECT_EQ(a.row, b.row);
  EXPECT_EQ(a.ok, b.ok);
  EXPECT_EQ(a.error, b.error);
  EXPECT_TRUE(a.icv_ml == b.icv_ml || (std::isnan(a.icv_ml) && std::isnan(b.icv_ml)));
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_TRUE(a.started_at == b.started_at || (std::isnan(a.started_at) && std::isnan(b.started_at)));
  EXPECT_TRUE(a.finished_at == b.finished_at || (std::isnan(a.finished_at) && std::isnan(b.finished_at)));
  EXPECT_EQ(a.stage_seconds, b.stage_seconds);
  EXPECT_EQ(a.metrics, b.metrics);
  EXPECT_EQ(a.qc, b.qc);
  ASSERT_EQ(a.labels.has_value(), b.labels.has_value());
  if (a.labels) {
    EXPECT_TRUE(*a.labels == *b.labels);
  }
}

TEST(RecordCodec, CtSizedMapRoundTripsInStoredForm) {
  const LabelVolume ct = blob_labels({512, 512, 250}, 10);
  const auto record = record_with(ct, 7);
  const auto bytes = encode_record(record);
  EXPECT_LT(bytes.size(), ct.voxels.size() * 2 / 100) << "the stored form is over 100× smaller than raw uint16";
  const auto back = decode_record(bytes);
  expect_same(record, back);
  EXPECT_EQ(io::from_stored_form(*back.labels).voxels, ct.voxels);
}

TEST(RecordCodec, MrSizedAndEdgeChunkMapsRoundTrip) {
  for (const auto& [size, top] : std::vector<std::pair<std::array<std::int64_t, 3>, std::uint16_t>>{
           {{181, 217, 181}, 10}, {{65, 1, 130}, 300}, {{1, 1, 1}, 1}, {{64, 64, 64}, 1000}}) {
    const LabelVolume labels = blob_labels(size, top);
    const auto record = record_with(labels, 3);
    const auto back = decode_record(encode_record(record));
    expect_same(record, back);
    EXPECT_EQ(back.labels->one_byte, record.labels->one_byte);
    EXPECT_EQ(io::from_stored_form(*back.labels).voxels, labels.voxels) << size[0] << "×" << size[1] << "×" << size[2];
  }
  io::ScanRecord failed;
  failed.row = 2;
  failed.error = "read: truncated";
  expect_same(failed, decode_record(encode_record(failed)));
}

std::string error_of(const std::vector<char>& bytes) {
  try {
    decode_record(bytes);
  } catch (const RecordError& e) {
    return e.what();
  }
  return "";
}

TEST(RecordCodec, EveryTruncationIsAnError) {
  const auto bytes = encode_record(record_with(blob_labels({70, 66, 20}, 5), 4));
  for (std::size_t n = 0; n < bytes.size(); n += std::max<std::size_t>(1, n / 50)) {
    const std::vector<char> cut(bytes.begin(), bytes.begin() + std::ptrdiff_t(n));
    EXPECT_NE(error_of(cut), "") << "cut at " << n << " of " << bytes.size();
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_NE(error_of(longer).find("1 bytes past the record"), std::string::npos);
}

TEST(RecordCodec, MalformedFieldsAreNamed) {
  const auto good = encode_record(record_with(blob_labels({70, 66, 20}, 5), 4));
  auto version = good;
  version[4] = 9;
  EXPECT_NE(error_of(version).find("version 9"), std::string::npos);
  auto magic = good;
  magic[0] = 'X';
  EXPECT_NE(error_of(magic).find("not a record"), std::string::npos);

  // The label map's fields sit at the end: size, spacing, origin, direction, one_byte, count.
  const auto record = record_with(blob_labels({70, 66, 20}, 5), 4);
  std::size_t chunk_bytes = 0;
  for (const auto& c : record.labels->chunks) chunk_bytes += 8 + c.size();
  const std::size_t count_at = good.size() - chunk_bytes - 8, size_at = count_at - 1 - 9 * 8 - 3 * 8 - 3 * 8 - 3 * 8;
  auto count = good;
  const std::uint64_t three = 3;
  std::memcpy(count.data() + count_at, &three, 8);
  EXPECT_NE(error_of(count).find("3 label chunks for a grid of 4"), std::string::npos) << error_of(count);
  auto huge = good;
  const std::int64_t big = std::int64_t{1} << 40;
  std::memcpy(huge.data() + size_at, &big, 8);
  EXPECT_NE(error_of(huge).find("voxels"), std::string::npos) << error_of(huge);
  auto past = good;
  const std::uint64_t far = std::uint64_t{1} << 40;
  std::memcpy(past.data() + count_at + 8, &far, 8);  // the first chunk's length
  EXPECT_NE(error_of(past), "");
  try {
    decode_record(past);
  } catch (const RecordError& e) {
    EXPECT_EQ(e.row(), std::optional<std::size_t>(4)) << "the scan is named once the row is read";
  }
}

TEST(StoredLabels, DamagedChunkFailsItsChecksum) {
  auto stored = io::to_stored_form(blob_labels({70, 66, 20}, 5));
  stored.chunks[1][stored.chunks[1].size() / 2] ^= 0x40;
  EXPECT_THROW(io::from_stored_form(stored), Error);
}

}  // namespace
}  // namespace nc::cluster
