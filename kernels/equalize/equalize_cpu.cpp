#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <vector>

#include "kernels/equalize/equalize.hpp"
#include "kernels/equalize/equalize_math.hpp"

namespace nc::kernels::detail {
namespace {

// A histogram over kAheBins levels that knows the range of levels it holds, so that adding,
// subtracting and weighting it touch only that range: a window of (2r+1)³ voxels of a head
// usually spans a few dozen of the 256 levels.
struct Column {
  std::array<std::int32_t, kAheBins> counts{};
  int lo = kAheBins, hi = -1;  // occupied range (empty when lo > hi)
  std::int32_t total = 0;

  void add(int level) {
    ++counts[std::size_t(level)];
    ++total;
    lo = std::min(lo, level);
    hi = std::max(hi, level);
  }
  void remove(int level) {
    --counts[std::size_t(level)];
    --total;
  }
  // Removals leave the range loose; tighten it once after a batch of them.
  void tighten() {
    while (lo <= hi && counts[std::size_t(lo)] == 0) ++lo;
    while (hi >= lo && counts[std::size_t(hi)] == 0) --hi;
    if (lo > hi) {
      lo = kAheBins;
      hi = -1;
    }
  }
};

// The window histogram is kept as a sum of column histograms, one per i, each over the
// (2r+1)² voxels of its (j, k) window: moving along i adds one column and drops one, moving
// along j updates every column by one row in and one row out.
__attribute__((target_clones("avx2", "default"))) void equalize_slice(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                    const AheParams& p, float minimum, float range, std::int64_t k, float* out) {
  const std::int64_t nx = g.size[0], ny = g.size[1], nz = g.size[2], r = p.radius;
  const std::int64_t k_lo = std::max<std::int64_t>(0, k - r), k_hi = std::min(nz - 1, k + r);
  std::vector<Column> columns(static_cast<std::size_t>(nx));
  const auto add_row = [&](std::int64_t j) {
    for (std::int64_t kk = k_lo; kk <= k_hi; ++kk) {
      const std::int16_t* row = levels + nx * (j + ny * kk);
      for (std::int64_t i = 0; i < nx; ++i)
        if (row[i] >= 0) columns[std::size_t(i)].add(row[i]);
    }
  };
  const auto remove_row = [&](std::int64_t j) {
    for (std::int64_t kk = k_lo; kk <= k_hi; ++kk) {
      const std::int16_t* row = levels + nx * (j + ny * kk);
      for (std::int64_t i = 0; i < nx; ++i)
        if (row[i] >= 0) columns[std::size_t(i)].remove(row[i]);
    }
    for (auto& c : columns) c.tighten();
  };
  for (std::int64_t j = 0; j < std::min(ny, r); ++j) add_row(j);

  std::array<std::int32_t, kAheBins> window{};
  for (std::int64_t j = 0; j < ny; ++j) {
    if (j + r < ny) add_row(j + r);
    if (j - r - 1 >= 0) remove_row(j - r - 1);
    window.fill(0);
    std::int64_t count = 0;
    const auto apply = [&](const Column& c, int sign) {
      for (int b = c.lo; b <= c.hi; ++b) window[std::size_t(b)] += sign * c.counts[std::size_t(b)];
      count += sign * c.total;
    };
    for (std::int64_t i = 0; i < std::min(nx, r); ++i) apply(columns[std::size_t(i)], +1);
    const std::size_t row = std::size_t(nx * (j + ny * k));
    for (std::int64_t i = 0; i < nx; ++i) {
      if (i + r < nx) apply(columns[std::size_t(i + r)], +1);
      if (i - r - 1 >= 0) apply(columns[std::size_t(i - r - 1)], -1);
      const std::int16_t level = levels[row + std::size_t(i)];
      if (level < 0 || count == 0) continue;
      int lo = kAheBins, hi = -1;  // the window's occupied range: the union of its columns'
      for (std::int64_t c = std::max<std::int64_t>(0, i - r); c <= std::min(nx - 1, i + r); ++c) {
        lo = std::min(lo, columns[std::size_t(c)].lo);
        hi = std::max(hi, columns[std::size_t(c)].hi);
      }
      // table[level − b + kAheBins − 1]: a contiguous, reversed slice of the term table.
      const float* terms = table + level + kAheBins - 1;
      float sum = 0.0f;
      for (int b = lo; b <= hi; ++b) sum += float(window[std::size_t(b)]) * terms[-b];
      out[row + std::size_t(i)] =
          ahe_output(unit[row + std::size_t(i)] - 0.5f, double(sum), double(count), p.beta, minimum, range);
    }
  }
}

}  // namespace

void adaptive_equalize_cpu(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                           const AheParams& params, float minimum, float range, float* out) {
  tbb::parallel_for(std::int64_t{0}, g.size[2], [&](std::int64_t k) {
    equalize_slice(levels, unit, table, g, params, minimum, range, k, out);
  });
}

}  // namespace nc::kernels::detail
