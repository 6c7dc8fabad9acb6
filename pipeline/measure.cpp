#include "pipeline/measure.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "core/quantile.hpp"
#include "kernels/label_stats/label_stats.hpp"

namespace nc::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

int label_range(const std::vector<int>& regions) {
  int top = 0;
  for (int r : regions) {
    if (r < 1 || r >= kernels::kMaxLabels) throw Error("measure: region label " + std::to_string(r) + " out of range");
    top = std::max(top, r);
  }
  return top + 1;
}

double ratio(std::int64_t num, std::int64_t den) { return den > 0 ? double(num) / double(den) : kNaN; }

/// A box of voxels [lo, hi) per axis.
struct Box {
  std::array<std::int64_t, 3> lo{}, hi{};
  std::int64_t extent(int a) const { return hi[std::size_t(a)] - lo[std::size_t(a)]; }
};

/// For every label below `labels`, the bounding box of its voxels in `a` or `b`, grown by one
/// voxel and clamped to the grid; one pass over both maps. A label in neither gets an empty box.
std::vector<Box> union_bounds(const LabelVolume& a, const LabelVolume& b, std::size_t labels) {
  const auto& s = a.geometry.size;
  std::vector<Box> boxes(labels, Box{{s[0], s[1], s[2]}, {0, 0, 0}});
  const auto include = [&](std::uint16_t l, std::int64_t i, std::int64_t j, std::int64_t k) {
    if (l >= labels) return;
    Box& box = boxes[l];
    box.lo = {std::min(box.lo[0], i), std::min(box.lo[1], j), std::min(box.lo[2], k)};
    box.hi = {std::max(box.hi[0], i + 1), std::max(box.hi[1], j + 1), std::max(box.hi[2], k + 1)};
  };
  std::size_t v = 0;
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t i = 0; i < s[0]; ++i, ++v) {
        include(a.voxels[v], i, j, k);
        if (b.voxels[v] != a.voxels[v]) include(b.voxels[v], i, j, k);
      }
  for (Box& box : boxes)
    for (std::size_t d = 0; d < 3; ++d) {
      box.lo[d] = std::max<std::int64_t>(box.lo[d] - 1, 0);
      box.hi[d] = std::min(box.hi[d] + 1, s[d]);
    }
  return boxes;
}

/// Surface voxels of the region inside `box`: in the region with a 6-neighbour outside it
/// (the grid's edge counts as outside). The region is first copied into a zero-padded box so
/// the neighbour tests need no bounds checks.
std::vector<std::uint8_t> surface(const LabelVolume& v, std::uint16_t label, const Box& box) {
  const std::int64_t nx = box.extent(0), ny = box.extent(1), nz = box.extent(2);
  const std::int64_t px = nx + 2, py = ny + 2, pz = nz + 2;
  std::vector<std::uint8_t> padded(std::size_t(px * py * pz), 0);
  for (std::int64_t k = 0; k < nz; ++k)
    for (std::int64_t j = 0; j < ny; ++j) {
      const std::uint16_t* row =
          &v.voxels[std::size_t(v.geometry.linear_index(box.lo[0], box.lo[1] + j, box.lo[2] + k))];
      std::uint8_t* dst = &padded[std::size_t(1 + px * ((j + 1) + py * (k + 1)))];
      for (std::int64_t i = 0; i < nx; ++i) dst[i] = row[i] == label;
    }
  std::vector<std::uint8_t> out(std::size_t(nx * ny * nz), 0);
  const std::int64_t sy = px, sz = px * py;
  for (std::int64_t k = 0; k < nz; ++k)
    for (std::int64_t j = 0; j < ny; ++j) {
      const std::uint8_t* p = &padded[std::size_t(1 + px * ((j + 1) + py * (k + 1)))];
      std::uint8_t* dst = &out[std::size_t(nx * (j + ny * k))];
      for (std::int64_t i = 0; i < nx; ++i)
        dst[i] = p[i] & std::uint8_t(!(p[i - 1] & p[i + 1] & p[i - sy] & p[i + sy] & p[i - sz] & p[i + sz]));
    }
  return out;
}

/// Felzenszwalb and Huttenlocher's 1-D squared distance transform along a line of n samples
/// `stride` apart in `f`, with sample spacing `w` mm (lower envelope of parabolas).
void distance_transform_1d(double* f, std::int64_t n, std::int64_t stride, double w, std::vector<double>& scratch,
                           std::vector<std::int64_t>& hull, std::vector<double>& bounds) {
  scratch.resize(std::size_t(n));
  hull.resize(std::size_t(n));
  bounds.resize(std::size_t(n + 1));
  for (std::int64_t q = 0; q < n; ++q) scratch[std::size_t(q)] = f[q * stride];
  const auto& g = scratch;
  std::int64_t top = -1;
  for (std::int64_t q = 0; q < n; ++q) {
    if (g[std::size_t(q)] == kInfinity) continue;
    const double xq = double(q) * w;
    double s = -kInfinity;
    while (top >= 0) {
      const std::int64_t p = hull[std::size_t(top)];
      const double xp = double(p) * w;
      s = ((g[std::size_t(q)] + xq * xq) - (g[std::size_t(p)] + xp * xp)) / (2 * (xq - xp));
      if (s > bounds[std::size_t(top)]) break;
      --top;
    }
    ++top;
    hull[std::size_t(top)] = q;
    bounds[std::size_t(top)] = top == 0 ? -kInfinity : s;
    bounds[std::size_t(top + 1)] = kInfinity;
  }
  if (top < 0) return;  // no feature on this line: distances stay infinite
  std::int64_t h = 0;
  for (std::int64_t q = 0; q < n; ++q) {
    const double x = double(q) * w;
    while (bounds[std::size_t(h + 1)] < x) ++h;
    const double d = x - double(hull[std::size_t(h)]) * w;
    f[q * stride] = d * d + g[std::size_t(hull[std::size_t(h)])];
  }
}

/// Squared Euclidean distance in mm² from every voxel of the box to the nearest feature voxel.
/// Each pass runs its lines in parallel (the lines of a pass are independent), so one large
/// region does not leave the other cores idle while the small ones are done.
std::vector<double> squared_distance_to(const std::vector<std::uint8_t>& features, const Box& box,
                                        const Vec3& spacing) {
  const std::int64_t nx = box.extent(0), ny = box.extent(1), nz = box.extent(2);
  std::vector<double> d(features.size());
  for (std::size_t v = 0; v < d.size(); ++v) d[v] = features[v] ? 0.0 : kInfinity;
  // Runs transform(line, scratch...) for `lines` lines in parallel, scratch per task.
  const auto pass = [&](std::int64_t lines, auto transform) {
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, lines), [&](const tbb::blocked_range<std::int64_t>& r) {
      std::vector<double> scratch, bounds;
      std::vector<std::int64_t> hull;
      for (std::int64_t line = r.begin(); line != r.end(); ++line) transform(line, scratch, hull, bounds);
    });
  };
  pass(ny * nz, [&](std::int64_t row, auto& scratch, auto& hull, auto& bounds) {
    distance_transform_1d(&d[std::size_t(nx * row)], nx, 1, spacing[0], scratch, hull, bounds);
  });
  pass(nx * nz, [&](std::int64_t line, auto& scratch, auto& hull, auto& bounds) {
    const std::int64_t i = line % nx, k = line / nx;
    distance_transform_1d(&d[std::size_t(i + nx * ny * k)], ny, nx, spacing[1], scratch, hull, bounds);
  });
  pass(nx * ny, [&](std::int64_t line, auto& scratch, auto& hull, auto& bounds) {
    distance_transform_1d(&d[std::size_t(line)], nz, nx * ny, spacing[2], scratch, hull, bounds);
  });
  return d;
}

double directed_percentile(const std::vector<std::uint8_t>& from, const std::vector<std::uint8_t>& to, const Box& box,
                           const Vec3& spacing) {
  const std::vector<double> d = squared_distance_to(to, box, spacing);
  std::vector<double> distances;
  for (std::size_t v = 0; v < from.size(); ++v)
    if (from[v]) distances.push_back(std::sqrt(d[v]));
  return quantile(std::move(distances), 0.95);
}

double hd95_in_box(const LabelVolume& a, const LabelVolume& b, std::uint16_t label, const Box& box) {
  if (box.extent(0) <= 0) return kNaN;
  const auto sa = surface(a, label, box), sb = surface(b, label, box);
  if (std::find(sa.begin(), sa.end(), 1) == sa.end() || std::find(sb.begin(), sb.end(), 1) == sb.end()) return kNaN;
  return std::max(directed_percentile(sa, sb, box, a.geometry.spacing_mm),
                  directed_percentile(sb, sa, box, a.geometry.spacing_mm));
}

}  // namespace

double hd95_mm(const LabelVolume& a, const LabelVolume& b, std::uint16_t label) {
  if (a.geometry.size != b.geometry.size) throw Error("hd95: the label maps have different grids");
  return hd95_in_box(a, b, label, union_bounds(a, b, std::size_t(label) + 1)[label]);
}

RegionMetrics measure_volumes(const LabelVolume& labels, const std::vector<int>& regions, kernels::Backend backend) {
  const auto counts = kernels::count_labels(labels.voxels, label_range(regions), backend);
  RegionMetrics m;
  for (int r : regions)
    m.volume_ml.push_back(double(counts.predicted[std::size_t(r)]) * labels.geometry.voxel_volume_ml());
  return m;
}

RegionMetrics measure_against_truth(const LabelVolume& labels, const LabelVolume& truth,
                                    const std::vector<int>& regions, kernels::Backend backend) {
  if (labels.geometry.size != truth.geometry.size)
    throw Error("measure: the ground-truth label map is not on the scan's grid");
  const auto c = kernels::count_label_overlap(labels.voxels, truth.voxels, label_range(regions), backend);
  RegionMetrics m;
  for (int r : regions) {
    const std::size_t l = std::size_t(r);
    const std::int64_t p = c.predicted[l], t = c.truth[l], tp = c.intersection[l];
    m.volume_ml.push_back(double(p) * labels.geometry.voxel_volume_ml());
    m.dice.push_back(ratio(2 * tp, p + t));
    m.precision.push_back(ratio(tp, p));
    m.recall.push_back(ratio(tp, t));
    m.volume_similarity.push_back(p + t > 0 ? 1.0 - double(std::abs(p - t)) / double(p + t) : kNaN);
  }
  const std::vector<Box> boxes = union_bounds(labels, truth, std::size_t(label_range(regions)));
  m.hd95_mm.resize(regions.size());
  tbb::parallel_for(std::size_t{0}, regions.size(), [&](std::size_t n) {
    m.hd95_mm[n] = hd95_in_box(labels, truth, std::uint16_t(regions[n]), boxes[std::size_t(regions[n])]);
  });
  return m;
}

}  // namespace nc::pipeline
