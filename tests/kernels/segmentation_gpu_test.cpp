// The network's input and output on the device (segmentation.hpp) against the same steps on
// the host through the shared math (segmentation_math.hpp), on synthetic logits: no LibTorch
// needed, so these run on any GPU machine and point at the step that differs when the whole
// scan (pipeline/device_scan_gpu_test.cpp) does. The softmax's exp is the device's expf on one
// side and std::exp on the other (an ulp or two apart); everything else rounds alike.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/segmentation/segmentation.hpp"
#include "kernels/segmentation/segmentation_math.hpp"

namespace nc::kernels {
namespace {

float hashed(std::size_t n, unsigned salt) { return float((n * 2654435761u + salt * 40503u) % 10007u) / 10007.0f; }

template <typename T>
std::vector<T> downloaded(const DeviceArray<T>& on_device) {
  std::vector<T> out(on_device.size());
  on_device.download(std::span<T>(out));
  return out;
}

const Size3 kSize{37, 29, 23}, kPatch{16, 16, 16};
const std::vector<Size3> kStarts{{0, 0, 0}, {8, 8, 8}, {24, 16, 12}};  // the last one ends past the volume

TEST(SegmentationGpu, BlendedSoftmaxEqualsTheHostsForFewAndManyClasses) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  const long long voxels = kSize[0] * kSize[1] * kSize[2], window = kPatch[0] * kPatch[1] * kPatch[2];
  for (const int classes : {5, int(kBlendKeptClasses) + 7}) {
    std::vector<float> weights(std::size_t(window), 0.0f);
    for (std::size_t w = 0; w < weights.size(); ++w) weights[w] = 0.1f + hashed(w, 1);
    std::vector<float> total(std::size_t(classes * voxels), 0.0f), norm(std::size_t(voxels), 0.0f);
    DeviceArray<float> d_total(total.size()), d_norm(norm.size());
    d_total.zero();
    d_norm.zero();
    const DeviceArray<float> d_weights{std::span<const float>(weights)};
    for (std::size_t s = 0; s < kStarts.size(); ++s) {
      const Size3& start = kStarts[s];
      std::vector<float> logits(std::size_t(classes * window));
      for (std::size_t n = 0; n < logits.size(); ++n) logits[n] = 12.0f * hashed(n, unsigned(s + 2)) - 6.0f;
      for (long long k = 0; k < kPatch[2] && start[2] + k < kSize[2]; ++k)
        for (long long j = 0; j < kPatch[1] && start[1] + j < kSize[1]; ++j)
          for (long long i = 0; i < kPatch[0] && start[0] + i < kSize[0]; ++i) {
            const long long w = i + kPatch[0] * (j + kPatch[1] * k);
            const long long v = (start[0] + i) + kSize[0] * ((start[1] + j) + kSize[1] * (start[2] + k));
            blend_softmax_voxel(logits.data(), classes, window, w, weights[std::size_t(w)], total.data(), voxels, v,
                                norm.data());
          }
      const DeviceArray<float> d_logits{std::span<const float>(logits)};
      blend_window_softmax(d_logits.data(), classes, d_weights, start, kPatch, kSize, d_total, d_norm);
    }
    for (std::size_t n = 0; n < total.size(); ++n)
      if (norm[n % std::size_t(voxels)] > 0) total[n] /= norm[n % std::size_t(voxels)];
    divide_by_weights(d_total, d_norm, classes);
    const std::vector<float> gpu_norm = downloaded(d_norm), gpu_total = downloaded(d_total);
    for (std::size_t v = 0; v < norm.size(); ++v) ASSERT_EQ(gpu_norm[v], norm[v]) << v;
    for (std::size_t n = 0; n < total.size(); ++n) {
      if (norm[n % std::size_t(voxels)] == 0) continue;  // never covered: 0 / 0 on both sides
      ASSERT_NEAR(gpu_total[n], total[n], 1e-6f) << classes << " classes, value " << n;
    }
  }
}

TEST(SegmentationGpu, WindowsZscoreConfidenceAndLabelIdsEqualTheHosts) {
  if (!cuda_device_available()) GTEST_SKIP() << cuda_unavailable_reason();
  Geometry g;
  g.size = kSize;
  const std::size_t voxels = std::size_t(g.voxel_count());
  std::vector<float> image(voxels);
  std::vector<std::uint8_t> mask(voxels);
  for (std::size_t v = 0; v < voxels; ++v) image[v] = 400.0f * hashed(v, 3), mask[v] = hashed(v, 4) < 0.6f;

  // The window past the volume's end: the volume's voxels, zeros beyond.
  DeviceVolume<float> volume(g);
  volume.voxels.upload(image);
  const Size3& start = kStarts.back();
  const std::size_t window = std::size_t(kPatch[0] * kPatch[1] * kPatch[2]);
  DeviceArray<float> d_window(window);
  extract_window(volume, start, kPatch, d_window.data());
  const std::vector<float> cut = downloaded(d_window);
  for (long long k = 0; k < kPatch[2]; ++k)
    for (long long j = 0; j < kPatch[1]; ++j)
      for (long long i = 0; i < kPatch[0]; ++i) {
        const long long x = start[0] + i, y = start[1] + j, z = start[2] + k;
        const bool inside = x < kSize[0] && y < kSize[1] && z < kSize[2];
        ASSERT_EQ(cut[std::size_t(i + kPatch[0] * (j + kPatch[1] * k))],
                  inside ? image[std::size_t(x + kSize[0] * (y + kSize[1] * z))] : 0.0f);
      }

  // z-score inside the mask: mean and sd in double on both sides.
  double sum = 0, sum_sq = 0, count = 0;
  for (std::size_t v = 0; v < voxels; ++v)
    if (mask[v]) sum += image[v], sum_sq += double(image[v]) * image[v], ++count;
  const double mean = sum / count, sd = std::sqrt(sum_sq / count - mean * mean);
  const DeviceArray<std::uint8_t> d_mask{std::span<const std::uint8_t>(mask)};
  zscore_in_mask(volume, d_mask);
  std::vector<float> z(voxels);
  volume.voxels.download(z);
  for (std::size_t v = 0; v < voxels; ++v)
    ASSERT_NEAR(z[v], mask[v] ? float((image[v] - mean) / sd) : 0.0f, 1e-5f) << v;

  // Confidence over a mask, from probabilities of 4 classes.
  const int classes = 4;
  std::vector<float> p(std::size_t(classes) * voxels);
  for (std::size_t n = 0; n < p.size(); ++n) p[n] = hashed(n, 5);
  std::vector<std::uint16_t> mask16(mask.begin(), mask.end());
  double sum_max = 0;
  std::size_t inside = 0, low = 0;
  for (std::size_t v = 0; v < voxels; ++v) {
    if (!mask16[v]) continue;
    float first, second;
    top_two_probabilities(p.data(), classes, (long long)voxels, (long long)v, first, second);
    sum_max += first, ++inside, low += double(first - second) < 0.1;
  }
  const DeviceConfidence c = confidence_in_mask(DeviceArray<float>(std::span<const float>(p)), classes,
                                                DeviceArray<std::uint16_t>(std::span<const std::uint16_t>(mask16)), 0.1);
  EXPECT_NEAR(c.mean_max_probability, sum_max / double(inside), 1e-9);
  EXPECT_EQ(c.low_margin_fraction, double(low) / double(inside));

  // Network classes to label ids inside the mask.
  const std::vector<std::uint16_t> ids{0, 11, 22, 33};
  DeviceVolume<std::uint16_t> labels(g);
  std::vector<std::uint16_t> classes_of(voxels);
  for (std::size_t v = 0; v < voxels; ++v) classes_of[v] = std::uint16_t(v % 4);
  labels.voxels.upload(classes_of);
  mask_and_map_labels(labels, d_mask, DeviceArray<std::uint16_t>(std::span<const std::uint16_t>(ids)));
  std::vector<std::uint16_t> mapped(voxels);
  labels.voxels.download(mapped);
  for (std::size_t v = 0; v < voxels; ++v) ASSERT_EQ(mapped[v], mask[v] ? ids[classes_of[v]] : 0) << v;
}

}  // namespace
}  // namespace nc::kernels
