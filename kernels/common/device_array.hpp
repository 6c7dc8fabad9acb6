#pragma once
/// \file
/// DeviceArray<T>: move-only ownership of device memory, usable from any translation unit (no
/// CUDA headers), and the host <-> device copies. DeviceVolume<T>: a volume whose voxels live
/// on the device, so that a scan's stages hand it on without copying it back to the host.
///
/// Memory comes from the bound device's stream-ordered pool (device_cuda.cu keeps what is
/// freed there for the next scan): no cudaMalloc per kernel call. Allocation, kernels and
/// copies are ordered on the calling thread's default stream (the kernels are compiled with
/// per-thread default streams), so each pipeline thread, and with it each scan in flight,
/// works on a stream of its own. Every copy to or from the host is counted
/// (CountTransfersInto, backend.hpp). In a build without CUDA, allocating throws CudaError.

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>

#include "core/geometry.hpp"
#include "kernels/common/backend.hpp"

namespace nc::kernels {

namespace detail {
/// \throws CudaOutOfMemory when the pool and the device have no room left; CudaError otherwise.
void* device_allocate(std::size_t bytes);
void device_free(void* p) noexcept;
void copy_to_device(void* device, const void* host, std::size_t bytes);
/// Waits for the copy, and so for all work issued before it on this thread's stream.
void copy_to_host(void* host, const void* device, std::size_t bytes);
void copy_on_device(void* to, const void* from, std::size_t bytes);
void fill_device_bytes(void* device, int byte, std::size_t bytes);
}  // namespace detail

/// Waits for all device work this thread has issued (its stream): before another library
/// (LibTorch, on its own stream) reads what the kernels wrote, and before a volume left on the
/// device is handed to a stage on another thread (another stream).
void wait_for_device_work();

/// Gives the memory the pool holds but no array uses back to the device (before a retry after
/// an out-of-memory, so that LibTorch's allocator can have it). Nothing without a device.
void release_unused_device_memory() noexcept;

template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t count)
      : data_(static_cast<T*>(detail::device_allocate(std::max<std::size_t>(count, 1) * sizeof(T)))), size_(count) {}
  /// A device copy of `host`.
  explicit DeviceArray(std::span<const T> host) : DeviceArray(host.size()) { upload(host); }
  DeviceArray(DeviceArray&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }

  /// Copies `host` (at most size() values) to the start of the array.
  void upload(std::span<const T> host) {
    if (!host.empty()) detail::copy_to_device(data_, host.data(), host.size_bytes());
  }
  /// Copies the start of the array into `host` and waits for it.
  void download(std::span<T> host) const {
    if (!host.empty()) detail::copy_to_host(host.data(), data_, host.size_bytes());
  }
  /// Every byte zero.
  void zero() { detail::fill_device_bytes(data_, 0, bytes()); }

 private:
  void release() noexcept {
    if (data_) detail::device_free(data_);
    data_ = nullptr;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// A volume on the device: its geometry on the host, its voxels (i fastest) on the device.
template <typename T>
struct DeviceVolume {
  Geometry geometry;
  DeviceArray<T> voxels;

  DeviceVolume() = default;
  explicit DeviceVolume(const Geometry& g) : geometry(g), voxels(std::size_t(g.voxel_count())) {}
};

/// A second volume with the same voxels, copied on the device.
template <typename T>
DeviceVolume<T> copy_of(const DeviceVolume<T>& volume) {
  DeviceVolume<T> copy(volume.geometry);
  detail::copy_on_device(copy.voxels.data(), volume.voxels.data(), volume.voxels.bytes());
  return copy;
}

}  // namespace nc::kernels
