#pragma once
/// \file
/// Which implementation of a kernel runs, and whether the CUDA one can. No CUDA headers here:
/// every translation unit may include this.

#include <string>

#include "core/error.hpp"

namespace nc::kernels {

enum class Backend { Cpu, Cuda };

/// A failed CUDA runtime call or kernel launch (a runtime failure), or CUDA asked of a build or
/// a machine without it (Cause::Input).
class CudaError : public Error {
 public:
  explicit CudaError(const std::string& what, Cause cause = Cause::Runtime) : Error(what, cause) {}
};

/// True when this build has CUDA and the runtime sees at least one device. Never throws.
bool cuda_device_available() noexcept;

/// Throws CudaError unless cuda_device_available(), naming what asked for it.
void require_cuda(const std::string& what);

/// Binds this process to GPU `local_rank mod device count` (ranks of one node spread over its
/// GPUs); returns the device index, or -1 without a device (then nothing changes).
int bind_cuda_device(int local_rank);

/// The backend a `--device` choice names: "cpu", "cuda" (required: throws CudaError without a
/// device), or "auto" (CUDA when a device is present, else the CPU).
/// \throws UsageError on any other name.
Backend choose_backend(const std::string& device);

}  // namespace nc::kernels
