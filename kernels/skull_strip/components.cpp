// Connected components on the packed mask, used by both backends: the largest component and
// hole filling. The mask's rows are cut into runs of set bits; a union-find joins every run
// with the runs it overlaps in the previous row and the previous slice (6-connectivity), so
// the work grows with the number of runs (a few per row), not with the voxels.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <bit>
#include <numeric>
#include <vector>

#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {
namespace {

struct Run {
  std::int32_t first, last;  // voxels [first, last] along i
};

// Which bits a search looks for: the mask's voxels, or the gaps between them.
enum class Bit { Set, Clear };

// Position of the first `bit` at or after `from`, or nx if none.
std::int64_t next_bit(const std::uint64_t* row, std::int64_t nx, std::int64_t from, Bit bit) {
  const int words = int((nx + 63) / 64);
  for (int q = int(from / 64); q < words; ++q) {
    std::uint64_t w = bit == Bit::Set ? row[q] : ~row[q];
    if (q == from / 64) w &= ~std::uint64_t{0} << (from % 64);
    if (w) return std::min(nx, std::int64_t(q) * 64 + std::countr_zero(w));
  }
  return nx;
}

template <typename Visit>
void for_each_run(const std::uint64_t* row, std::int64_t nx, Visit visit) {
  for (std::int64_t i = next_bit(row, nx, 0, Bit::Set); i < nx;) {
    const std::int64_t end = next_bit(row, nx, i, Bit::Clear);
    visit(Run{std::int32_t(i), std::int32_t(end - 1)});
    i = end < nx ? next_bit(row, nx, end, Bit::Set) : nx;
  }
}

// All runs of the mask, row after row: the runs of row r are runs[offsets[r] .. offsets[r+1]).
struct Runs {
  std::vector<Run> runs;
  std::vector<std::int64_t> offsets;
};

Runs find_runs(const BitMask& mask) {
  Runs result;
  result.offsets.assign(std::size_t(mask.rows() + 1), 0);
  tbb::parallel_for(std::int64_t{0}, mask.rows(), [&](std::int64_t r) {
    std::int64_t count = 0;
    for_each_run(mask.row(r), mask.nx, [&](Run) { ++count; });
    result.offsets[std::size_t(r + 1)] = count;
  });
  std::partial_sum(result.offsets.begin(), result.offsets.end(), result.offsets.begin());
  result.runs.resize(std::size_t(result.offsets.back()));
  tbb::parallel_for(std::int64_t{0}, mask.rows(), [&](std::int64_t r) {
    Run* out = result.runs.data() + result.offsets[std::size_t(r)];
    for_each_run(mask.row(r), mask.nx, [&](Run run) { *out++ = run; });
  });
  return result;
}

class UnionFind {
 public:
  explicit UnionFind(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), std::int64_t{0}); }
  std::int64_t find(std::int64_t a) {
    while (parent_[std::size_t(a)] != a) a = parent_[std::size_t(a)] = parent_[std::size_t(parent_[std::size_t(a)])];
    return a;
  }
  // The smaller index becomes the root, so a component's root is its first run in memory order.
  void join(std::int64_t a, std::int64_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::size_t(std::max(a, b))] = std::min(a, b);
  }

 private:
  std::vector<std::int64_t> parent_;
};

// Joins the overlapping runs of two rows (both sorted along i).
void join_overlapping(const Runs& r, std::int64_t row_a, std::int64_t row_b, UnionFind& sets) {
  std::int64_t a = r.offsets[std::size_t(row_a)], b = r.offsets[std::size_t(row_b)];
  const std::int64_t a_end = r.offsets[std::size_t(row_a + 1)], b_end = r.offsets[std::size_t(row_b + 1)];
  while (a < a_end && b < b_end) {
    const Run& x = r.runs[std::size_t(a)];
    const Run& y = r.runs[std::size_t(b)];
    if (x.first <= y.last && y.first <= x.last) sets.join(a, b);
    // Advance the run that ends first: it cannot overlap anything further along.
    if (x.last < y.last)
      ++a;
    else
      ++b;
  }
}

// The component (root run index) of every run.
std::vector<std::int64_t> label_runs(const BitMask& mask, const Runs& runs) {
  UnionFind sets(runs.runs.size());
  for (std::int64_t k = 0; k < mask.nz; ++k)
    for (std::int64_t j = 0; j < mask.ny; ++j) {
      const std::int64_t row = j + mask.ny * k;
      if (j > 0) join_overlapping(runs, row, row - 1, sets);
      if (k > 0) join_overlapping(runs, row, row - mask.ny, sets);
    }
  std::vector<std::int64_t> root(runs.runs.size());
  for (std::size_t i = 0; i < root.size(); ++i) root[i] = sets.find(std::int64_t(i));
  return root;
}

// A mask holding the runs for which keep(run index) is true.
template <typename Keep>
BitMask mask_of_runs(const BitMask& like, const Runs& runs, Keep keep) {
  BitMask out = like;
  std::fill(out.bits.begin(), out.bits.end(), std::uint64_t{0});
  tbb::parallel_for(std::int64_t{0}, like.rows(), [&](std::int64_t r) {
    std::uint64_t* row = out.row(r);
    for (std::int64_t i = runs.offsets[std::size_t(r)]; i < runs.offsets[std::size_t(r + 1)]; ++i) {
      if (!keep(i)) continue;
      const Run& run = runs.runs[std::size_t(i)];
      for (std::int64_t v = run.first; v <= run.last; ++v) row[v / 64] |= std::uint64_t{1} << (v % 64);
    }
  });
  return out;
}

}  // namespace

std::int64_t keep_largest_component(BitMask& mask) {
  const Runs runs = find_runs(mask);
  if (runs.runs.empty()) return 0;
  const std::vector<std::int64_t> root = label_runs(mask, runs);
  std::vector<std::int64_t> size(runs.runs.size(), 0);
  for (std::size_t i = 0; i < root.size(); ++i)
    size[std::size_t(root[i])] += runs.runs[i].last - runs.runs[i].first + 1;
  // max_element returns the first largest: the component that starts first in memory.
  const std::int64_t best = std::max_element(size.begin(), size.end()) - size.begin();
  mask = mask_of_runs(mask, runs, [&](std::int64_t i) { return root[std::size_t(i)] == best; });
  return size[std::size_t(best)];
}

void fill_holes(BitMask& mask) {
  const BitMask background = complement(mask);
  const Runs runs = find_runs(background);
  const std::vector<std::int64_t> root = label_runs(background, runs);
  // A background component is outside when one of its runs touches the grid's border.
  std::vector<std::uint8_t> outside(runs.runs.size(), 0);
  for (std::int64_t r = 0; r < background.rows(); ++r) {
    const std::int64_t j = r % background.ny, k = r / background.ny;
    const bool border_row = j == 0 || k == 0 || j == background.ny - 1 || k == background.nz - 1;
    for (std::int64_t i = runs.offsets[std::size_t(r)]; i < runs.offsets[std::size_t(r + 1)]; ++i) {
      const Run& run = runs.runs[std::size_t(i)];
      if (border_row || run.first == 0 || run.last == background.nx - 1) outside[std::size_t(root[std::size_t(i)])] = 1;
    }
  }
  mask = complement(
      mask_of_runs(background, runs, [&](std::int64_t i) { return outside[std::size_t(root[std::size_t(i)])] != 0; }));
}

}  // namespace nc::kernels::detail
