#pragma once
/// \file
/// reduce_over_indices: one value from every index of [0, n), through CUB's TransformReduce on
/// the calling thread's stream, with its scratch memory from the device pool (device_array.hpp)
/// rather than a cudaMalloc per call. CUDA translation units only.

#include <cub/device/device_reduce.cuh>
#include <thrust/iterator/counting_iterator.h>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/device_array.hpp"

namespace nc::kernels::detail {

/// reduce(… reduce(init, transform(0)) …, transform(n − 1)) in some order: `reduce` must be
/// associative and commutative. Waits for the result.
template <typename T, typename Transform, typename Reduce>
T reduce_over_indices(long long n, Transform transform, Reduce reduce, T init) {
  DeviceArray<T> result(1);
  const thrust::counting_iterator<long long> first(0);
  std::size_t scratch_bytes = 0;
  NC_CUDA_CHECK(cub::DeviceReduce::TransformReduce(nullptr, scratch_bytes, first, result.data(), n, reduce, transform,
                                                   init, cudaStreamPerThread));
  DeviceArray<unsigned char> scratch(scratch_bytes);
  NC_CUDA_CHECK(cub::DeviceReduce::TransformReduce(scratch.data(), scratch_bytes, first, result.data(), n, reduce,
                                                   transform, init, cudaStreamPerThread));
  T value{};
  result.download(std::span<T>(&value, 1));
  return value;
}

}  // namespace nc::kernels::detail
