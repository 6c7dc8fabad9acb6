// Flood fills on the host, used by both backends: the largest connected component and hole
// filling. Breadth-first over 6-neighbours with an explicit queue (no recursion).
#include <vector>

#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

// Visits the 6-connected region of voxels equal to `value` from `seed`, marking `seen`;
// returns its size.
template <typename Visit>
std::int64_t flood(const std::uint8_t* mask, std::uint8_t value, const Geometry& g, std::int64_t seed,
                   std::vector<std::uint8_t>& seen, std::vector<std::int64_t>& queue, Visit visit) {
  const std::int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2], plane = nx * ny;
  queue.clear();
  queue.push_back(seed);
  seen[std::size_t(seed)] = 1;
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const std::int64_t v = queue[head];
    visit(v);
    const std::int64_t i = v % nx, j = (v / nx) % ny, k = v / plane;
    const auto push = [&](bool ok, std::int64_t w) {
      if (ok && !seen[std::size_t(w)] && mask[w] == value) {
        seen[std::size_t(w)] = 1;
        queue.push_back(w);
      }
    };
    push(i > 0, v - 1);
    push(i + 1 < nx, v + 1);
    push(j > 0, v - nx);
    push(j + 1 < ny, v + nx);
    push(k > 0, v - plane);
    push(k + 1 < nz, v + plane);
  }
  return std::int64_t(queue.size());
}

}  // namespace

std::int64_t keep_largest_component(std::uint8_t* mask, const Geometry& g) {
  const std::int64_t n = g.voxel_count();
  std::vector<std::uint8_t> seen(std::size_t(n), 0);
  std::vector<std::int64_t> queue;
  std::int64_t best_size = 0, best_seed = -1;
  for (std::int64_t v = 0; v < n; ++v)
    if (mask[v] && !seen[std::size_t(v)]) {
      const std::int64_t size = flood(mask, 1, g, v, seen, queue, [](std::int64_t) {});
      if (size > best_size) {
        best_size = size;
        best_seed = v;
      }
    }
  if (best_seed < 0) return 0;
  std::fill(seen.begin(), seen.end(), 0);
  std::vector<std::uint8_t> keep(std::size_t(n), 0);
  flood(mask, 1, g, best_seed, seen, queue, [&](std::int64_t v) { keep[std::size_t(v)] = 1; });
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
        if (border && !mask[v] && !outside[std::size_t(v)]) flood(mask, 0, g, v, outside, queue, [](std::int64_t) {});
      }
  for (std::int64_t v = 0; v < n; ++v) mask[v] = outside[std::size_t(v)] ? 0 : 1;
}

}  // namespace nc::kernels::detail
