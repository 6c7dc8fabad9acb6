#include "kernels/common/upload.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_reduce.h>

#include <cmath>
#include <functional>

namespace nc::kernels::detail {

bool pack_as_int16(std::span<const float> values, std::span<std::int16_t> out) {
  if (out.size() < values.size()) return false;
  return tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, values.size(), std::size_t{1} << 16), true,
      [&](const tbb::blocked_range<std::size_t>& r, bool exact) {
        for (std::size_t i = r.begin(); exact && i < r.end(); ++i) {
          const float v = values[i];
          // The range test first: converting a float outside int16's range is undefined.
          if (!(v >= -32768.0f && v <= 32767.0f)) return false;
          const auto packed = static_cast<std::int16_t>(v);
          if (static_cast<float>(packed) != v || (v == 0.0f && std::signbit(v))) return false;
          out[i] = packed;
        }
        return exact;
      },
      std::logical_and<>());
}

}  // namespace nc::kernels::detail
