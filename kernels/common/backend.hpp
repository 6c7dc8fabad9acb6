#pragma once
/// \file
/// Which implementation of a kernel runs, and whether the CUDA one can. No CUDA headers here:
/// every translation unit may include this.

#include <cstdint>
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

/// The device had no memory left for a buffer (a very large scan): the caller may run the
/// same work on the CPU instead.
class CudaOutOfMemory : public CudaError {
 public:
  using CudaError::CudaError;
};

/// True when this build has CUDA and the runtime sees at least one device. Never throws.
bool cuda_device_available() noexcept;

/// The devices the CUDA runtime sees (0 without CUDA or a device). Never throws.
int cuda_device_count() noexcept;

/// Why no device is available ("" when one is): the CUDA runtime's error, e.g. a driver older
/// than the toolkit, or that this build has no CUDA.
std::string cuda_unavailable_reason();

/// Throws CudaError unless cuda_device_available(), naming what asked for it and why not.
void require_cuda(const std::string& what);

/// Binds this process to GPU `local_rank mod device count` (ranks of one node spread over its
/// GPUs); returns the device index, or -1 without a device (then nothing changes). Every CUDA
/// entry point then selects that device on the thread that calls it (oneTBB's workers start
/// on device 0 otherwise), and the device's memory pool keeps what scans free for the next.
/// Call it before MPI starts: a CUDA-aware MPI opens its context on the current device.
int bind_cuda_device(int local_rank);

/// The device bind_cuda_device chose; -1 before any binding or without a device.
int bound_cuda_device() noexcept;

/// The device the calling thread's CUDA work goes to now; -1 without a device.
int current_cuda_device() noexcept;

/// Bytes copied between host and device by the CUDA entry points.
struct TransferBytes {
  std::uint64_t host_to_device = 0;
  std::uint64_t device_to_host = 0;
  TransferBytes& operator+=(const TransferBytes& o) {
    host_to_device += o.host_to_device;
    device_to_host += o.device_to_host;
    return *this;
  }
};

/// While it lives, the copies issued by the calling thread are added to `sink` (and to no other
/// sink). Scopes nest: a stage of another scan that oneTBB runs on this thread while this one
/// waits in a parallel loop counts into its own sink, and this one's resumes when it ends. So
/// each scan's stages count exactly its own copies (pipeline/scan_stages.cpp).
class CountTransfersInto {
 public:
  explicit CountTransfersInto(TransferBytes& sink) noexcept;
  ~CountTransfersInto();
  CountTransfersInto(const CountTransfersInto&) = delete;
  CountTransfersInto& operator=(const CountTransfersInto&) = delete;

 private:
  TransferBytes* outer_;
};

/// The backend a `--device` choice names: "cpu", "cuda" (required: throws CudaError without a
/// device), or "auto" (CUDA when a device is present, else the CPU).
/// \throws UsageError on any other name.
Backend choose_backend(const std::string& device);

namespace detail {
/// Adds to the calling thread's current CountTransfersInto sink (nothing without one); called
/// by DeviceArray's copies.
void count_host_to_device(std::uint64_t bytes) noexcept;
void count_device_to_host(std::uint64_t bytes) noexcept;
/// Selects the bound device on the calling thread; every CUDA entry point calls it first.
void use_bound_device();
}  // namespace detail

}  // namespace nc::kernels
