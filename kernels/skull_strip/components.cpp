// Flood fills on the host, used by both backends: the largest connected component and hole
// filling. Scanline fills: a run of voxels along i is filled at once and only the runs it
// touches in the four neighbouring rows are queued, so the queue holds runs, not voxels.
#include <algorithm>
#include <vector>

#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

// Fills the 6-connected region of voxels equal to `value` that contains `seed`, marking
// `seen` and calling visit(first, last) for every run [first, last] of linear indices;
// returns the region's size.
template <typename Visit>
std::int64_t flood(const std::uint8_t* mask, std::uint8_t value, const Geometry& g, std::int64_t seed,
                   std::vector<std::uint8_t>& seen, std::vector<std::int64_t>& stack, Visit visit) {
  const std::int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2];
  const auto open = [&](std::int64_t v) { return !seen[std::size_t(v)] && mask[v] == value; };
  std::int64_t size = 0;
  stack.clear();
  stack.push_back(seed);
  while (!stack.empty()) {
    const std::int64_t v = stack.back();
    stack.pop_back();
    if (!open(v)) continue;
    const std::int64_t row_start = v - v % nx, row = v / nx;
    std::int64_t first = v, last = v;
    while (first > row_start && open(first - 1)) --first;
    while (last + 1 < row_start + nx && open(last + 1)) ++last;
    std::fill(seen.begin() + first, seen.begin() + last + 1, std::uint8_t{1});
    size += last - first + 1;
    visit(first, last);
    const std::int64_t j = row % ny, k = row / ny;
    // Queue the start of every open run in the neighbouring rows over [first, last].
    const auto scan = [&](bool exists, std::int64_t offset) {
      if (!exists) return;
      bool in_run = false;
      for (std::int64_t w = first + offset; w <= last + offset; ++w) {
        const bool o = open(w);
        if (o && !in_run) stack.push_back(w);
        in_run = o;
      }
    };
    scan(j > 0, -nx);
    scan(j + 1 < ny, nx);
    scan(k > 0, -nx * ny);
    scan(k + 1 < nz, nx * ny);
  }
  return size;
}

}  // namespace

std::int64_t keep_largest_component(std::uint8_t* mask, const Geometry& g) {
  const std::int64_t n = g.voxel_count();
  std::vector<std::uint8_t> seen(std::size_t(n), 0);
  std::vector<std::int64_t> queue;
  std::int64_t best_size = 0, best_seed = -1;
  for (std::int64_t v = 0; v < n; ++v)
    if (mask[v] && !seen[std::size_t(v)]) {
      const std::int64_t size = flood(mask, 1, g, v, seen, queue, [](std::int64_t, std::int64_t) {});
      if (size > best_size) {
        best_size = size;
        best_seed = v;
      }
    }
  if (best_seed < 0) return 0;
  std::fill(seen.begin(), seen.end(), 0);
  std::vector<std::uint8_t> keep(std::size_t(n), 0);
  flood(mask, 1, g, best_seed, seen, queue, [&](std::int64_t first, std::int64_t last) {
    std::fill(keep.begin() + first, keep.begin() + last + 1, std::uint8_t{1});
  });
  std::copy(keep.begin(), keep.end(), mask);
  return best_size;
}

void fill_holes(std::uint8_t* mask, const Geometry& g) {
  const std::int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2], n = g.voxel_count();
  std::vector<std::uint8_t> outside(std::size_t(n), 0);
  std::vector<std::int64_t> queue;
  for (std::int64_t k = 0; k < nz; ++k)
    for (std::int64_t j = 0; j < ny; ++j)
      for (std::int64_t i = 0; i < nx; ++i) {
        const bool border = i == 0 || j == 0 || k == 0 || i == nx - 1 || j == ny - 1 || k == nz - 1;
        const std::int64_t v = i + nx * (j + ny * k);
        if (border && !mask[v] && !outside[std::size_t(v)])
          flood(mask, 0, g, v, outside, queue, [](std::int64_t, std::int64_t) {});
      }
  for (std::int64_t v = 0; v < n; ++v) mask[v] = outside[std::size_t(v)] ? 0 : 1;
}

}  // namespace nc::kernels::detail
