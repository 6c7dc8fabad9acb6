#pragma once
/// \file
/// DeviceBuffer<T>: move-only ownership of device memory, and the host <-> device copies every
/// CUDA entry point needs. CUDA translation units only.
///
/// Memory comes from the device's stream-ordered pool (cudaMallocAsync on the calling thread's
/// default stream; device_cuda.cu keeps freed memory in the pool), so that a scan's buffers
/// reuse the previous scan's memory instead of calling cudaMalloc per kernel call. The kernels
/// are compiled with per-thread default streams: each pipeline thread, and with it each scan
/// in flight, issues its copies and kernels on a stream of its own. Every copy is counted
/// (thread_transfer_bytes, backend.hpp).

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "kernels/common/cuda_check.cuh"

namespace nc::kernels::detail {

template <typename T>
struct CudaFreeAsync {
  void operator()(T* p) const { cudaFreeAsync(p, cudaStreamPerThread); }
};

template <typename T>
class DeviceBuffer {
 public:
  /// \throws CudaOutOfMemory when the pool and the device have no room left.
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    T* p = nullptr;
    NC_CUDA_CHECK(cudaMallocAsync(&p, std::max<std::size_t>(count, 1) * sizeof(T), cudaStreamPerThread));
    ptr_.reset(p);
  }
  /// Allocates and copies `host` to the device.
  explicit DeviceBuffer(std::span<const T> host) : DeviceBuffer(host.size()) { copy_from(host); }
  T* get() const { return ptr_.get(); }
  std::size_t size() const { return count_; }
  void zero() { NC_CUDA_CHECK(cudaMemsetAsync(ptr_.get(), 0, count_ * sizeof(T), cudaStreamPerThread)); }
  void copy_from(std::span<const T> host) {
    if (host.empty()) return;
    NC_CUDA_CHECK(cudaMemcpyAsync(ptr_.get(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice,
                                  cudaStreamPerThread));
    count_host_to_device(host.size_bytes());
  }
  /// Copies to `host` and waits for the copy (and so for every kernel before it on this stream).
  void copy_to(std::span<T> host) const {
    if (host.empty()) return;
    NC_CUDA_CHECK(cudaMemcpyAsync(host.data(), ptr_.get(), host.size_bytes(), cudaMemcpyDeviceToHost,
                                  cudaStreamPerThread));
    NC_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
    count_device_to_host(host.size_bytes());
  }

 private:
  std::unique_ptr<T, CudaFreeAsync<T>> ptr_;
  std::size_t count_ = 0;
};

}  // namespace nc::kernels::detail
