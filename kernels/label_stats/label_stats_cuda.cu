#include <climits>

#include "kernels/common/device_array.hpp"
#include "kernels/common/grid_stride.cuh"
#include "kernels/label_stats/label_stats.hpp"
#include "kernels/label_stats/label_stats_math.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;

// Block-private shared-memory histograms (and boxes), merged into global memory once per
// block: global atomics per voxel would serialise on the few labels that cover most of a head.
// `nx`, `ny` are the grid's row and slice sizes when boxes are wanted (gm_boxes not null).
template <bool kWithTruth>
__global__ void count_kernel(const std::uint16_t* __restrict__ gm_predicted, const std::uint16_t* __restrict__ gm_truth,
                             long long n, int num_labels, long long nx, long long ny, unsigned long long* gm_counts,
                             int* gm_boxes) {
  extern __shared__ unsigned int sm_counts[];
  const int total_bins = 3 * (num_labels + 1);
  int* sm_boxes = reinterpret_cast<int*>(sm_counts + total_bins);
  for (int b = threadIdx.x; b < total_bins; b += blockDim.x) sm_counts[b] = 0;
  if (gm_boxes)
    for (int l = threadIdx.x; l < num_labels; l += blockDim.x) clear_box(sm_boxes + kBoxBounds * l, INT_MAX);
  __syncthreads();
  const auto increment = [](int bin) { atomicAdd(&sm_counts[bin], 1u); };
  const auto lower = [sm_boxes](int bound, long long v) { atomicMin(&sm_boxes[bound], int(v)); };
  const auto raise = [sm_boxes](int bound, long long v) { atomicMax(&sm_boxes[bound], int(v)); };
  for_each_index(n, [&](long long v) {
    const std::uint16_t p = gm_predicted[v];
    if constexpr (kWithTruth)
      count_overlap_voxel(p, gm_truth[v], num_labels, increment);
    else
      increment(label_bin(p, num_labels));
    if (gm_boxes) {
      const long long i = v % nx, j = v / nx % ny, k = v / nx / ny;
      include_run(p, num_labels, i, i + 1, j, k, lower, raise);
      if constexpr (kWithTruth)
        if (gm_truth[v] != p) include_run(gm_truth[v], num_labels, i, i + 1, j, k, lower, raise);
    }
  });
  __syncthreads();
  for (int b = threadIdx.x; b < total_bins; b += blockDim.x)
    if (sm_counts[b] != 0) atomicAdd(&gm_counts[b], static_cast<unsigned long long>(sm_counts[b]));
  if (gm_boxes)
    for (int b = threadIdx.x; b < kBoxBounds * num_labels; b += blockDim.x)
      if (b % kBoxBounds < 3)
        atomicMin(&gm_boxes[b], sm_boxes[b]);
      else
        atomicMax(&gm_boxes[b], sm_boxes[b]);
}

}  // namespace

OverlapCounts count_label_overlap_cuda(std::span<const std::uint16_t> predicted, std::span<const std::uint16_t> truth,
                                       std::array<std::int64_t, 3> size, int num_labels) {
  use_bound_device();
  const std::size_t n = predicted.size();
  const std::size_t total_bins = 3 * (std::size_t(num_labels) + 1);
  const bool with_truth = !truth.empty(), with_boxes = size[0] > 0;
  const DeviceArray<std::uint16_t> d_predicted(predicted);
  const DeviceArray<std::uint16_t> d_truth(truth);
  DeviceArray<unsigned long long> d_counts(total_bins);
  d_counts.zero();
  const std::size_t box_bounds = with_boxes ? std::size_t(kBoxBounds) * std::size_t(num_labels) : 0;
  std::vector<int> h_boxes(box_bounds);
  for (int l = 0; with_boxes && l < num_labels; ++l) clear_box(h_boxes.data() + kBoxBounds * l, INT_MAX);
  DeviceArray<int> d_boxes(std::span<const int>(h_boxes.data(), h_boxes.size()));
  const int blocks = grid_stride_blocks(static_cast<long long>(n), kThreads);
  const std::size_t shared_bytes = total_bins * sizeof(unsigned int) + box_bounds * sizeof(int);
  int* boxes = with_boxes ? d_boxes.data() : nullptr;
  if (with_truth)
    count_kernel<true><<<blocks, kThreads, shared_bytes>>>(d_predicted.data(), d_truth.data(), static_cast<long long>(n),
                                                           num_labels, size[0], size[1], d_counts.data(), boxes);
  else
    count_kernel<false><<<blocks, kThreads, shared_bytes>>>(d_predicted.data(), nullptr, static_cast<long long>(n),
                                                            num_labels, size[0], size[1], d_counts.data(), boxes);
  NC_CUDA_CHECK_LAUNCH();

  std::vector<unsigned long long> h_counts(total_bins);
  d_counts.download(std::span<unsigned long long>(h_counts));
  OverlapCounts counts = unpack_counts(std::vector<std::int64_t>(h_counts.begin(), h_counts.end()), num_labels);
  if (with_boxes) {
    d_boxes.download(std::span<int>(h_boxes));
    counts.boxes = unpack_boxes(std::vector<std::int64_t>(h_boxes.begin(), h_boxes.end()), num_labels);
  }
  return counts;
}

}  // namespace nc::kernels::detail
