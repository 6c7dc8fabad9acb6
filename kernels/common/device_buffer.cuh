#pragma once
/// \file
/// DeviceBuffer<T>: move-only ownership of device memory (cudaFree on destruction), and the
/// host <-> device copies every CUDA entry point needs. CUDA translation units only.

#include <memory>
#include <span>
#include <vector>

#include "kernels/common/cuda_check.cuh"

namespace nc::kernels::detail {

template <typename T>
struct CudaFree {
  void operator()(T* p) const { cudaFree(p); }
};

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    T* p = nullptr;
    NC_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T)));
    ptr_.reset(p);
  }
  /// Allocates and copies `host` to the device.
  explicit DeviceBuffer(std::span<const T> host) : DeviceBuffer(host.size()) {
    if (!host.empty()) NC_CUDA_CHECK(cudaMemcpy(ptr_.get(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
  }
  T* get() const { return ptr_.get(); }
  std::size_t size() const { return count_; }
  void zero() { NC_CUDA_CHECK(cudaMemset(ptr_.get(), 0, count_ * sizeof(T))); }
  void copy_to(std::span<T> host) const {
    if (!host.empty()) NC_CUDA_CHECK(cudaMemcpy(host.data(), ptr_.get(), host.size_bytes(), cudaMemcpyDeviceToHost));
  }

 private:
  std::unique_ptr<T, CudaFree<T>> ptr_;
  std::size_t count_ = 0;
};

}  // namespace nc::kernels::detail
