#include <tbb/blocked_range2d.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

// An index map without rotation or shear: each input axis follows one output axis alone.
bool separable(const IndexMap& map) {
  return map.m[1] == 0 && map.m[2] == 0 && map.m[3] == 0 && map.m[5] == 0 && map.m[6] == 0 && map.m[7] == 0;
}

// For a separable map, the continuous input index along `axis` of each of the n output
// positions along it. map_index's other terms are exact zeros here, so these are the indices
// the per-voxel path computes, bit for bit.
std::vector<double> axis_indices(const IndexMap& map, int axis, std::int64_t n) {
  std::vector<double> along(static_cast<std::size_t>(n));
  for (std::int64_t o = 0; o < n; ++o) {
    double at[3] = {0, 0, 0}, x = 0, y = 0, z = 0;
    at[axis] = double(o);
    map_index(map, at[0], at[1], at[2], x, y, z);
    along[std::size_t(o)] = axis == 0 ? x : (axis == 1 ? y : z);
  }
  return along;
}

// The nearest input index of each output position along `axis`, -1 beyond the input.
std::vector<std::int64_t> nearest_table(const IndexMap& map, int axis, std::int64_t n, std::int64_t input_n) {
  std::vector<std::int64_t> table;
  for (const double x : axis_indices(map, axis, n)) {
    std::int64_t a = 0;
    table.push_back(nearest_along(x, input_n, a) ? a : -1);
  }
  return table;
}

// The clamped cell of each output position along `axis`, and whether it lies inside the input.
struct AxisCells {
  std::vector<AxisCell> cells;
  std::vector<std::uint8_t> inside;
};

AxisCells cell_table(const IndexMap& map, int axis, std::int64_t n, std::int64_t input_n) {
  AxisCells t;
  for (const double x : axis_indices(map, axis, n)) {
    t.cells.push_back(axis_cell(x, input_n));
    t.inside.push_back(inside_along(x, input_n));
  }
  return t;
}

// A separable map's argmax: the cells come from three tables instead of each voxel's index.
void argmax_resample_separable(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                               std::uint16_t* output, const GridDims& out) {
  const AxisCells ti = cell_table(map, 0, out.nx, in.nx), tj = cell_table(map, 1, out.ny, in.ny),
                  tk = cell_table(map, 2, out.nz, in.nz);
  tbb::parallel_for(tbb::blocked_range2d<std::int64_t>(0, out.nz, 0, out.ny), [&](const auto& rows) {
    for (std::int64_t k = rows.rows().begin(); k != rows.rows().end(); ++k)
      for (std::int64_t j = rows.cols().begin(); j != rows.cols().end(); ++j) {
        std::uint16_t* row = output + out.nx * (j + out.ny * k);
        if (!tj.inside[std::size_t(j)] || !tk.inside[std::size_t(k)]) {
          std::fill(row, row + out.nx, std::uint16_t{0});
          continue;
        }
        const AxisCell& b = tj.cells[std::size_t(j)];
        const AxisCell& c = tk.cells[std::size_t(k)];
        for (std::int64_t i = 0; i < out.nx; ++i)
          row[i] = ti.inside[std::size_t(i)]
                       ? argmax_in_cell(probabilities, classes, in.count(),
                                        cell_of(ti.cells[std::size_t(i)], b, c, in.nx, in.ny))
                       : std::uint16_t{0};
      }
  });
}

// A separable map's nearest-neighbour resampling: each output row is a gather along three
// index tables, with none of the per-voxel index arithmetic.
template <typename T>
void resample_nearest_separable(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output,
                                const GridDims& out) {
  const auto ti = nearest_table(map, 0, out.nx, in.nx), tj = nearest_table(map, 1, out.ny, in.ny),
             tk = nearest_table(map, 2, out.nz, in.nz);
  tbb::parallel_for(tbb::blocked_range2d<std::int64_t>(0, out.nz, 0, out.ny), [&](const auto& rows) {
    for (std::int64_t k = rows.rows().begin(); k != rows.rows().end(); ++k)
      for (std::int64_t j = rows.cols().begin(); j != rows.cols().end(); ++j) {
        T* row = output + out.nx * (j + out.ny * k);
        const std::int64_t b = tj[std::size_t(j)], c = tk[std::size_t(k)];
        if (b < 0 || c < 0) {
          std::fill(row, row + out.nx, outside);
          continue;
        }
        const T* source = input + in.nx * (b + in.ny * c);
        for (std::int64_t i = 0; i < out.nx; ++i) row[i] = ti[std::size_t(i)] < 0 ? outside : source[ti[std::size_t(i)]];
      }
  });
}

}  // namespace

template <Interpolation kInterpolation, typename T>
void resample_cpu(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output, const GridDims& out) {
  // Label maps onto the native grid are the largest resampling of a scan (65 M voxels for a
  // CT), and the grids usually share their axes.
  if constexpr (kInterpolation == Interpolation::Nearest)
    if (separable(map)) return resample_nearest_separable(input, in, map, outside, output, out);
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
  if (separable(map)) return argmax_resample_separable(probabilities, classes, in, map, output, out);
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
