#include <cstring>
#include <mutex>
#include <vector>

#include "kernels/common/grid_stride.cuh"
#include "kernels/common/upload.hpp"

namespace nc::kernels {
namespace {

constexpr int kThreads = 256;

// A block of pinned host memory and the event recorded after the last copy out of it: whoever
// takes the block next waits for that copy before writing into it.
struct PinnedBlock {
  void* host = nullptr;
  std::size_t bytes = 0;
  cudaEvent_t copied = nullptr;
};

// Pinned blocks kept across scans: pinning a CT's worth of pages costs tens of milliseconds,
// so it is done once per block, and there are about as many blocks as uploads at once (the
// scans in flight). Sizes are rounded up to kGranule so that scans of similar size share
// blocks, and a block too small for a new request is unpinned when that request pins its own,
// so the pool holds at most one block per concurrent upload. Never destroyed: freeing pinned
// memory during static destruction may run after the CUDA runtime has shut down.
class PinnedPool {
 public:
  static constexpr std::size_t kGranule = std::size_t{64} << 20;

  static PinnedPool& instance() {
    static auto* pool = new PinnedPool;
    return *pool;
  }

  // The smallest free block of at least `bytes`, else a new one (host null when the host has no
  // memory left to pin); its last copy has completed.
  PinnedBlock take(std::size_t bytes) {
    bytes = (bytes + kGranule - 1) / kGranule * kGranule;
    PinnedBlock block;
    std::vector<PinnedBlock> too_small;
    {
      const std::lock_guard lock(mutex_);
      auto best = free_.end();
      for (auto b = free_.begin(); b != free_.end(); ++b)
        if (b->bytes >= bytes && (best == free_.end() || b->bytes < best->bytes)) best = b;
      if (best != free_.end()) {
        block = *best;
        free_.erase(best);
      } else {
        too_small.swap(free_);  // every free block is smaller than this request
      }
    }
    if (block.host) {
      if (const cudaError_t status = cudaEventSynchronize(block.copied); status != cudaSuccess) {
        give_back(block);
        detail::throw_cuda_error(status, "cudaEventSynchronize", __FILE__, __LINE__);
      }
      return block;
    }
    for (const PinnedBlock& b : too_small) {
      cudaEventSynchronize(b.copied);
      cudaEventDestroy(b.copied);
      cudaFreeHost(b.host);
    }
    if (cudaHostAlloc(&block.host, bytes, cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();  // no pinned memory: the caller uploads from pageable memory instead
      return {};
    }
    block.bytes = bytes;
    if (const cudaError_t status = cudaEventCreateWithFlags(&block.copied, cudaEventDisableTiming); status != cudaSuccess) {
      cudaFreeHost(block.host);
      detail::throw_cuda_error(status, "cudaEventCreateWithFlags", __FILE__, __LINE__);
    }
    return block;
  }

  void give_back(const PinnedBlock& block) {
    const std::lock_guard lock(mutex_);
    free_.push_back(block);
  }

 private:
  std::mutex mutex_;
  std::vector<PinnedBlock> free_;
};

// A pinned block for one upload; back to the pool when it ends, its copy marked by the event.
// Without one (the host could pin no more), pinned() is false.
class PinnedStaging {
 public:
  explicit PinnedStaging(std::size_t bytes) : block_(PinnedPool::instance().take(bytes)) {}
  ~PinnedStaging() {
    if (block_.host) PinnedPool::instance().give_back(block_);
  }
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  bool pinned() const { return block_.host != nullptr; }
  template <typename T>
  std::span<T> as(std::size_t count) {
    return {static_cast<T*>(block_.host), count};
  }
  // Queues the copy of the block's first `bytes` to `device` on this thread's stream.
  void copy_to(void* device, std::size_t bytes) {
    detail::copy_to_device(device, block_.host, bytes);
    if (const cudaError_t status = cudaEventRecord(block_.copied, cudaStreamPerThread); status != cudaSuccess) {
      cudaStreamSynchronize(cudaStreamPerThread);  // no marker: the block must not go back mid-copy
      detail::throw_cuda_error(status, "cudaEventRecord", __FILE__, __LINE__);
    }
  }

 private:
  PinnedBlock block_;
};

__global__ void widen_kernel(const std::int16_t* __restrict__ gm_packed, long long n, float* __restrict__ gm_out) {
  detail::for_each_index(n, [&](long long v) { gm_out[v] = static_cast<float>(gm_packed[v]); });
}

}  // namespace

DeviceVolume<float> upload_image(const ImageVolume& image) {
  detail::use_bound_device();
  const std::size_t n = image.voxels.size();
  DeviceVolume<float> out(image.geometry);
  {
    PinnedStaging staging(n * sizeof(std::int16_t));
    if (staging.pinned() && detail::pack_as_int16(image.voxels, staging.as<std::int16_t>(n))) {
      DeviceArray<std::int16_t> packed(n);
      staging.copy_to(packed.data(), packed.bytes());
      widen_kernel<<<detail::grid_stride_blocks(static_cast<long long>(n), kThreads), kThreads>>>(
          packed.data(), static_cast<long long>(n), out.voxels.data());
      NC_CUDA_CHECK_LAUNCH();
      return out;
    }
  }
  PinnedStaging staging(n * sizeof(float));
  if (!staging.pinned()) {
    out.voxels.upload(std::span<const float>(image.voxels));
    return out;
  }
  std::memcpy(staging.as<float>(n).data(), image.voxels.data(), n * sizeof(float));
  staging.copy_to(out.voxels.data(), out.voxels.bytes());
  return out;
}

}  // namespace nc::kernels
