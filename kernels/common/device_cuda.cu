#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

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

// The runtime's device count, or why it has none: a driver older than the toolkit
// (cudaErrorInsufficientDriver) must not read as "no GPU" on a GPU machine.
int device_count(std::string* why_none) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the "no device/driver" error so it cannot leak into later calls
    if (why_none) *why_none = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    return 0;
  }
  if (count == 0 && why_none) *why_none = "the CUDA runtime sees no device";
  return count;
}

}  // namespace

bool cuda_device_available() noexcept { return device_count(nullptr) > 0; }

int cuda_device_count() noexcept { return device_count(nullptr); }

std::string cuda_unavailable_reason() {
  std::string why;
  return device_count(&why) > 0 ? std::string() : why;
}

void require_cuda(const std::string& what) {
  const std::string why = cuda_unavailable_reason();
  if (!why.empty()) throw CudaError(what + ": no CUDA device is available (" + why + ")", Cause::Input);
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
  // Blocks freed on this thread's stream go back to the pool only once the stream reaches the
  // frees: wait for them, or the trim leaves the failed attempt's memory where it was.
  if (select_bound_device() != cudaSuccess || cudaStreamSynchronize(cudaStreamPerThread) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  int device = -1;
  cudaMemPool_t pool = nullptr;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
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
