#pragma once
/// \file
/// NC_CUDA_CHECK: the one way CUDA calls are checked. Throws nc::kernels::CudaError with the
/// call, file:line and CUDA's name and description of the error.

#include <cuda_runtime.h>

#include <string>

#include "kernels/common/backend.hpp"

namespace nc::kernels::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  throw CudaError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                  cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

}  // namespace nc::kernels::detail

#define NC_CUDA_CHECK(call)                                                                      \
  do {                                                                                           \
    const cudaError_t nc_status_ = (call);                                                       \
    if (nc_status_ != cudaSuccess) ::nc::kernels::detail::throw_cuda_error(nc_status_, #call, __FILE__, __LINE__); \
  } while (0)
