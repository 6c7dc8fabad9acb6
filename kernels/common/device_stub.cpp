// CPU-only builds: the CUDA entry points exist, report no device, and refuse with one clear line.
#include "kernels/common/backend.hpp"
#include "kernels/common/device_array.hpp"
#include "kernels/common/upload.hpp"

namespace nc::kernels {

bool cuda_device_available() noexcept { return false; }

int cuda_device_count() noexcept { return 0; }

std::string cuda_unavailable_reason() {
  return "neurocohort was built without CUDA (configure with -DNEUROCOHORT_CUDA=ON)";
}

void require_cuda(const std::string& what) { throw CudaError(what + ": " + cuda_unavailable_reason(), Cause::Input); }

int bind_cuda_device(int) { return -1; }

int bound_cuda_device() noexcept { return -1; }

int current_cuda_device() noexcept { return -1; }

void wait_for_device_work() {}

void release_unused_device_memory() noexcept {}

DeviceVolume<float> upload_image(const ImageVolume&) {
  require_cuda("device memory");
  return {};
}

namespace detail {

void use_bound_device() {}

// No device memory can be allocated, so nothing can be copied to, from or within it.
void* device_allocate(std::size_t) {
  require_cuda("device memory");
  return nullptr;
}
void device_free(void*) noexcept {}
void copy_to_device(void*, const void*, std::size_t) { require_cuda("device memory"); }
void copy_to_host(void*, const void*, std::size_t) { require_cuda("device memory"); }
void copy_on_device(void*, const void*, std::size_t) { require_cuda("device memory"); }
void fill_device_bytes(void*, int, std::size_t) { require_cuda("device memory"); }

}  // namespace detail

}  // namespace nc::kernels
