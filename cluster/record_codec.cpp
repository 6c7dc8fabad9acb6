#include "cluster/record_codec.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "core/error.hpp"

namespace nc::cluster {
namespace {

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const char*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put(const std::string& text) {
    put(std::uint64_t(text.size()));
    bytes_.insert(bytes_.end(), text.begin(), text.end());
  }
  template <typename T>
  void put_vector(const std::vector<T>& values) {
    put(std::uint64_t(values.size()));
    const auto* p = reinterpret_cast<const char*>(values.data());
    bytes_.insert(bytes_.end(), p, p + values.size() * sizeof(T));
  }
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
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    const char* p = take(n);
    return std::string(p, p + n);
  }
  template <typename T>
  std::vector<T> get_vector() {
    const auto n = get<std::uint64_t>();
    if (n > bytes_.size() / sizeof(T)) throw Error("record message: malformed vector length");
    std::vector<T> values(n);
    const char* p = take(n * sizeof(T));
    if (n > 0) std::memcpy(values.data(), p, n * sizeof(T));  // an empty vector's data() may be null
    return values;
  }

 private:
  const char* take(std::size_t n) {
    if (n > bytes_.size() - at_) throw Error("record message: truncated");
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  const std::vector<char>& bytes_;
  std::size_t at_ = 0;

 public:
  bool at_end() const { return at_ == bytes_.size(); }
};

}  // namespace

std::vector<char> encode_record(const io::ScanRecord& r) {
  Writer w;
  w.put(std::uint64_t(r.row));
  w.put(std::uint8_t(r.ok));
  w.put(r.error);
  w.put(r.icv_ml);
  w.put(r.seconds);
  w.put(r.host);
  w.put(std::int32_t(r.rank));
  w.put(std::uint64_t(r.metrics.size()));
  for (const auto& [name, values] : r.metrics) {
    w.put(name);
    w.put_vector(values);
  }
  w.put(std::uint8_t(r.labels.has_value()));
  if (r.labels) {
    const Geometry& g = r.labels->geometry;
    w.put(g.size);
    w.put(g.spacing_mm);
    w.put(g.origin_mm);
    w.put(g.direction);
    w.put_vector(r.labels->voxels);
  }
  return w.take();
}

io::ScanRecord decode_record(const std::vector<char>& bytes) {
  Reader in(bytes);
  io::ScanRecord r;
  r.row = std::size_t(in.get<std::uint64_t>());
  r.ok = in.get<std::uint8_t>() != 0;
  r.error = in.get_string();
  r.icv_ml = in.get<double>();
  r.seconds = in.get<double>();
  r.host = in.get_string();
  r.rank = in.get<std::int32_t>();
  const auto metrics = in.get<std::uint64_t>();
  for (std::uint64_t m = 0; m < metrics; ++m) {
    std::string name = in.get_string();
    r.metrics[name] = in.get_vector<double>();
  }
  if (in.get<std::uint8_t>()) {
    Geometry g;
    g.size = in.get<decltype(g.size)>();
    g.spacing_mm = in.get<Vec3>();
    g.origin_mm = in.get<Vec3>();
    g.direction = in.get<Mat3>();
    LabelVolume labels;
    labels.geometry = g;
    labels.voxels = in.get_vector<std::uint16_t>();
    // In double: sizes from a damaged message would overflow the int64 product.
    const bool sizes_valid = std::all_of(g.size.begin(), g.size.end(), [](std::int64_t n) { return n >= 1; });
    if (!sizes_valid || double(g.size[0]) * double(g.size[1]) * double(g.size[2]) != double(labels.voxels.size()))
      throw Error("record message: label map size mismatch");
    r.labels = std::move(labels);
  }
  if (!in.at_end()) throw Error("record message: bytes past the record");
  return r;
}

}  // namespace nc::cluster
