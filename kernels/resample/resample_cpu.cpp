#include <tbb/blocked_range2d.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "kernels/resample/resample.hpp"

namespace nc::kernels::detail {
namespace {

// The voxels [first, last) of a row whose samples are strictly inside the input (where
// sample_trilinear_interior applies), for a row starting at `start` and moving by `step`
// per voxel along each input axis. One voxel of margin at each end absorbs rounding; the
// few voxels outside the range take the general path.
struct Span {
  std::int64_t first, last;
};

Span interior_span(const double start[3], const double step[3], const GridDims& in, std::int64_t n) {
  double lo = 0.0, hi = double(n);
  const double size[3] = {double(in.nx), double(in.ny), double(in.nz)};
  for (int a = 0; a < 3; ++a) {
    const double min = 0.0, max = size[a] - 1.0;  // interior: min <= c < max
    if (step[a] == 0.0) {
      if (!(start[a] >= min && start[a] < max)) return {0, 0};
      continue;
    }
    double from = (min - start[a]) / step[a], to = (max - start[a]) / step[a];
    if (from > to) std::swap(from, to);
    lo = std::max(lo, from);
    hi = std::min(hi, to);
  }
  const std::int64_t first = std::int64_t(std::ceil(lo)) + 1, last = std::int64_t(std::floor(hi)) - 1;
  return last > first ? Span{first, last} : Span{0, 0};
}

}  // namespace

template <Interpolation kInterpolation, typename T>
void resample_cpu(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output, const GridDims& out) {
  tbb::parallel_for(tbb::blocked_range2d<std::int64_t>(0, out.nz, 0, out.ny), [&](const auto& rows) {
    for (std::int64_t k = rows.rows().begin(); k != rows.rows().end(); ++k)
      for (std::int64_t j = rows.cols().begin(); j != rows.cols().end(); ++j) {
        T* row = output + out.nx * (j + out.ny * k);
        if constexpr (kInterpolation == Interpolation::Linear) {
          // Along a row the input index moves by a constant step; most of the row lies
          // strictly inside the input and needs neither border tests nor clamping.
          double start[3];
          map_index(map, 0.0, double(j), double(k), start[0], start[1], start[2]);
          const double step[3] = {map.m[0], map.m[3], map.m[6]};
          const Span span = interior_span(start, step, in, out.nx);
          for (std::int64_t i = 0; i < out.nx; ++i) {
            if (i == span.first) {
              for (; i < span.last; ++i)
                row[i] = T(sample_trilinear_interior(input, in, start[0] + double(i) * step[0],
                                                     start[1] + double(i) * step[1], start[2] + double(i) * step[2]));
              if (i == out.nx) break;
            }
            row[i] = resample_voxel<kInterpolation>(input, in, map, i, j, k, outside);
          }
        } else {
          for (std::int64_t i = 0; i < out.nx; ++i) row[i] = resample_voxel<kInterpolation>(input, in, map, i, j, k, outside);
        }
      }
  });
}

template void resample_cpu<Interpolation::Linear>(const float*, const GridDims&, const IndexMap&, float, float*,
                                                  const GridDims&);
template void resample_cpu<Interpolation::Nearest>(const std::uint16_t*, const GridDims&, const IndexMap&,
                                                   std::uint16_t, std::uint16_t*, const GridDims&);

void argmax_resample_cpu(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                         std::uint16_t* output, const GridDims& out) {
  tbb::parallel_for(tbb::blocked_range2d<std::int64_t>(0, out.nz, 0, out.ny), [&](const auto& rows) {
    for (std::int64_t k = rows.rows().begin(); k != rows.rows().end(); ++k)
      for (std::int64_t j = rows.cols().begin(); j != rows.cols().end(); ++j)
        for (std::int64_t i = 0; i < out.nx; ++i) {
          double x, y, z;
          map_index(map, double(i), double(j), double(k), x, y, z);
          output[i + out.nx * (j + out.ny * k)] = argmax_trilinear(probabilities, classes, in, x, y, z);
        }
  });
}

}  // namespace nc::kernels::detail
