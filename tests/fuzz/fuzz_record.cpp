// libFuzzer target: nc::cluster::decode_record on arbitrary bytes (the message a worker rank
// sends the coordinator). Malformed input must throw nc::Error; a decoded record must survive
// encode -> decode unchanged (row, ok, error, metrics and QC measures bit for bit, the label map's stored
// chunks byte for byte). A decoded label map is then decoded from its stored form
// (io::from_stored_form: checksums, inflate, unshuffle) as a reader of the store would, where
// it has at most 2^24 voxels; a damaged chunk must throw nc::Error.
#include <cstdint>
#include <cstring>
#include <vector>

#include "cluster/record_codec.hpp"
#include "core/error.hpp"
#include "io/label_chunks.hpp"

namespace {

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

bool same_record(const nc::io::ScanRecord& a, const nc::io::ScanRecord& b) {
  if (a.row != b.row || a.ok != b.ok || a.error != b.error || a.host != b.host || a.rank != b.rank) return false;
  if (std::memcmp(&a.icv_ml, &b.icv_ml, sizeof(double)) != 0) return false;
  if (std::memcmp(&a.seconds, &b.seconds, sizeof(double)) != 0) return false;
  for (const auto& [ma, mb] : {std::pair{&a.metrics, &b.metrics}, std::pair{&a.qc, &b.qc}}) {
    if (ma->size() != mb->size()) return false;
    for (auto ia = ma->begin(), ib = mb->begin(); ia != ma->end(); ++ia, ++ib)
      if (ia->first != ib->first || !same_bits(ia->second, ib->second)) return false;
  }
  if (a.labels.has_value() != b.labels.has_value()) return false;
  if (!a.labels) return true;
  // Geometry bit for bit (a NaN spacing is not == itself), width, every stored chunk's bytes.
  const nc::Geometry &ga = a.labels->geometry, &gb = b.labels->geometry;
  return ga.size == gb.size && std::memcmp(&ga.spacing_mm, &gb.spacing_mm, sizeof ga.spacing_mm) == 0 &&
         std::memcmp(&ga.origin_mm, &gb.origin_mm, sizeof ga.origin_mm) == 0 &&
         std::memcmp(&ga.direction, &gb.direction, sizeof ga.direction) == 0 &&
         a.labels->one_byte == b.labels->one_byte && a.labels->chunks == b.labels->chunks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> bytes(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
  nc::io::ScanRecord record;
  try {
    record = nc::cluster::decode_record(bytes);
  } catch (const nc::Error&) {
    return 0;  // rejected as malformed: expected
  }
  const std::vector<char> again = nc::cluster::encode_record(record);
  nc::io::ScanRecord round_trip;
  try {
    round_trip = nc::cluster::decode_record(again);
  } catch (const nc::Error&) {
    __builtin_trap();  // our own encoding must decode
  }
  if (!same_record(record, round_trip)) __builtin_trap();
  if (record.labels && record.labels->geometry.voxel_count() <= (std::int64_t{1} << 24)) {
    try {
      const nc::LabelVolume voxels = nc::io::from_stored_form(*record.labels);
      if (voxels.geometry.size != record.labels->geometry.size ||
          std::int64_t(voxels.voxels.size()) != record.labels->geometry.voxel_count())
        __builtin_trap();
    } catch (const nc::Error&) {
    }
  }
  return 0;
}
