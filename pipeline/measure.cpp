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

/// Felzenszwalb and Huttenlocher's 1-D squared distance transform, kept as the lower envelope
/// of the parabolas rooted at each finite sample of a line (infinity where there is no
/// feature), so that a caller evaluates it only where it needs values. The envelope's
/// breakpoints are compared cross-multiplied (the denominator is positive), so only a parabola
/// that joins the hull pays a division.
template <typename Real>
class LowerEnvelope {
 public:
  /// The envelope of the samples [lo, hi) of the line `in`, spaced w mm (every finite sample of
  /// the line must lie there); false when there is none. `in` must outlive the evaluations.
  bool build(const Real* in, std::int64_t lo, std::int64_t hi, Real w) {
    if (hi <= lo) return false;
    in_ = in, w_ = w, h_ = 0;
    hull_.resize(std::size_t(hi - lo));
    bounds_.resize(std::size_t(hi - lo + 1));
    finite_.clear();
    std::int64_t top = -1;
    for (std::int64_t q = lo; q < hi; ++q) {
      if (in[q] == kInf) continue;
      finite_.push_back(q);
      const Real xq = Real(q) * w, hq = in[q] + xq * xq;
      Real s = -kInf;
      while (top >= 0) {
        const std::int64_t p = hull_[std::size_t(top)];
        const Real xp = Real(p) * w, num = hq - (in[p] + xp * xp), den = 2 * (xq - xp);
        if (num > bounds_[std::size_t(top)] * den) {  // bounds_[0] is -inf: the first parabola stays
          s = num / den;
          break;
        }
        --top;
      }
      ++top;
      hull_[std::size_t(top)] = q;
      bounds_[std::size_t(top)] = top == 0 ? -kInf : s;
      bounds_[std::size_t(top + 1)] = kInf;
    }
    return top >= 0;
  }

  /// The squared distance in mm² at sample q. The calls after one build take q in increasing
  /// order: the envelope is walked once.
  Real at(std::int64_t q) {
    const Real x = Real(q) * w_;
    while (bounds_[std::size_t(h_ + 1)] < x) ++h_;
    const std::int64_t p = hull_[std::size_t(h_)];
    const Real d = x - Real(p) * w_;
    return d * d + in_[p];
  }

  /// The finite samples, in order.
  const std::vector<std::int64_t>& finite() const { return finite_; }
  Real spacing() const { return w_; }

 private:
  static constexpr Real kInf = std::numeric_limits<Real>::infinity();
  const Real* in_ = nullptr;
  Real w_ = 1;
  std::int64_t h_ = 0;
  std::vector<std::int64_t> hull_, finite_;
  std::vector<Real> bounds_;
};

/// How many samples spaced w a distance within √band can span, at most n (all of them
/// without a band).
template <typename Real>
std::int64_t reach_of(Real band, Real w, std::int64_t n) {
  if (band == std::numeric_limits<Real>::infinity()) return n;
  return std::min(n, std::int64_t(std::sqrt(double(band)) / double(w)) + 1);
}

/// The transform of a built envelope into out[lo, hi), values above `band` (squared mm) as
/// infinity. Only samples within √band of a finite sample are evaluated: every other one is
/// farther than that from each parabola's root, so beyond the band.
template <typename Real>
void write_transform(LowerEnvelope<Real>& envelope, Real* out, std::int64_t lo, std::int64_t hi, Real band) {
  constexpr Real kInf = std::numeric_limits<Real>::infinity();
  const std::int64_t reach = reach_of(band, envelope.spacing(), hi);
  std::int64_t written = lo;
  for (const std::int64_t p : envelope.finite()) {
    const std::int64_t from = std::max(written, p - reach), to = std::min(hi, p + reach + 1);
    if (from >= to) continue;
    std::fill(out + written, out + from, kInf);
    for (std::int64_t q = from; q < to; ++q) {
      const Real value = envelope.at(q);
      out[q] = value <= band ? value : kInf;
    }
    written = to;
  }
  std::fill(out + written, out + hi, kInf);
}

/// Samples [lo, hi) of a line; empty when lo ≥ hi.
struct Span {
  std::int64_t lo, hi;
  bool empty() const { return lo >= hi; }
};

/// The first pass needs no parabolas: along a row of binary features the squared distance is
/// that of the nearest feature voxel, found by one sweep each way (infinity above `band`).
/// Returns where the row's features are: empty for a row without one (left at infinity).
template <typename Real>
Span row_distance(const std::uint8_t* codes, std::uint8_t feature, Real* d, std::int64_t n, Real w, Real band) {
  constexpr Real kInf = std::numeric_limits<Real>::infinity();
  std::int64_t last = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (codes[i] & feature) last = i;
    d[i] = last < 0 ? kInf : Real(i - last) * w;
  }
  if (last < 0) return {0, 0};
  const std::int64_t rightmost = last;
  last = -1;
  for (std::int64_t i = n - 1; i >= 0; --i) {
    if (codes[i] & feature) last = i;
    if (last >= 0) d[i] = std::min(d[i], Real(last - i) * w);
    d[i] *= d[i];
    if (d[i] > band) d[i] = kInf;
  }
  return {last, rightmost + 1};
}

/// The part of a slice where distances can be finite after the first two passes: its features'
/// rows and columns, grown by the band's reach along i and j. Empty for a slice without a feature.
struct SliceExtent {
  Span i{0, 0}, j{0, 0};
};

/// Lines along j or k are `stride` apart in memory: they are gathered in blocks of this many
/// neighbouring lines along i (contiguous), transformed, and scattered back, so that each
/// cache line fetched serves the whole block.
constexpr std::int64_t kLineBlock = 16;

/// Scratch of one task: a block of gathered lines (and of their surface codes), one transformed
/// line, and the envelope.
template <typename Real>
struct LineScratch {
  std::vector<Real> lines, out;
  std::vector<std::uint8_t> codes;
  LowerEnvelope<Real> envelope;
};

/// Builds the envelopes of the lines of `width` (≤ kLineBlock) neighbours starting at `first`,
/// each n samples `stride` apart with spacing w, whose finite samples all lie in `part`.
/// `after(line, envelope)` sees each line's envelope, or null for a line without a finite sample.
template <typename Real, typename After>
void transform_block(const Real* first, std::int64_t width, std::int64_t n, Span part, std::int64_t stride, Real w,
                     LineScratch<Real>& s, After&& after) {
  s.lines.resize(std::size_t(width * n));
  for (std::int64_t q = part.lo; q < part.hi; ++q)
    for (std::int64_t l = 0; l < width; ++l) s.lines[std::size_t(l * n + q)] = first[q * stride + l];
  for (std::int64_t l = 0; l < width; ++l)
    after(l, s.envelope.build(&s.lines[std::size_t(l * n)], part.lo, part.hi, w) ? &s.envelope : nullptr);
}

/// The distances in mm from every `from` surface voxel of the box to the nearest `to`
/// surface voxel, up to √band: an exact Euclidean distance transform in physical units, three
/// 1-D passes, where every value not above the band is exact (the path to its nearest feature
/// passes only through smaller values) and the others are infinity. Only what the answer
/// needs is transformed: along j, the lines of each slice within the band's reach of its
/// features; along k, the columns that hold a voxel to measure from, over the slices whose
/// extent holds them, and their distances are read off the last envelope directly.
template <typename Real>
std::vector<double> directed_distances(std::uint8_t from, std::uint8_t to, const LabelBox& box, const Vec3& spacing,
                                       Real band, Hd95Workspace<Real>& w) {
  constexpr double kBeyond = std::numeric_limits<double>::infinity();
  const std::int64_t nx = extent(box, 0), ny = extent(box, 1), nz = extent(box, 2), slice = nx * ny;
  const std::int64_t reach_i = reach_of(band, Real(spacing[0]), nx), reach_j = reach_of(band, Real(spacing[1]), ny);
  w.distance.resize(std::size_t(slice * nz));
  w.has_from.assign(std::size_t(slice), 0);
  std::vector<SliceExtent> extents(static_cast<std::size_t>(nz));
  tbb::parallel_for(std::int64_t{0}, nz, [&](std::int64_t k) {
    Span i{nx, 0}, j{ny, 0};
    for (std::int64_t y = 0; y < ny; ++y) {
      const std::size_t row = std::size_t(nx * (y + ny * k));
      const Span features = row_distance(&w.surfaces[row], to, &w.distance[row], nx, Real(spacing[0]), band);
      if (features.empty()) continue;
      i = {std::min(i.lo, features.lo), std::max(i.hi, features.hi)};
      j = {std::min(j.lo, y), y + 1};
    }
    if (i.empty()) return;  // the slice stays at infinity
    extents[std::size_t(k)] = {{std::max<std::int64_t>(0, i.lo - reach_i), std::min(nx, i.hi + reach_i)},
                               {std::max<std::int64_t>(0, j.lo - reach_j), std::min(ny, j.hi + reach_j)}};
  });
  for (std::int64_t k = 0; k < nz; ++k)  // serial: columns are shared between slices
    for (std::int64_t v = 0; v < slice; ++v)
      if (w.surfaces[std::size_t(v + slice * k)] & from) w.has_from[std::size_t(v)] = 1;
  const std::int64_t blocks_per_row = (nx + kLineBlock - 1) / kLineBlock;
  tbb::parallel_for(std::int64_t{0}, nz * blocks_per_row, [&](std::int64_t task) {
    const std::int64_t k = task / blocks_per_row, i0 = (task % blocks_per_row) * kLineBlock;
    const SliceExtent& e = extents[std::size_t(k)];
    if (i0 + kLineBlock <= e.i.lo || i0 >= e.i.hi) return;  // lines at infinity stay there
    const std::int64_t width = std::min(kLineBlock, nx - i0);
    Real* first = &w.distance[std::size_t(i0 + slice * k)];
    LineScratch<Real> s;
    s.out.resize(std::size_t(ny));
    transform_block(first, width, ny, e.j, nx, Real(spacing[1]), s, [&](std::int64_t l, LowerEnvelope<Real>* envelope) {
      if (!envelope) return;
      write_transform(*envelope, s.out.data(), e.j.lo, e.j.hi, band);
      for (std::int64_t j = e.j.lo; j < e.j.hi; ++j) first[j * nx + l] = s.out[std::size_t(j)];
    });
  });
  return tbb::parallel_reduce(
      tbb::blocked_range<std::int64_t>(0, ny * blocks_per_row), std::vector<double>{},
      [&](const tbb::blocked_range<std::int64_t>& r, std::vector<double> found) {
        LineScratch<Real> s;
        for (std::int64_t task = r.begin(); task != r.end(); ++task) {
          const std::int64_t j = task / blocks_per_row, i0 = (task % blocks_per_row) * kLineBlock;
          const std::int64_t width = std::min(kLineBlock, nx - i0), column = i0 + nx * j;
          if (std::none_of(&w.has_from[std::size_t(column)], &w.has_from[std::size_t(column + width)],
                           [](std::uint8_t f) { return f != 0; }))
            continue;
          // The slices whose extent holds part of this block: outside them its columns are infinite.
          Span slices{nz, 0};
          for (std::int64_t k = 0; k < nz; ++k) {
            const SliceExtent& e = extents[std::size_t(k)];
            if (j >= e.j.lo && j < e.j.hi && i0 < e.i.hi && i0 + width > e.i.lo) slices = {std::min(slices.lo, k), k + 1};
          }
          // The block's surface codes, gathered like its distances: one cache line per slice.
          s.codes.resize(std::size_t(width * nz));
          for (std::int64_t k = 0; k < nz; ++k)
            for (std::int64_t l = 0; l < width; ++l)
              s.codes[std::size_t(l * nz + k)] = w.surfaces[std::size_t(column + l + slice * k)];
          transform_block(&w.distance[std::size_t(column)], width, nz, slices, slice, Real(spacing[2]), s,
                          [&](std::int64_t l, LowerEnvelope<Real>* envelope) {
                            if (!w.has_from[std::size_t(column + l)]) return;
                            const std::uint8_t* codes = &s.codes[std::size_t(l * nz)];
                            for (std::int64_t k = 0; k < nz; ++k) {
                              if (!(codes[k] & from)) continue;
                              // A line without a value within the band: its voxels are beyond it.
                              const Real value = envelope ? envelope->at(k) : std::numeric_limits<Real>::infinity();
                              found.push_back(value <= band ? std::sqrt(double(value)) : kBeyond);
                            }
                          });
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
