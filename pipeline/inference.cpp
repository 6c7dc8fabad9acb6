#include "pipeline/inference.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/huge_pages.hpp"
#include "kernels/resample/resample.hpp"

namespace nc::pipeline {
namespace {

using Size3 = std::array<std::int64_t, 3>;

/// The normalised network input: z-score over the brain mask, 0 outside (or the image as is).
ImageVolume normalise(const PreprocessedScan& scan, const std::string& normalisation) {
  if (normalisation == "none") return scan.image;
  double sum = 0, sum_sq = 0;
  std::int64_t n = 0;
  for (std::size_t v = 0; v < scan.image.voxels.size(); ++v)
    if (scan.brain_mask.voxels[v]) {
      sum += scan.image.voxels[v];
      sum_sq += double(scan.image.voxels[v]) * scan.image.voxels[v];
      ++n;
    }
  if (n == 0) throw Error("the brain mask is empty");
  const double mean = sum / double(n);
  const double sd = std::max(std::sqrt(std::max(sum_sq / double(n) - mean * mean, 0.0)), 1e-6);
  ImageVolume out(scan.image.geometry, 0.0f);
  for (std::size_t v = 0; v < out.voxels.size(); ++v)
    if (scan.brain_mask.voxels[v]) out.voxels[v] = float((scan.image.voxels[v] - mean) / sd);
  return out;
}

/// Copies the window at `start` (size `patch`) of `volume` into `dst`, zeros beyond its end.
void extract_window(const ImageVolume& volume, const Size3& start, const Size3& patch, float* dst) {
  const auto& s = volume.geometry.size;
  std::fill(dst, dst + patch[0] * patch[1] * patch[2], 0.0f);
  const std::int64_t ni = std::min(patch[0], s[0] - start[0]);
  for (std::int64_t k = 0; k < std::min(patch[2], s[2] - start[2]); ++k)
    for (std::int64_t j = 0; j < std::min(patch[1], s[1] - start[1]); ++j) {
      const float* src =
          &volume.voxels[std::size_t(volume.geometry.linear_index(start[0], start[1] + j, start[2] + k))];
      std::copy(src, src + ni, dst + patch[0] * (j + patch[1] * k));
    }
}

/// Adds the softmax of one window's logits, weighted, into the running sums on the volume grid.
void accumulate_window(const float* logits, std::int64_t classes, const std::vector<float>& weights, const Size3& start,
                       const Size3& patch, const Size3& size, std::vector<float>& total, std::vector<float>& norm) {
  const std::int64_t pv = patch[0] * patch[1] * patch[2], nv = size[0] * size[1] * size[2];
  tbb::parallel_for(std::int64_t{0}, std::min(patch[2], size[2] - start[2]), [&](std::int64_t k) {
    std::vector<float> p(static_cast<std::size_t>(classes));
    for (std::int64_t j = 0; j < std::min(patch[1], size[1] - start[1]); ++j)
      for (std::int64_t i = 0; i < std::min(patch[0], size[0] - start[0]); ++i) {
        const std::int64_t w = i + patch[0] * (j + patch[1] * k);
        const std::int64_t v = (start[0] + i) + size[0] * ((start[1] + j) + size[1] * (start[2] + k));
        float top = logits[w];
        for (std::int64_t c = 1; c < classes; ++c) top = std::max(top, logits[c * pv + w]);
        float sum = 0;
        for (std::int64_t c = 0; c < classes; ++c) sum += p[std::size_t(c)] = std::exp(logits[c * pv + w] - top);
        const float scale = weights[std::size_t(w)] / sum;
        for (std::int64_t c = 0; c < classes; ++c) total[std::size_t(c * nv + v)] += p[std::size_t(c)] * scale;
        norm[std::size_t(v)] += weights[std::size_t(w)];
      }
  });
}

// The network's confidence inside the brain, counted on its own grid (coarser than the mask's,
// so the mask is brought there by nearest neighbour).
qc::Confidence confidence_in_brain(const std::vector<float>& probabilities, int classes, const Geometry& grid,
                                   const Volume<std::uint8_t>& brain_mask) {
  const Stopwatch clock;
  LabelVolume mask(brain_mask.geometry);
  std::copy(brain_mask.voxels.begin(), brain_mask.voxels.end(), mask.voxels.begin());
  qc::Confidence confidence = qc::segmentation_confidence(
      probabilities, classes, kernels::resample_labels_onto(mask, grid, kernels::Backend::Cpu));
  confidence.seconds = clock.seconds();
  return confidence;
}

}  // namespace

std::vector<std::int64_t> window_starts(std::int64_t size, std::int64_t patch, double overlap) {
  if (size <= patch) return {0};
  const std::int64_t step = std::max<std::int64_t>(1, std::int64_t(double(patch) * (1.0 - overlap)));
  std::vector<std::int64_t> starts;
  for (std::int64_t s = 0; s < size - patch; s += step) starts.push_back(s);
  starts.push_back(size - patch);
  return starts;
}

std::vector<float> gaussian_importance(const Size3& patch) {
  std::array<std::vector<double>, 3> axis;
  for (int a = 0; a < 3; ++a) {
    const double sigma = double(patch[std::size_t(a)]) / 8.0, centre = double(patch[std::size_t(a)] - 1) / 2.0;
    for (std::int64_t x = 0; x < patch[std::size_t(a)]; ++x)
      axis[std::size_t(a)].push_back(std::exp(-0.5 * std::pow((double(x) - centre) / sigma, 2)));
  }
  const double peak = *std::max_element(axis[0].begin(), axis[0].end()) *
                      *std::max_element(axis[1].begin(), axis[1].end()) *
                      *std::max_element(axis[2].begin(), axis[2].end());
  std::vector<float> w;
  w.reserve(std::size_t(patch[0] * patch[1] * patch[2]));
  for (std::int64_t k = 0; k < patch[2]; ++k)
    for (std::int64_t j = 0; j < patch[1]; ++j)
      for (std::int64_t i = 0; i < patch[0]; ++i)
        w.push_back(
            float(std::max(axis[2][std::size_t(k)] * axis[1][std::size_t(j)] * axis[0][std::size_t(i)] / peak, 1e-3)));
  return w;
}

const char* window_plan_name(WindowPlan plan) { return plan == WindowPlan::Whole ? "whole" : "windows"; }

std::optional<Size3> whole_volume_size(const Size3& size, const Size3& patch) {
  Size3 padded{};
  for (std::size_t a = 0; a < 3; ++a)
    padded[a] = (size[a] + kWholeVolumeMultiple - 1) / kWholeVolumeMultiple * kWholeVolumeMultiple;
  if (padded[0] * padded[1] * padded[2] > kWholeVolumePatches * patch[0] * patch[1] * patch[2]) return std::nullopt;
  return padded;
}

std::vector<float> sliding_window_probabilities(const SegmentationModel& model, const ImageVolume& input,
                                                const SlidingWindowOptions& options) {
  if (options.batch < 1) throw Error("sliding window: the batch must be at least 1");
  if (!(options.overlap >= 0.0 && options.overlap < 1.0)) throw Error("sliding window: the overlap must be in [0, 1)");
  const ModelMetadata& meta = model.metadata();
  if (meta.channels != 1)
    throw ModelError(model.path().string() + ": the model takes " + std::to_string(meta.channels) +
                     " channels; neurocohort gives it one image");
  const Size3 size = input.geometry.size;
  // A whole-volume pass is one window the size of the padded volume; with a single window the
  // blend is the softmax itself, so its weights are ones.
  const auto whole = options.plan == WindowPlan::Whole ? whole_volume_size(size, meta.patch_size) : std::nullopt;
  const Size3 patch = whole ? *whole : meta.patch_size;
  const std::int64_t classes = std::int64_t(meta.labels.size()) + 1;
  const std::int64_t pv = patch[0] * patch[1] * patch[2], nv = input.geometry.voxel_count();
  const std::vector<float> weights = whole ? std::vector<float>(std::size_t(pv), 1.0f) : gaussian_importance(patch);

  std::vector<Size3> windows;
  if (whole)
    windows.push_back({0, 0, 0});
  else
    for (std::int64_t k : window_starts(size[2], patch[2], options.overlap))
      for (std::int64_t j : window_starts(size[1], patch[1], options.overlap))
        for (std::int64_t i : window_starts(size[0], patch[0], options.overlap)) windows.push_back({i, j, k});

  std::vector<float> total = large_vector<float>(std::size_t(classes * nv)),
                     norm = large_vector<float>(std::size_t(nv));
  std::vector<float> batch_input, logits;
  for (std::size_t first = 0; first < windows.size(); first += std::size_t(options.batch)) {
    const std::size_t n = std::min(windows.size() - first, std::size_t(options.batch));
    batch_input.resize(n * std::size_t(pv));
    logits.resize(n * std::size_t(classes * pv));
    for (std::size_t b = 0; b < n; ++b)
      extract_window(input, windows[first + b], patch, &batch_input[b * std::size_t(pv)]);
    model.forward(batch_input, std::int64_t(n), patch, logits);
    for (std::size_t b = 0; b < n; ++b)
      accumulate_window(&logits[b * std::size_t(classes * pv)], classes, weights, windows[first + b], patch, size,
                        total, norm);
  }
  for (std::int64_t c = 0; c < classes; ++c)
    for (std::int64_t v = 0; v < nv; ++v) total[std::size_t(c * nv + v)] /= norm[std::size_t(v)];
  return total;
}

Segmentation segment(const SegmentationModel& model, const PreprocessedScan& scan, const SlidingWindowOptions& options,
                     kernels::Backend backend) {
  const ModelMetadata& meta = model.metadata();
  const Geometry grid = kernels::resampled_grid(scan.image.geometry, meta.input_spacing_mm);
  const ImageVolume input = kernels::resample_onto(normalise(scan, meta.normalisation), grid, 0.0f, backend);
  const std::vector<float> probabilities = sliding_window_probabilities(model, input, options);
  const int classes = int(meta.labels.size()) + 1;
  Segmentation out{kernels::probabilities_to_labels(probabilities, classes, grid, scan.image.geometry, backend),
                   confidence_in_brain(probabilities, classes, grid, scan.brain_mask)};
  LabelVolume& labels = out.labels;
  for (std::size_t v = 0; v < labels.voxels.size(); ++v)
    if (!scan.brain_mask.voxels[v]) labels.voxels[v] = 0;
  // Class c of the network is the c-th label of the table; map classes to label ids.
  std::vector<std::uint16_t> id(meta.labels.size() + 1, 0);
  for (std::size_t c = 0; c < meta.labels.size(); ++c) id[c + 1] = std::uint16_t(meta.labels[c].id);
  for (auto& l : labels.voxels) l = id[l];
  return out;
}

}  // namespace nc::pipeline
