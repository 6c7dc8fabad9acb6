#include "pipeline/inference.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/huge_pages.hpp"
#include "kernels/resample/resample.hpp"
#include "kernels/segmentation/segmentation.hpp"
#include "kernels/segmentation/segmentation_math.hpp"

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
    for (std::int64_t j = 0; j < std::min(patch[1], size[1] - start[1]); ++j)
      for (std::int64_t i = 0; i < std::min(patch[0], size[0] - start[0]); ++i) {
        const std::int64_t w = i + patch[0] * (j + patch[1] * k);
        const std::int64_t v = (start[0] + i) + size[0] * ((start[1] + j) + size[1] * (start[2] + k));
        kernels::blend_softmax_voxel(logits, classes, pv, w, weights[std::size_t(w)], total.data(), nv, v, norm.data());
      }
  });
}

/// How the network covers a volume: the patch it runs on, the windows' starts and their
/// blending weights (validated options).
struct WindowLayout {
  Size3 patch;
  std::vector<Size3> windows;
  std::vector<float> weights;
  std::int64_t classes = 0;
  std::int64_t patch_voxels() const { return patch[0] * patch[1] * patch[2]; }
};

WindowLayout window_layout(const SegmentationModel& model, const Size3& size, const SlidingWindowOptions& options) {
  if (options.batch < 1) throw Error("sliding window: the batch must be at least 1");
  if (!(options.overlap >= 0.0 && options.overlap < 1.0)) throw Error("sliding window: the overlap must be in [0, 1)");
  const ModelMetadata& meta = model.metadata();
  if (meta.channels != 1)
    throw ModelError(model.path().string() + ": the model takes " + std::to_string(meta.channels) +
                     " channels; neurocohort gives it one image");
  // A whole-volume pass is one window the size of the padded volume; with a single window the
  // blend is the softmax itself, so its weights are ones.
  const auto whole = options.plan == WindowPlan::Whole ? whole_volume_size(size, meta.patch_size) : std::nullopt;
  WindowLayout layout;
  layout.patch = whole ? *whole : meta.patch_size;
  layout.classes = std::int64_t(meta.labels.size()) + 1;
  layout.weights = whole ? std::vector<float>(std::size_t(layout.patch_voxels()), 1.0f) : gaussian_importance(layout.patch);
  if (whole)
    layout.windows.push_back({0, 0, 0});
  else
    for (std::int64_t k : window_starts(size[2], layout.patch[2], options.overlap))
      for (std::int64_t j : window_starts(size[1], layout.patch[1], options.overlap))
        for (std::int64_t i : window_starts(size[0], layout.patch[0], options.overlap)) layout.windows.push_back({i, j, k});
  return layout;
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
  const Size3 size = input.geometry.size;
  const WindowLayout layout = window_layout(model, size, options);
  const Size3& patch = layout.patch;
  const std::int64_t classes = layout.classes, pv = layout.patch_voxels(), nv = input.geometry.voxel_count();
  const std::vector<Size3>& windows = layout.windows;

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
      accumulate_window(&logits[b * std::size_t(classes * pv)], classes, layout.weights, windows[first + b], patch,
                        size, total, norm);
  }
  for (std::int64_t c = 0; c < classes; ++c)
    for (std::int64_t v = 0; v < nv; ++v) total[std::size_t(c * nv + v)] /= norm[std::size_t(v)];
  return total;
}

kernels::DeviceArray<float> sliding_window_probabilities(const SegmentationModel& model,
                                                         const kernels::DeviceVolume<float>& input,
                                                         const SlidingWindowOptions& options) {
  const Size3 size = input.geometry.size;
  const WindowLayout layout = window_layout(model, size, options);
  const std::int64_t classes = layout.classes, pv = layout.patch_voxels(), nv = input.geometry.voxel_count();
  kernels::DeviceArray<float> total{std::size_t(classes * nv)}, norm{std::size_t(nv)};
  total.zero();
  norm.zero();
  const kernels::DeviceArray<float> weights{std::span<const float>(layout.weights)};
  const std::size_t batch = std::min(layout.windows.size(), std::size_t(options.batch));
  kernels::DeviceArray<float> batch_input(batch * std::size_t(pv)), logits(batch * std::size_t(classes * pv));
  for (std::size_t first = 0; first < layout.windows.size(); first += batch) {
    const std::size_t n = std::min(layout.windows.size() - first, batch);
    for (std::size_t b = 0; b < n; ++b)
      kernels::extract_window(input, layout.windows[first + b], layout.patch, batch_input.data() + b * std::size_t(pv));
    model.forward_on_device(batch_input, std::int64_t(n), layout.patch, logits);
    for (std::size_t b = 0; b < n; ++b)
      kernels::blend_window_softmax(logits.data() + b * std::size_t(classes * pv), int(classes), weights,
                                    layout.windows[first + b], layout.patch, size, total, norm);
  }
  kernels::divide_by_weights(total, norm, int(classes));
  return total;
}

namespace {

// The network's classes as label ids: class c is the c-th label of the table, 0 the background.
std::vector<std::uint16_t> label_ids(const ModelMetadata& meta) {
  std::vector<std::uint16_t> id(meta.labels.size() + 1, 0);
  for (std::size_t c = 0; c < meta.labels.size(); ++c) id[c + 1] = std::uint16_t(meta.labels[c].id);
  return id;
}

// The brain mask on the model's grid, by nearest neighbour (the grid is coarser than the mask's).
LabelVolume brain_on_grid(const Volume<std::uint8_t>& brain_mask, const Geometry& grid) {
  LabelVolume mask(brain_mask.geometry);
  std::copy(brain_mask.voxels.begin(), brain_mask.voxels.end(), mask.voxels.begin());
  return kernels::resample_labels_onto(mask, grid, kernels::Backend::Cpu);
}

// The network's confidence inside the brain, counted on its own grid.
qc::Confidence confidence_in_brain(const std::vector<float>& probabilities, int classes, const Geometry& grid,
                                   const Volume<std::uint8_t>& brain_mask) {
  const Stopwatch clock;
  qc::Confidence confidence = qc::segmentation_confidence(probabilities, classes, brain_on_grid(brain_mask, grid));
  confidence.seconds = clock.seconds();
  return confidence;
}

// segment() for a scan preprocessed on the device: normalisation, the model's grid, the windows,
// their blend, the argmax back to the scan's grid and the label ids all on the GPU. The map
// comes back to the host once (for the QC of its regions) and stays on the device for the
// native grid.
Segmentation segment_on_device(const SegmentationModel& model, const PreprocessedScan& scan,
                               const SlidingWindowOptions& options) {
  if (!model.on_cuda()) throw Error("a scan preprocessed on the GPU needs a model loaded on the GPU");
  if (!scan.brain_mask_on_device) throw Error("a scan preprocessed on the GPU has no brain mask there");
  const ModelMetadata& meta = model.metadata();
  const kernels::DeviceVolume<float>& image = *scan.on_device;
  const Geometry grid = kernels::resampled_grid(image.geometry, meta.input_spacing_mm);
  const kernels::DeviceArray<std::uint8_t>& brain = *scan.brain_mask_on_device;
  kernels::DeviceVolume<float> normalised = kernels::copy_of(image);
  if (meta.normalisation != "none") kernels::zscore_in_mask(normalised, brain);
  const kernels::DeviceVolume<float> input = kernels::resample_onto(normalised, grid, 0.0f);
  const kernels::DeviceArray<float> probabilities = sliding_window_probabilities(model, input, options);
  const int classes = int(meta.labels.size()) + 1;

  const Stopwatch clock;
  const LabelVolume brain_grid = brain_on_grid(scan.brain_mask, grid);
  const kernels::DeviceConfidence c = kernels::confidence_in_mask(
      probabilities, classes, kernels::DeviceArray<std::uint16_t>(std::span<const std::uint16_t>(brain_grid.voxels)),
      qc::kLowMargin);
  Segmentation out;
  out.confidence = {c.mean_max_probability, c.low_margin_fraction, clock.seconds()};

  kernels::DeviceVolume<std::uint16_t> labels = kernels::probabilities_to_labels(probabilities, classes, grid, image.geometry);
  const std::vector<std::uint16_t> ids = label_ids(meta);
  kernels::mask_and_map_labels(labels, brain, kernels::DeviceArray<std::uint16_t>(std::span<const std::uint16_t>(ids)));
  out.labels = LabelVolume(image.geometry);
  labels.voxels.download(std::span<std::uint16_t>(out.labels.voxels));
  out.on_device = std::move(labels);
  return out;
}

}  // namespace

Segmentation segment(const SegmentationModel& model, const PreprocessedScan& scan, const SlidingWindowOptions& options,
                     kernels::Backend backend) {
  if (scan.on_device) return segment_on_device(model, scan, options);
  const ModelMetadata& meta = model.metadata();
  const Geometry grid = kernels::resampled_grid(scan.image.geometry, meta.input_spacing_mm);
  const ImageVolume input = kernels::resample_onto(normalise(scan, meta.normalisation), grid, 0.0f, backend);
  const std::vector<float> probabilities = sliding_window_probabilities(model, input, options);
  const int classes = int(meta.labels.size()) + 1;
  Segmentation out{kernels::probabilities_to_labels(probabilities, classes, grid, scan.image.geometry, backend),
                   confidence_in_brain(probabilities, classes, grid, scan.brain_mask), std::nullopt};
  LabelVolume& labels = out.labels;
  for (std::size_t v = 0; v < labels.voxels.size(); ++v)
    if (!scan.brain_mask.voxels[v]) labels.voxels[v] = 0;
  const std::vector<std::uint16_t> id = label_ids(meta);
  for (auto& l : labels.voxels) l = id[l];
  return out;
}

}  // namespace nc::pipeline
