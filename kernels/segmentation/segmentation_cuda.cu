#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/common/device_reduce.cuh"
#include "kernels/common/grid_stride.cuh"
#include "kernels/resample/resample_math.hpp"
#include "kernels/segmentation/segmentation.hpp"
#include "kernels/segmentation/segmentation_math.hpp"

namespace nc::kernels {
namespace {

using detail::for_each_index;
using detail::grid_stride_blocks;
constexpr int kThreads = 256;

// Sizes and positions cross to the device as GridDims: std::array's operator[] is host code.
GridDims dims(const Size3& s) { return {s[0], s[1], s[2]}; }

struct Moments {
  double sum = 0, sum_sq = 0;
  long long count = 0;
};
struct MomentsInMask {
  const float* image;
  const std::uint8_t* mask;
  __device__ Moments operator()(long long v) const {
    if (!mask[v]) return {};
    const double x = image[v];
    return {x, x * x, 1};
  }
};
struct AddMoments {
  __device__ Moments operator()(const Moments& a, const Moments& b) const {
    return {a.sum + b.sum, a.sum_sq + b.sum_sq, a.count + b.count};
  }
};

__global__ void zscore_kernel(float* __restrict__ gm_image, const std::uint8_t* __restrict__ gm_mask, long long n,
                              double mean, double sd) {
  for_each_index(n, [&](long long v) { gm_image[v] = gm_mask[v] ? float((double(gm_image[v]) - mean) / sd) : 0.0f; });
}

__global__ void extract_kernel(const float* __restrict__ gm_volume, GridDims size, GridDims start, GridDims patch,
                               float* __restrict__ gm_window) {
  for_each_index(patch.count(), [&](long long w) {
    const long long i = w % patch.nx, j = w / patch.nx % patch.ny, k = w / patch.nx / patch.ny;
    const long long x = start.nx + i, y = start.ny + j, z = start.nz + k;
    gm_window[w] = x < size.nx && y < size.ny && z < size.nz ? gm_volume[x + size.nx * (y + size.ny * z)] : 0.0f;
  });
}

// One thread per window voxel inside the volume. Windows of one batch are blended one after
// another (same stream), so no two threads add to the same voxel at once.
__global__ void blend_kernel(const float* __restrict__ gm_logits, int classes, const float* __restrict__ gm_weights,
                             GridDims start, GridDims patch, GridDims size, float* __restrict__ gm_total,
                             float* __restrict__ gm_norm) {
  const long long ni = min(patch.nx, size.nx - start.nx), nj = min(patch.ny, size.ny - start.ny),
                  nk = min(patch.nz, size.nz - start.nz);
  for_each_index(ni * nj * nk, [&](long long t) {
    const long long i = t % ni, j = t / ni % nj, k = t / ni / nj;
    const long long w = i + patch.nx * (j + patch.ny * k);
    const long long v = (start.nx + i) + size.nx * ((start.ny + j) + size.ny * (start.nz + k));
    blend_softmax_voxel(gm_logits, classes, patch.count(), w, gm_weights[w], gm_total, size.count(), v, gm_norm);
  });
}

__global__ void divide_kernel(float* __restrict__ gm_total, const float* __restrict__ gm_norm, long long voxels,
                              int classes) {
  for_each_index(voxels * classes, [&](long long n) { gm_total[n] /= gm_norm[n % voxels]; });
}

struct ConfidenceSums {
  double sum_max = 0;
  long long inside = 0, low = 0;
};
struct ConfidenceOfVoxel {
  const float* probabilities;
  const std::uint16_t* mask;
  int classes;
  long long voxels;
  double low_margin;
  __device__ ConfidenceSums operator()(long long v) const {
    if (!mask[v]) return {};
    float first, second;
    top_two_probabilities(probabilities, classes, voxels, v, first, second);
    return {double(first), 1, double(first - second) < low_margin ? 1 : 0};
  }
};
struct AddConfidence {
  __device__ ConfidenceSums operator()(const ConfidenceSums& a, const ConfidenceSums& b) const {
    return {a.sum_max + b.sum_max, a.inside + b.inside, a.low + b.low};
  }
};

__global__ void map_labels_kernel(std::uint16_t* __restrict__ gm_labels, const std::uint8_t* __restrict__ gm_mask,
                                  const std::uint16_t* __restrict__ gm_ids, long long n) {
  for_each_index(n, [&](long long v) { gm_labels[v] = gm_mask[v] ? gm_ids[gm_labels[v]] : std::uint16_t(0); });
}

void require_same_voxels(std::size_t a, std::size_t b, const char* what) {
  if (a != b) throw Error(std::string(what) + ": " + std::to_string(a) + " and " + std::to_string(b) + " voxels differ");
}

}  // namespace

void zscore_in_mask(DeviceVolume<float>& image, const DeviceArray<std::uint8_t>& mask) {
  detail::use_bound_device();
  const long long n = static_cast<long long>(image.voxels.size());
  require_same_voxels(image.voxels.size(), mask.size(), "z-score normalisation");
  const Moments m = detail::reduce_over_indices(n, MomentsInMask{image.voxels.data(), mask.data()}, AddMoments{},
                                                Moments{});
  if (m.count == 0) throw Error("the brain mask is empty");
  const double mean = m.sum / double(m.count);
  const double sd = std::max(std::sqrt(std::max(m.sum_sq / double(m.count) - mean * mean, 0.0)), 1e-6);
  zscore_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(image.voxels.data(), mask.data(), n, mean, sd);
  NC_CUDA_CHECK_LAUNCH();
}

void extract_window(const DeviceVolume<float>& volume, const Size3& start, const Size3& patch, float* window) {
  detail::use_bound_device();
  const long long n = patch[0] * patch[1] * patch[2];
  extract_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(volume.voxels.data(), dims(volume.geometry.size),
                                                                dims(start), dims(patch), window);
  NC_CUDA_CHECK_LAUNCH();
}

void blend_window_softmax(const float* logits, int classes, const DeviceArray<float>& weights, const Size3& start,
                          const Size3& patch, const Size3& size, DeviceArray<float>& total, DeviceArray<float>& norm) {
  detail::use_bound_device();
  const long long n = patch[0] * patch[1] * patch[2];
  blend_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(logits, classes, weights.data(), dims(start), dims(patch),
                                                              dims(size), total.data(), norm.data());
  NC_CUDA_CHECK_LAUNCH();
}

void divide_by_weights(DeviceArray<float>& total, const DeviceArray<float>& norm, int classes) {
  detail::use_bound_device();
  require_same_voxels(total.size(), norm.size() * std::size_t(classes), "blended probabilities");
  const long long voxels = static_cast<long long>(norm.size());
  divide_kernel<<<grid_stride_blocks(voxels * classes, kThreads), kThreads>>>(total.data(), norm.data(), voxels,
                                                                              classes);
  NC_CUDA_CHECK_LAUNCH();
}

DeviceConfidence confidence_in_mask(const DeviceArray<float>& probabilities, int classes,
                                    const DeviceArray<std::uint16_t>& mask, double low_margin) {
  detail::use_bound_device();
  const long long voxels = static_cast<long long>(mask.size());
  require_same_voxels(probabilities.size(), mask.size() * std::size_t(classes), "confidence");
  const ConfidenceSums s = detail::reduce_over_indices(
      voxels, ConfidenceOfVoxel{probabilities.data(), mask.data(), classes, voxels, low_margin}, AddConfidence{},
      ConfidenceSums{});
  if (s.inside == 0) throw Error("qc: the brain mask is empty on the model's grid");
  return {s.sum_max / double(s.inside), double(s.low) / double(s.inside)};
}

void mask_and_map_labels(DeviceVolume<std::uint16_t>& labels, const DeviceArray<std::uint8_t>& mask,
                         const DeviceArray<std::uint16_t>& ids) {
  detail::use_bound_device();
  require_same_voxels(labels.voxels.size(), mask.size(), "label mapping");
  const long long n = static_cast<long long>(mask.size());
  map_labels_kernel<<<grid_stride_blocks(n, kThreads), kThreads>>>(labels.voxels.data(), mask.data(), ids.data(), n);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nc::kernels
