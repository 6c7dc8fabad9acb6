#include "pipeline/measure.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "core/quantile.hpp"
#include "kernels/label_stats/label_stats.hpp"

namespace nc::pipeline {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int label_range(const std::vector<int>& regions) {
  int top = 0;
  for (int r : regions) {
    if (r < 1 || r >= kernels::kMaxLabels) throw Error("measure: region label " + std::to_string(r) + " out of range");
    top = std::max(top, r);
  }
  return top + 1;
}

double ratio(std::int64_t num, std::int64_t den) { return den > 0 ? double(num) / double(den) : kNaN; }

using kernels::LabelBox;

std::int64_t extent(const LabelBox& box, std::size_t a) { return box.hi[a] - box.lo[a]; }

/// A box grown by one voxel on every side (the surface test looks one voxel beyond the
/// region), clamped to the grid.
LabelBox grown(LabelBox box, const std::array<std::int64_t, 3>& size) {
  for (std::size_t a = 0; a < 3; ++a) {
    box.lo[a] = std::max<std::int64_t>(box.lo[a] - 1, 0);
    box.hi[a] = std::min(box.hi[a] + 1, size[a]);
  }
  return box;
}

constexpr std::uint8_t kSurfaceA = 1, kSurfaceB = 2;

/// The buffers one region's HD95 needs, sized to its box. They are kept in a pool across
/// regions and scans (they only grow: a few tens of MB per region in flight for a CT): a CT
/// region's box holds millions of voxels, and fresh memory for it on every call would first
/// be zeroed page by page by the kernel.
template <typename Real>
struct Hd95Workspace {
  std::vector<std::uint8_t> padded;    ///< the box plus a one-voxel border: bit 0 in a, bit 1 in b
  std::vector<std::uint8_t> surfaces;  ///< the box: kSurfaceA, kSurfaceB
  std::vector<Real> distance;          ///< squared mm to the nearest feature voxel
  std::vector<std::uint8_t> has_from;  ///< per (i, j) column: a surface voxel to measure from
};

/// Workspaces handed out one per region in flight and returned after it. A pool rather than
/// thread-local storage: a thread waiting inside a nested parallel loop may start another
/// region, which must not share its buffers.
template <typename Real>
class WorkspacePool {
 public:
  std::unique_ptr<Hd95Workspace<Real>> take() {
    const std::lock_guard lock(mutex_);
    if (free_.empty()) return std::make_unique<Hd95Workspace<Real>>();
    auto w = std::move(free_.back());
    free_.pop_back();
    return w;
  }
  void give_back(std::unique_ptr<Hd95Workspace<Real>> w) {
    const std::lock_guard lock(mutex_);
    free_.push_back(std::move(w));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Hd95Workspace<Real>>> free_;
};

template <typename Real>
WorkspacePool<Real>& workspace_pool() {
  static WorkspacePool<Real> pool;
  return pool;
}

/// Surface voxels of the region in both maps inside `box`, as kSurfaceA | kSurfaceB bits: in
/// the region with a 6-neighbour outside it (the grid's edge counts as outside). Both maps go
/// into one zero-padded copy, so one bitwise test per voxel finds both surfaces without bounds
/// checks. Returns the bits present anywhere.
template <typename Real>
std::uint8_t find_surfaces(const LabelVolume& a, const LabelVolume& b, std::uint16_t label, const LabelBox& box,
                           Hd95Workspace<Real>& w) {
  const std::int64_t nx = extent(box, 0), ny = extent(box, 1), nz = extent(box, 2);
  const std::int64_t px = nx + 2, py = ny + 2, pz = nz + 2;
  w.padded.assign(std::size_t(px * py * pz), 0);
  w.surfaces.resize(std::size_t(nx * ny * nz));
  tbb::parallel_for(std::int64_t{0}, nz, [&](std::int64_t k) {
    for (std::int64_t j = 0; j < ny; ++j) {
      const std::size_t at = std::size_t(a.geometry.linear_index(box.lo[0], box.lo[1] + j, box.lo[2] + k));
      const std::uint16_t* ra = &a.voxels[at];
      const std::uint16_t* rb = &b.voxels[at];
      std::uint8_t* dst = &w.padded[std::size_t(1 + px * ((j + 1) + py * (k + 1)))];
      for (std::int64_t i = 0; i < nx; ++i) dst[i] = std::uint8_t((ra[i] == label) | ((rb[i] == label) << 1));
    }
  });
  const std::int64_t sy = px, sz = px * py;
  return tbb::parallel_reduce(
      tbb::blocked_range<std::int64_t>(0, nz), std::uint8_t{0},
      [&](const tbb::blocked_range<std::int64_t>& r, std::uint8_t seen) {
        for (std::int64_t k = r.begin(); k != r.end(); ++k)
          for (std::int64_t j = 0; j < ny; ++j) {
            const std::uint8_t* p = &w.padded[std::size_t(1 + px * ((j + 1) + py * (k + 1)))];
            std::uint8_t* dst = &w.surfaces[std::size_t(nx * (j + ny * k))];
            for (std::int64_t i = 0; i < nx; ++i) {
              dst[i] = std::uint8_t(p[i] & ~(p[i - 1] & p[i + 1] & p[i - sy] & p[i + sy] & p[i - sz] & p[i + sz]));
              seen |= dst[i];
            }
          }
        return seen;
      },
      [](std::uint8_t x, std::uint8_t y) { return std::uint8_t(x | y); });
}

/// Felzenszwalb and Huttenlocher's 1-D squared distance transform of the n samples in `in`
/// (sample spacing `w` mm; infinity where there is no feature) into `out`: the lower envelope
/// of the parabolas rooted at each finite sample. The envelope's breakpoints are compared
/// cross-multiplied (the denominator is positive), so only a parabola that joins the hull
/// pays a division. Results above `band` (squared mm) are written as infinity, and samples
/// farther than √band from every finite one are not evaluated. Returns false, writing
/// nothing, when the line holds no finite sample.
template <typename Real>
bool distance_transform_1d(const Real* in, Real* out, std::int64_t n, Real w, Real band,
                           std::vector<std::int64_t>& hull, std::vector<Real>& bounds) {
  constexpr Real kInf = std::numeric_limits<Real>::infinity();
  hull.resize(std::size_t(n));
  bounds.resize(std::size_t(n + 1));
  std::int64_t top = -1;
  for (std::int64_t q = 0; q < n; ++q) {
    if (in[q] == kInf) continue;
    const Real xq = Real(q) * w, hq = in[q] + xq * xq;
    Real s = -kInf;
    while (top >= 0) {
      const std::int64_t p = hull[std::size_t(top)];
      const Real xp = Real(p) * w, num = hq - (in[p] + xp * xp), den = 2 * (xq - xp);
      if (num > bounds[std::size_t(top)] * den) {  // bounds[0] is -inf: the first parabola stays
        s = num / den;
        break;
      }
      --top;
    }
    ++top;
    hull[std::size_t(top)] = q;
    bounds[std::size_t(top)] = top == 0 ? -kInf : s;
    bounds[std::size_t(top + 1)] = kInf;
  }
  if (top < 0) return false;
  std::int64_t lo = 0, hi = n;
  if (band != kInf) {
    const auto reach = std::int64_t(std::sqrt(double(band)) / double(w)) + 1;
    lo = std::max<std::int64_t>(0, hull[0] - reach);
    hi = std::min(n, hull[std::size_t(top)] + reach + 1);
  }
  std::fill(out, out + lo, kInf);
  std::fill(out + hi, out + n, kInf);
  std::int64_t h = 0;
  for (std::int64_t q = lo; q < hi; ++q) {
    const Real x = Real(q) * w;
    while (bounds[std::size_t(h + 1)] < x) ++h;
    const Real d = x - Real(hull[std::size_t(h)]) * w, value = d * d + in[hull[std::size_t(h)]];
    out[q] = value <= band ? value : kInf;
  }
  return true;
}

/// The first pass needs no parabolas: along a row of binary features the squared distance is
/// that of the nearest feature voxel, found by one sweep each way (infinity above `band`).
/// Returns false for a row without a feature (left at infinity).
template <typename Real>
bool row_distance(const std::uint8_t* codes, std::uint8_t feature, Real* d, std::int64_t n, Real w, Real band) {
  constexpr Real kInf = std::numeric_limits<Real>::infinity();
  std::int64_t last = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (codes[i] & feature) last = i;
    d[i] = last < 0 ? kInf : Real(i - last) * w;
  }
  if (last < 0) return false;
  last = -1;
  for (std::int64_t i = n - 1; i >= 0; --i) {
    if (codes[i] & feature) last = i;
    if (last >= 0) d[i] = std::min(d[i], Real(last - i) * w);
    d[i] *= d[i];
    if (d[i] > band) d[i] = kInf;
  }
  return true;
}

/// Lines along j or k are `stride` apart in memory: they are gathered in blocks of this many
/// neighbouring lines along i (contiguous), transformed, and scattered back, so that each
/// cache line fetched serves the whole block.
constexpr std::int64_t kLineBlock = 16;

/// Scratch of one task: a block of gathered lines, one transformed line, and the 1-D
/// transform's buffers.
template <typename Real>
struct LineScratch {
  std::vector<Real> lines, out, bounds;
  std::vector<std::int64_t> hull;
};

/// Transforms the lines of `width` (≤ kLineBlock) neighbours starting at `first`, each n
/// samples `stride` apart, with spacing w. `after(line, values)` sees each transformed line.
template <typename Real, typename After>
void transform_block(Real* first, std::int64_t width, std::int64_t n, std::int64_t stride, Real w, Real band,
                     LineScratch<Real>& s, After&& after) {
  s.lines.resize(std::size_t(width * n));
  s.out.resize(std::size_t(n));
  for (std::int64_t q = 0; q < n; ++q)
    for (std::int64_t l = 0; l < width; ++l) s.lines[std::size_t(l * n + q)] = first[q * stride + l];
  for (std::int64_t l = 0; l < width; ++l)
    if (distance_transform_1d(&s.lines[std::size_t(l * n)], s.out.data(), n, w, band, s.hull, s.bounds))
      after(l, s.out.data());
}

/// The distances in mm from every `from` surface voxel of the box to the nearest `to`
/// surface voxel, up to √band: an exact Euclidean distance transform in physical units, three
/// 1-D passes, where every value not above the band is exact (the path to its nearest feature
/// passes only through smaller values) and the others are infinity. Only what the answer
/// needs is transformed: along j, the slices that hold a feature; along k, the columns that
/// hold a voxel to measure from, whose distances are read off the last pass directly.
template <typename Real>
std::vector<double> directed_distances(std::uint8_t from, std::uint8_t to, const LabelBox& box, const Vec3& spacing,
                                       Real band, Hd95Workspace<Real>& w) {
  const std::int64_t nx = extent(box, 0), ny = extent(box, 1), nz = extent(box, 2), slice = nx * ny;
  w.distance.resize(std::size_t(slice * nz));
  w.has_from.assign(std::size_t(slice), 0);
  std::vector<std::uint8_t> slice_has_feature(std::size_t(nz), 0);
  tbb::parallel_for(std::int64_t{0}, nz, [&](std::int64_t k) {
    for (std::int64_t j = 0; j < ny; ++j) {
      const std::size_t row = std::size_t(nx * (j + ny * k));
      if (row_distance(&w.surfaces[row], to, &w.distance[row], nx, Real(spacing[0]), band))
        slice_has_feature[std::size_t(k)] = 1;
    }
  });
  for (std::int64_t k = 0; k < nz; ++k)  // serial: columns are shared between slices
    for (std::int64_t v = 0; v < slice; ++v)
      if (w.surfaces[std::size_t(v + slice * k)] & from) w.has_from[std::size_t(v)] = 1;
  const std::int64_t blocks_per_row = (nx + kLineBlock - 1) / kLineBlock;
  tbb::parallel_for(std::int64_t{0}, nz * blocks_per_row, [&](std::int64_t task) {
    const std::int64_t k = task / blocks_per_row, i0 = (task % blocks_per_row) * kLineBlock;
    if (!slice_has_feature[std::size_t(k)]) return;  // the slice stays at infinity
    const std::int64_t width = std::min(kLineBlock, nx - i0);
    Real* first = &w.distance[std::size_t(i0 + slice * k)];
    LineScratch<Real> s;
    transform_block(first, width, ny, nx, Real(spacing[1]), band, s, [&](std::int64_t l, const Real* line) {
      for (std::int64_t j = 0; j < ny; ++j) first[j * nx + l] = line[j];
    });
  });
  return tbb::parallel_reduce(
      tbb::blocked_range<std::int64_t>(0, ny * blocks_per_row), std::vector<double>{},
      [&](const tbb::blocked_range<std::int64_t>& r, std::vector<double> found) {
        LineScratch<Real> s;
        const std::vector<Real> beyond(std::size_t(nz), std::numeric_limits<Real>::infinity());
        for (std::int64_t task = r.begin(); task != r.end(); ++task) {
          const std::int64_t j = task / blocks_per_row, i0 = (task % blocks_per_row) * kLineBlock;
          const std::int64_t width = std::min(kLineBlock, nx - i0), column = i0 + nx * j;
          if (std::none_of(&w.has_from[std::size_t(column)], &w.has_from[std::size_t(column + width)],
                           [](std::uint8_t f) { return f != 0; }))
            continue;
          const auto read_from_voxels = [&](std::int64_t l, const Real* line) {
            for (std::int64_t k = 0; k < nz; ++k)
              if (w.surfaces[std::size_t(column + l + slice * k)] & from) found.push_back(std::sqrt(double(line[k])));
          };
          transform_block(&w.distance[std::size_t(column)], width, nz, slice, Real(spacing[2]), band, s,
                          read_from_voxels);
          // A column whose line held no value within the band: its voxels are beyond it.
          for (std::int64_t l = 0; l < width; ++l)
            if (w.has_from[std::size_t(column + l)] && std::all_of(&s.lines[std::size_t(l * nz)],
                                                                     &s.lines[std::size_t((l + 1) * nz)],
                                                                     [](Real v) { return std::isinf(v); }))
              read_from_voxels(l, beyond.data());
        }
        return found;
      },
      [](std::vector<double> x, const std::vector<double>& y) {
        x.insert(x.end(), y.begin(), y.end());
        return x;
      });
}

/// The 95th percentile of one direction's distances: first inside a band of kBandMm around
/// the target surface, which holds nearly all of them for any usable segmentation and spares
/// the transform most of the box; where the percentile falls beyond the band, again without it.
constexpr double kBandMm = 4.0;

template <typename Real>
double directed_percentile(std::uint8_t from, std::uint8_t to, const LabelBox& box, const Vec3& spacing,
                           Hd95Workspace<Real>& w) {
  const double banded = quantile(directed_distances(from, to, box, spacing, Real(kBandMm * kBandMm), w), 0.95);
  if (std::isfinite(banded)) return banded;
  return quantile(directed_distances(from, to, box, spacing, std::numeric_limits<Real>::infinity(), w), 0.95);
}

template <typename Real>
double hd95_in_box(const LabelVolume& a, const LabelVolume& b, std::uint16_t label, const LabelBox& region) {
  if (region.empty()) return kNaN;
  const LabelBox box = grown(region, a.geometry.size);
  auto& pool = workspace_pool<Real>();
  auto w = pool.take();
  double hd95 = kNaN;
  if (find_surfaces(a, b, label, box, *w) == (kSurfaceA | kSurfaceB)) {
    const Vec3& spacing = a.geometry.spacing_mm;
    hd95 = std::max(directed_percentile(kSurfaceA, kSurfaceB, box, spacing, *w),
                    directed_percentile(kSurfaceB, kSurfaceA, box, spacing, *w));
  }
  pool.give_back(std::move(w));
  return hd95;
}

}  // namespace

double hd95_mm(const LabelVolume& a, const LabelVolume& b, std::uint16_t label, DistancePrecision precision) {
  if (a.geometry.size != b.geometry.size) throw Error("hd95: the label maps have different grids");
  if (label == 0 || label >= kernels::kMaxLabels) throw Error("hd95: label " + std::to_string(label) + " out of range");
  const LabelBox box =
      kernels::count_label_overlap(a.voxels, b.voxels, a.geometry.size, label + 1, kernels::Backend::Cpu).boxes[label];
  return precision == DistancePrecision::Float ? hd95_in_box<float>(a, b, label, box)
                                               : hd95_in_box<double>(a, b, label, box);
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
  const auto c =
      kernels::count_label_overlap(labels.voxels, truth.voxels, labels.geometry.size, label_range(regions), backend);
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
  m.hd95_mm.resize(regions.size());
  tbb::parallel_for(std::size_t{0}, regions.size(), [&](std::size_t n) {
    m.hd95_mm[n] = hd95_in_box<float>(labels, truth, std::uint16_t(regions[n]), c.boxes[std::size_t(regions[n])]);
  });
  return m;
}

}  // namespace nc::pipeline
