#include "cluster/record_codec.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace nc::cluster {
namespace {

constexpr char kMagic[4] = {'N', 'C', 'R', 'C'};
// Bounds far above any real record, so that a damaged length is an error, not an allocation.
constexpr std::uint64_t kMaxText = std::uint64_t{1} << 20;
constexpr std::uint32_t kMaxMetrics = 1024;

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const char*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, std::size_t n) {
    put(std::uint64_t(n));
    const auto* p = static_cast<const char*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  void put(const std::string& text) { put_bytes(text.data(), text.size()); }
  void put_doubles(const std::vector<double>& values) {
    put(std::uint64_t(values.size()));
    const auto* p = reinterpret_cast<const char*>(values.data());
    bytes_.insert(bytes_.end(), p, p + values.size() * sizeof(double));
  }
  void reserve(std::size_t n) { bytes_.reserve(n); }
  std::vector<char> take() { return std::move(bytes_); }

 private:
  std::vector<char> bytes_;
};

class Reader {
 public:
  explicit Reader(const std::vector<char>& bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  // A length-prefixed byte string of at most `limit` bytes.
  const char* get_bytes(std::uint64_t& n, std::uint64_t limit) {
    n = get<std::uint64_t>();
    if (n > limit) fail("a length of " + std::to_string(n) + " bytes");
    return take(std::size_t(n));
  }
  std::string get_string() {
    std::uint64_t n = 0;
    const char* p = get_bytes(n, kMaxText);
    return std::string(p, p + n);
  }
  std::vector<double> get_doubles() {
    const auto n = get<std::uint64_t>();
    if (n > remaining() / sizeof(double)) fail("a vector of " + std::to_string(n) + " values");
    std::vector<double> values(n);
    const char* p = take(std::size_t(n) * sizeof(double));
    if (n > 0) std::memcpy(values.data(), p, std::size_t(n) * sizeof(double));  // data() may be null when empty
    return values;
  }
  std::size_t remaining() const { return bytes_.size() - at_; }
  void set_row(std::size_t row) { row_ = row; }
  [[noreturn]] void fail(const std::string& what) const {
    throw RecordError("damaged record message (" + what + " at byte " + std::to_string(at_) + " of " +
                          std::to_string(bytes_.size()) + ")",
                      row_);
  }

 private:
  const char* take(std::size_t n) {
    if (n > remaining()) fail("truncated");
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  const std::vector<char>& bytes_;
  std::size_t at_ = 0;
  std::optional<std::size_t> row_;
};

void put_labels(Writer& w, const io::StoredLabels& labels) {
  const Geometry& g = labels.geometry;
  w.put(g.size);
  w.put(g.spacing_mm);
  w.put(g.origin_mm);
  w.put(g.direction);
  w.put(std::uint8_t(labels.one_byte));
  w.put(std::uint64_t(labels.chunks.size()));
  for (const auto& chunk : labels.chunks) w.put_bytes(chunk.data(), chunk.size());
}

io::StoredLabels get_labels(Reader& in) {
  io::StoredLabels labels;
  Geometry& g = labels.geometry;
  g.size = in.get<decltype(g.size)>();
  g.spacing_mm = in.get<Vec3>();
  g.origin_mm = in.get<Vec3>();
  g.direction = in.get<Mat3>();
  // In double: sizes from a damaged message would overflow the int64 product.
  const bool sizes_valid = std::all_of(g.size.begin(), g.size.end(), [](std::int64_t n) { return n >= 1; }) &&
                           double(g.size[0]) * double(g.size[1]) * double(g.size[2]) <= io::kMaxLabelVoxels;
  if (!sizes_valid)
    in.fail("a label map of " + std::to_string(g.size[0]) + "×" + std::to_string(g.size[1]) + "×" +
            std::to_string(g.size[2]) + " voxels");
  labels.one_byte = in.get<std::uint8_t>() != 0;
  const auto chunks = in.get<std::uint64_t>();
  if (chunks != io::label_chunk_count(g))
    in.fail(std::to_string(chunks) + " label chunks for a grid of " + std::to_string(io::label_chunk_count(g)));
  labels.chunks.resize(std::size_t(chunks));
  for (auto& chunk : labels.chunks) {
    std::uint64_t n = 0;
    const char* p = in.get_bytes(n, in.remaining());
    chunk.assign(reinterpret_cast<const unsigned char*>(p), reinterpret_cast<const unsigned char*>(p) + n);
  }
  return labels;
}

}  // namespace

std::vector<char> encode_record(const io::ScanRecord& r) {
  Writer w;
  w.reserve(1024 + (r.labels ? r.labels->stored_bytes() + 8 * r.labels->chunks.size() : 0));
  for (char c : kMagic) w.put(c);
  w.put(kRecordVersion);
  w.put(std::uint64_t(r.row));
  w.put(std::uint8_t(r.ok));
  w.put(r.error);
  w.put(r.icv_ml);
  w.put(r.seconds);
  w.put(r.host);
  w.put(std::int32_t(r.rank));
  w.put(r.started_at);
  w.put(r.finished_at);
  w.put_doubles(r.stage_seconds);
  for (const auto* named : {&r.metrics, &r.qc}) {
    w.put(std::uint32_t(named->size()));
    for (const auto& [name, values] : *named) {
      w.put(name);
      w.put_doubles(values);
    }
  }
  w.put(std::uint8_t(r.labels.has_value()));
  if (r.labels) put_labels(w, *r.labels);
  return w.take();
}

io::ScanRecord decode_record(const std::vector<char>& bytes) {
  Reader in(bytes);
  char magic[4];
  for (char& c : magic) c = in.get<char>();
  if (!std::equal(magic, magic + 4, kMagic)) in.fail("not a record");
  if (const auto version = in.get<std::uint16_t>(); version != kRecordVersion)
    in.fail("version " + std::to_string(version) + ", this build reads " + std::to_string(kRecordVersion));
  io::ScanRecord r;
  r.row = std::size_t(in.get<std::uint64_t>());
  in.set_row(r.row);
  r.ok = in.get<std::uint8_t>() != 0;
  r.error = in.get_string();
  r.icv_ml = in.get<double>();
  r.seconds = in.get<double>();
  r.host = in.get_string();
  r.rank = in.get<std::int32_t>();
  r.started_at = in.get<double>();
  r.finished_at = in.get<double>();
  r.stage_seconds = in.get_doubles();
  for (auto* named : {&r.metrics, &r.qc}) {
    const auto count = in.get<std::uint32_t>();
    if (count > kMaxMetrics) in.fail(std::to_string(count) + (named == &r.qc ? " QC measures" : " metrics"));
    for (std::uint32_t m = 0; m < count; ++m) {
      std::string name = in.get_string();
      (*named)[name] = in.get_doubles();
    }
  }
  if (in.get<std::uint8_t>()) r.labels = get_labels(in);
  if (in.remaining() != 0) in.fail(std::to_string(in.remaining()) + " bytes past the record");
  return r;
}

}  // namespace nc::cluster
