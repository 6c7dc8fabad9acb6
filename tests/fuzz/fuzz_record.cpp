// libFuzzer target: nc::cluster::decode_record on arbitrary bytes (the message a worker rank
// sends the coordinator). Malformed input must throw nc::Error; a decoded record must survive
// encode -> decode unchanged (row, ok, error, metrics bit for bit, label voxels).
#include <cstdint>
#include <cstring>
#include <vector>

#include "cluster/record_codec.hpp"
#include "core/error.hpp"

namespace {

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

bool same_record(const nc::io::ScanRecord& a, const nc::io::ScanRecord& b) {
  if (a.row != b.row || a.ok != b.ok || a.error != b.error || a.host != b.host || a.rank != b.rank) return false;
  if (std::memcmp(&a.icv_ml, &b.icv_ml, sizeof(double)) != 0) return false;
  if (std::memcmp(&a.seconds, &b.seconds, sizeof(double)) != 0) return false;
  if (a.metrics.size() != b.metrics.size()) return false;
  for (auto ia = a.metrics.begin(), ib = b.metrics.begin(); ia != a.metrics.end(); ++ia, ++ib)
    if (ia->first != ib->first || !same_bits(ia->second, ib->second)) return false;
  if (a.labels.has_value() != b.labels.has_value()) return false;
  if (a.labels && (a.labels->geometry.size != b.labels->geometry.size || a.labels->voxels != b.labels->voxels))
    return false;
  return true;
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
  return 0;
}
