#include "qc/measures.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "kernels/segmentation/segmentation_math.hpp"

namespace nc::qc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A quantile of every stride-th value: for a level (the head's, a histogram's range), not an
// exact statistic, so that a strided sample keeps it a small fraction of the preprocessing time.
float sampled_quantile(const std::vector<float>& values, std::size_t stride, double q) {
  std::vector<float> sample;
  sample.reserve(values.size() / stride + 1);
  for (std::size_t v = 0; v < values.size(); v += stride) sample.push_back(values[v]);
  const auto at = sample.begin() + std::ptrdiff_t(q * double(sample.size() - 1));
  std::nth_element(sample.begin(), at, sample.end());
  return *at;
}

float head_level(const ImageVolume& image, jobs::Modality modality) {
  return modality == jobs::Modality::CT ? kAirHu : 0.1f * sampled_quantile(image.voxels, 31, 0.99);
}

// The value at quantile q of `values` (partially reordering them).
float quantile(std::vector<float>& values, double q) {
  const auto at = values.begin() + std::ptrdiff_t(q * double(values.size() - 1));
  std::nth_element(values.begin(), at, values.end());
  return *at;
}

// Otsu's two classes of `values` over a 256-bin histogram of [lo, hi], then the distance of the
// class means in units of their pooled standard deviation.
double two_class_cnr(const std::vector<float>& values, float lo, float hi) {
  if (!(hi > lo)) return 0;
  constexpr int kBins = 256;
  std::array<double, kBins> count{}, sum{};
  const double scale = kBins / double(hi - lo);
  for (float v : values) {
    const int b = std::clamp(int((double(v) - lo) * scale), 0, kBins - 1);
    count[std::size_t(b)] += 1;
    sum[std::size_t(b)] += v;
  }
  const double total = double(values.size());
  double total_sum = 0;
  for (double s : sum) total_sum += s;
  double below = 0, below_sum = 0, best = -1;
  int split = 0;
  for (int b = 0; b + 1 < kBins; ++b) {
    below += count[std::size_t(b)];
    below_sum += sum[std::size_t(b)];
    const double above = total - below;
    if (below == 0 || above == 0) continue;
    const double d = below_sum / below - (total_sum - below_sum) / above;
    const double between = below * above * d * d;
    if (between > best) {
      best = between;
      split = b;
    }
  }
  const double threshold = lo + double(split + 1) / scale;
  // The classes' exact moments (not the binned ones), summed about `lo` to keep them well
  // conditioned.
  double n[2] = {0, 0}, sum1[2] = {0, 0}, sum2[2] = {0, 0};
  for (float v : values) {
    const int c = double(v) >= threshold ? 1 : 0;
    const double x = double(v) - lo;
    n[c] += 1;
    sum1[c] += x;
    sum2[c] += x * x;
  }
  if (n[0] < 2 || n[1] < 2) return 0;
  double mean[2], variance[2];
  for (int c = 0; c < 2; ++c) {
    mean[c] = sum1[c] / n[c];
    variance[c] = std::max(0.0, (sum2[c] - n[c] * mean[c] * mean[c]) / (n[c] - 1));
  }
  const double pooled = std::sqrt((variance[0] + variance[1]) / 2);
  return pooled > 0 ? std::fabs(mean[1] - mean[0]) / pooled : 0;
}

// Union-find over run indices, roots being the smallest index of their component.
std::int32_t find_root(std::vector<std::int32_t>& parent, std::int32_t v) {
  while (parent[std::size_t(v)] != v) {
    parent[std::size_t(v)] = parent[std::size_t(parent[std::size_t(v)])];
    v = parent[std::size_t(v)];
  }
  return v;
}

void unite(std::vector<std::int32_t>& parent, std::int32_t a, std::int32_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a != b) parent[std::size_t(std::max(a, b))] = std::min(a, b);
}

}  // namespace

int inferior_face(const Geometry& grid) {
  int face = 0;
  double lowest = std::numeric_limits<double>::infinity();
  for (int axis = 0; axis < 3; ++axis) {
    const double z = grid.direction[std::size_t(6 + axis)];  // LPS z of the axis: +z is superior
    for (const auto& [f, normal_z] : {std::pair{2 * axis, -z}, std::pair{2 * axis + 1, z}})
      if (normal_z < lowest) {
        lowest = normal_z;
        face = f;
      }
  }
  return face;
}

ImageMeasures measure_image(const ImageVolume& image, const Volume<std::uint8_t>& brain_mask, jobs::Modality modality) {
  const Stopwatch clock;
  if (image.geometry.size != brain_mask.geometry.size) throw Error("qc: the image and its brain mask differ in size");
  const auto& s = image.geometry.size;
  const float head = head_level(image, modality);
  const int inferior = inferior_face(image.geometry);
  std::int64_t head_voxels = 0, air_voxels = 0, border_voxels = 0;
  std::vector<float> brain;
  brain.reserve(std::size_t(std::count_if(brain_mask.voxels.begin(), brain_mask.voxels.end(),
                                          [](std::uint8_t m) { return m != 0; })));
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j) {
      const std::size_t row = std::size_t(image.geometry.linear_index(0, j, k));
      const bool row_on_border = (j == 0 && inferior != 2) || (j == s[1] - 1 && inferior != 3) ||
                                 (k == 0 && inferior != 4) || (k == s[2] - 1 && inferior != 5);
      for (std::int64_t i = 0; i < s[0]; ++i) {
        const float v = image.voxels[row + std::size_t(i)];
        head_voxels += v > head;
        air_voxels += v < kAirHu;
        if (!brain_mask.voxels[row + std::size_t(i)]) continue;
        brain.push_back(v);
        border_voxels += row_on_border || (i == 0 && inferior != 0) || (i == s[0] - 1 && inferior != 1);
      }
    }
  ImageMeasures m;
  m.air_fraction = double(air_voxels) / double(std::max<std::int64_t>(image.geometry.voxel_count(), 1));
  if (brain.empty()) return {kNaN, kNaN, kNaN, kNaN, m.air_fraction, clock.seconds()};
  m.brain_share_of_head = double(brain.size()) / double(std::max<std::int64_t>(head_voxels, 1));
  m.mask_border_share = double(border_voxels) / double(brain.size());
  // The Otsu histogram's range needs no exact percentiles: every 7th brain voxel gives them (a prime
  // stride, so that a periodic pattern is not sampled in one phase only).
  const float lo = sampled_quantile(brain, 7, 0.01), hi = sampled_quantile(brain, 7, 0.99);
  m.brain_median = quantile(brain, 0.5);
  m.tissue_cnr = two_class_cnr(brain, lo, hi);
  m.seconds = clock.seconds();
  return m;
}

Confidence segmentation_confidence(const std::vector<float>& probabilities, int classes,
                                   const LabelVolume& brain_mask) {
  const Stopwatch clock;
  const std::size_t nv = brain_mask.voxels.size();
  if (classes < 2 || probabilities.size() != std::size_t(classes) * nv)
    throw Error("qc: " + std::to_string(probabilities.size()) + " probabilities for " + std::to_string(classes) +
                " classes of " + std::to_string(nv) + " voxels");
  double sum_max = 0;
  std::int64_t brain = 0, low = 0;
  for (std::size_t v = 0; v < nv; ++v) {
    if (!brain_mask.voxels[v]) continue;
    float first = 0, second = 0;
    kernels::top_two_probabilities(probabilities.data(), classes, static_cast<long long>(nv),
                                   static_cast<long long>(v), first, second);
    sum_max += first;
    low += double(first - second) < kLowMargin;
    ++brain;
  }
  if (brain == 0) throw Error("qc: the brain mask is empty on the model's grid");
  return {sum_max / double(brain), double(low) / double(brain), clock.seconds()};
}

RegionShapes region_shapes(const LabelVolume& labels, const std::vector<int>& regions) {
  const Stopwatch clock;
  std::vector<int> region_of(65536, -1);
  for (std::size_t r = 0; r < regions.size(); ++r)
    if (regions[r] >= 0 && regions[r] < 65536) region_of[std::size_t(regions[r])] = int(r);

  // Runs of one region along i are the union-find's nodes: far fewer than voxels.
  struct Run {
    std::int64_t start, end;  // [start, end) along i
    int region;
  };
  const auto& s = labels.geometry.size;
  const std::int64_t rows = s[1] * s[2];
  std::vector<Run> runs;
  std::vector<std::size_t> row_begin(std::size_t(rows) + 1);
  for (std::int64_t row = 0; row < rows; ++row) {
    row_begin[std::size_t(row)] = runs.size();
    const std::uint16_t* l = &labels.voxels[std::size_t(row * s[0])];
    for (std::int64_t i = 0; i < s[0];) {
      const int region = region_of[l[i]];
      const std::int64_t start = i;
      while (i < s[0] && l[i] == l[start]) ++i;
      if (region >= 0) runs.push_back({start, i, region});
    }
  }
  row_begin[std::size_t(rows)] = runs.size();
  if (runs.size() > std::size_t(std::numeric_limits<std::int32_t>::max()))
    throw Error("qc: the label map is too fragmented for the component count");

  // Runs of two neighbouring rows that overlap along i and hold the same region touch (6-connected).
  std::vector<std::int32_t> parent(runs.size());
  for (std::size_t r = 0; r < runs.size(); ++r) parent[r] = std::int32_t(r);
  const auto connect = [&](std::int64_t row, std::int64_t other) {
    std::size_t a = row_begin[std::size_t(row)], b = row_begin[std::size_t(other)];
    const std::size_t a_end = row_begin[std::size_t(row) + 1], b_end = row_begin[std::size_t(other) + 1];
    while (a < a_end && b < b_end) {
      if (runs[a].region == runs[b].region && runs[a].start < runs[b].end && runs[b].start < runs[a].end)
        unite(parent, std::int32_t(a), std::int32_t(b));
      if (runs[a].end < runs[b].end)
        ++a;
      else
        ++b;
    }
  };
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j) {
      const std::int64_t row = j + s[1] * k;
      if (j > 0) connect(row, row - 1);
      if (k > 0) connect(row, row - s[1]);
    }

  RegionShapes shapes{std::vector<double>(regions.size(), 0), std::vector<double>(regions.size(), kNaN)};
  std::vector<std::int64_t> size(runs.size(), 0), total(regions.size(), 0), largest(regions.size(), 0);
  for (std::size_t r = 0; r < runs.size(); ++r)
    size[std::size_t(find_root(parent, std::int32_t(r)))] += runs[r].end - runs[r].start;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    if (parent[r] != std::int32_t(r)) continue;  // not a root: counted in its root
    const auto region = std::size_t(runs[r].region);
    shapes.components[region] += 1;
    total[region] += size[r];
    largest[region] = std::max(largest[region], size[r]);
  }
  for (std::size_t r = 0; r < regions.size(); ++r)
    if (total[r] > 0) shapes.outside_largest_share[r] = double(total[r] - largest[r]) / double(total[r]);
  shapes.seconds = clock.seconds();
  return shapes;
}

}  // namespace nc::qc
