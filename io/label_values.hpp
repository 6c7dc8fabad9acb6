#pragma once
/// \file
/// Stored voxel values to label ids: the one check every reader of a label map applies, in
/// parallel, naming the first value (in memory order) that is not a label.

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace nc::io::detail {

/// A stored value that is not a label: an integer in [0, 65535].
struct NotALabel {
  std::size_t index;
  double value;
};

inline std::string not_a_label_reason(const NotALabel& bad) {
  return "label value " + std::to_string(float(bad.value)) + " is not an integer in [0, 65535]";
}

/// Converts the n values `value(i)` (as double: exact for every integer and float type a
/// label file can hold) into `out`; the first value that is not a label, if any.
template <typename Value>
std::optional<NotALabel> to_labels(std::size_t n, Value&& value, std::uint16_t* out) {
  // A label is exactly what survives the round trip through uint16.
  const auto is_label = [](double v) { return v >= 0.0 && v <= 65535.0 && double(std::uint16_t(v)) == v; };
  std::atomic<bool> all_labels{true};
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, std::size_t{1} << 16),
                    [&](const tbb::blocked_range<std::size_t>& r) {
                      bool ok = true;
                      for (std::size_t i = r.begin(); i != r.end(); ++i) {
                        const double v = value(i);
                        ok = ok && is_label(v);
                        out[i] = ok ? std::uint16_t(v) : std::uint16_t{0};
                      }
                      if (!ok) all_labels = false;
                    });
  if (all_labels) return std::nullopt;
  for (std::size_t i = 0; i < n; ++i)  // the first, as a serial read would find it
    if (!is_label(value(i))) return NotALabel{i, value(i)};
  return std::nullopt;
}

}  // namespace nc::io::detail
