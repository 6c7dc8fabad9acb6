#pragma once
/// \file
/// The grid-stride loop every kernel runs: the launch size on the host (grid_stride_blocks)
/// and the loop on the device (for_each_index). A kernel launched with fewer threads than
/// items still covers them all, so the grid can be sized for the device rather than the data.
/// CUDA translation units only.

#include <algorithm>

#include "kernels/common/cuda_check.cuh"

namespace nc::kernels::detail {

/// Blocks for a memory-bound grid-stride loop over `n` items: a few per SM is enough.
inline int grid_stride_blocks(long long n, int threads) {
  int device = 0, sms = 0;
  NC_CUDA_CHECK(cudaGetDevice(&device));
  NC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const long long wanted = (n + threads - 1) / threads;
  return static_cast<int>(std::max(1LL, std::min<long long>(wanted, 8LL * sms)));
}

/// Calls `body(v)` for this thread's items of [0, n): its global thread index, then every
/// grid's worth of threads after it. Consecutive threads take consecutive items, so loads and
/// stores along the fastest axis coalesce. `return` in the body skips to the next item.
template <typename Body>
__device__ inline void for_each_index(long long n, Body&& body) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long v = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; v < n; v += stride) body(v);
}

}  // namespace nc::kernels::detail
