#include "kernels/common/device_buffer.cuh"
#include "kernels/common/grid_stride.cuh"
#include "kernels/label_stats/label_stats.hpp"
#include "kernels/label_stats/label_stats_math.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;

// Block-private shared-memory histograms, merged into global memory once per block: global
// atomics per voxel would serialise on the few labels that cover most of a head.
template <bool kWithTruth>
__global__ void count_kernel(const std::uint16_t* __restrict__ gm_predicted, const std::uint16_t* __restrict__ gm_truth,
                             long long n, int num_labels, unsigned long long* gm_counts) {
  extern __shared__ unsigned int sm_counts[];
  const int total_bins = 3 * (num_labels + 1);
  for (int b = threadIdx.x; b < total_bins; b += blockDim.x) sm_counts[b] = 0;
  __syncthreads();
  const auto increment = [](int bin) { atomicAdd(&sm_counts[bin], 1u); };
  for_each_index(n, [&](long long v) {
    if constexpr (kWithTruth)
      count_overlap_voxel(gm_predicted[v], gm_truth[v], num_labels, increment);
    else
      increment(label_bin(gm_predicted[v], num_labels));
  });
  __syncthreads();
  for (int b = threadIdx.x; b < total_bins; b += blockDim.x)
    if (sm_counts[b] != 0) atomicAdd(&gm_counts[b], static_cast<unsigned long long>(sm_counts[b]));
}

}  // namespace

OverlapCounts count_label_overlap_cuda(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                       int num_labels) {
  const std::size_t n = predicted.size();
  const std::size_t total_bins = 3 * (std::size_t(num_labels) + 1);
  const bool with_truth = !truth.empty();
  const DeviceBuffer<std::uint16_t> d_predicted(predicted);
  const DeviceBuffer<std::uint16_t> d_truth(truth);
  DeviceBuffer<unsigned long long> d_counts(total_bins);
  d_counts.zero();
  const int blocks = grid_stride_blocks(static_cast<long long>(n), kThreads);
  const std::size_t shared_bytes = total_bins * sizeof(unsigned int);
  if (with_truth)
    count_kernel<true><<<blocks, kThreads, shared_bytes>>>(d_predicted.get(), d_truth.get(), static_cast<long long>(n),
                                                           num_labels, d_counts.get());
  else
    count_kernel<false><<<blocks, kThreads, shared_bytes>>>(d_predicted.get(), nullptr, static_cast<long long>(n),
                                                            num_labels, d_counts.get());
  NC_CUDA_CHECK(cudaGetLastError());

  std::vector<unsigned long long> h_counts(total_bins);
  d_counts.copy_to(h_counts);
  return unpack_counts(std::vector<std::int64_t>(h_counts.begin(), h_counts.end()), num_labels);
}

}  // namespace nc::kernels::detail
