#pragma once
/// \file
/// Per-voxel math of the network's output, shared by the CPU path (pipeline/inference.cpp,
/// qc/measures.cpp) and the CUDA path (segmentation_cuda.cu): a window's softmax blended into
/// the running sums, and the two largest class probabilities of a voxel. Classes are laid out
/// class-major: class c of voxel v at c · voxels + v.

#include <cmath>

#include "core/nc_hd.hpp"

namespace nc::kernels {

NC_HD inline float exp_of(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  return std::exp(x);
#endif
}

/// Classes whose exponentials blend_softmax_voxel keeps between its two passes; a model with
/// more classes has them taken again in the second pass, which gives the same bits.
inline constexpr long long kBlendKeptClasses = 32;

/// Adds the softmax of window voxel `w`'s logits (`window_voxels` per class), times its blending
/// `weight`, into `total` at volume voxel `v` (`volume_voxels` per class), and the weight
/// into `norm[v]`.
NC_HD inline void blend_softmax_voxel(const float* logits, long long classes, long long window_voxels, long long w,
                                      float weight, float* total, long long volume_voxels, long long v, float* norm) {
  float top = logits[w];
  for (long long c = 1; c < classes; ++c) {
    const float l = logits[c * window_voxels + w];
    top = top < l ? l : top;
  }
  float kept[kBlendKeptClasses];
  float sum = 0;
  for (long long c = 0; c < classes; ++c) {
    const float e = exp_of(logits[c * window_voxels + w] - top);
    if (c < kBlendKeptClasses) kept[c] = e;
    sum += e;
  }
  const float scale = weight / sum;
  for (long long c = 0; c < classes; ++c) {
    const float e = c < kBlendKeptClasses ? kept[c] : exp_of(logits[c * window_voxels + w] - top);
    total[c * volume_voxels + v] += e * scale;
  }
  norm[v] += weight;
}

/// The largest and second largest of voxel v's class probabilities (0 for what no class reaches).
NC_HD inline void top_two_probabilities(const float* probabilities, int classes, long long voxels, long long v,
                                        float& first, float& second) {
  first = 0;
  second = 0;
  for (int c = 0; c < classes; ++c) {
    const float p = probabilities[static_cast<long long>(c) * voxels + v];
    if (p > first) {
      second = first;
      first = p;
    } else if (p > second) {
      second = p;
    }
  }
}

}  // namespace nc::kernels
