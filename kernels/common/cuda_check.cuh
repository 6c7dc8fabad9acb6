#pragma once
/// \file
/// NC_CUDA_CHECK: the one way CUDA calls are checked. Throws nc::kernels::CudaError with the
/// call, file:line and CUDA's name and description of the error (CudaOutOfMemory when the
/// device ran out of memory). NC_CUDA_CHECK_LAUNCH: the check after every kernel launch; with
/// NEUROCOHORT_CUDA_DEBUG_SYNC=1 in the environment it also waits for the kernel, so that a
/// fault inside it is reported at its launch rather than at a later copy (as CUB_DEBUG_SYNC).

#include <cuda_runtime.h>

#include <string>

#include "kernels/common/backend.hpp"

namespace nc::kernels::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  // The runtime keeps a failed call's error for the thread's next check (a later launch,
  // CUB's, LibTorch's) until it is read: read it, so that the CPU retry after an
  // out-of-memory does not fail on it. Sticky errors (a faulted context) stay regardless.
  cudaGetLastError();
  const std::string what = std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                           cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
  if (status == cudaErrorMemoryAllocation) throw CudaOutOfMemory(what);
  throw CudaError(what);
}

/// Whether NEUROCOHORT_CUDA_DEBUG_SYNC is set to anything but 0 (read once per process).
bool debug_sync_enabled() noexcept;

/// After a launch: its configuration error, and with debug sync its execution error.
inline void check_launch(const char* file, int line) {
  cudaError_t status = cudaGetLastError();
  if (status == cudaSuccess && debug_sync_enabled()) status = cudaStreamSynchronize(cudaStreamPerThread);
  if (status != cudaSuccess) throw_cuda_error(status, "kernel launch", file, line);
}

}  // namespace nc::kernels::detail

#define NC_CUDA_CHECK(call)                                                                      \
  do {                                                                                           \
    const cudaError_t nc_status_ = (call);                                                       \
    if (nc_status_ != cudaSuccess) ::nc::kernels::detail::throw_cuda_error(nc_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define NC_CUDA_CHECK_LAUNCH() ::nc::kernels::detail::check_launch(__FILE__, __LINE__)
