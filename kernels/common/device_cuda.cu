#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/device_array.hpp"

namespace nc::kernels {
namespace {

std::atomic<int> bound_device{-1};
thread_local int selected_device = -1;  // what this thread last passed to cudaSetDevice

// Freed blocks stay in the device's pool instead of going back to the driver at the next
// synchronisation, so the next scan's buffers cost no cudaMalloc.
void keep_freed_memory_pooled(int device) {
  cudaMemPool_t pool = nullptr;
  NC_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  std::uint64_t keep = std::numeric_limits<std::uint64_t>::max();
  NC_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
}

cudaError_t select_bound_device() noexcept {
  const int device = bound_device.load();
  if (device < 0 || device == selected_device) return cudaSuccess;
  const cudaError_t status = cudaSetDevice(device);
  if (status == cudaSuccess) selected_device = device;
  return status;
}

}  // namespace

bool cuda_device_available() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device/driver" error so it cannot leak into later calls
    return false;
  }
  return count > 0;
}

void require_cuda(const std::string& what) {
  if (!cuda_device_available()) throw CudaError(what + ": no CUDA device is available", Cause::Input);
}

int bind_cuda_device(int local_rank) {
  if (!cuda_device_available()) return -1;
  int count = 0;
  NC_CUDA_CHECK(cudaGetDeviceCount(&count));
  const int device = local_rank % count;
  NC_CUDA_CHECK(cudaSetDevice(device));
  selected_device = device;
  keep_freed_memory_pooled(device);
  bound_device = device;
  return device;
}

int bound_cuda_device() noexcept { return bound_device.load(); }

int current_cuda_device() noexcept {
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return device;
}

namespace detail {

void use_bound_device() { NC_CUDA_CHECK(select_bound_device()); }

// Each selects the bound device first: a pipeline thread's first device call may be an allocation.
void* device_allocate(std::size_t bytes) {
  use_bound_device();
  void* p = nullptr;
  NC_CUDA_CHECK(cudaMallocAsync(&p, bytes, cudaStreamPerThread));
  return p;
}

void device_free(void* p) noexcept {
  select_bound_device();
  cudaFreeAsync(p, cudaStreamPerThread);
}

void copy_to_device(void* device, const void* host, std::size_t bytes) {
  use_bound_device();
  NC_CUDA_CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, cudaStreamPerThread));
  count_host_to_device(bytes);
}

void copy_to_host(void* host, const void* device, std::size_t bytes) {
  use_bound_device();
  NC_CUDA_CHECK(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, cudaStreamPerThread));
  NC_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
  count_device_to_host(bytes);
}

void copy_on_device(void* to, const void* from, std::size_t bytes) {
  use_bound_device();
  NC_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, cudaStreamPerThread));
}

void fill_device_bytes(void* device, int byte, std::size_t bytes) {
  use_bound_device();
  NC_CUDA_CHECK(cudaMemsetAsync(device, byte, bytes, cudaStreamPerThread));
}

}  // namespace detail

void release_unused_device_memory() noexcept {
  const int device = bound_device.load();
  cudaMemPool_t pool = nullptr;
  if (device < 0 || cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess) return;
  cudaMemPoolTrimTo(pool, 0);
}

void wait_for_device_work() {
  detail::use_bound_device();
  NC_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
}

namespace detail {

bool debug_sync_enabled() noexcept {
  static const bool enabled = [] {
    const char* value = std::getenv("NEUROCOHORT_CUDA_DEBUG_SYNC");
    return value && *value && std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

}  // namespace detail
}  // namespace nc::kernels
