// CPU-only builds: the CUDA entry points exist, report no device, and refuse with one clear line.
#include "kernels/common/backend.hpp"

namespace nc::kernels {

bool cuda_device_available() noexcept { return false; }

void require_cuda(const std::string& what) {
  throw CudaError(what + ": neurocohort was built without CUDA (configure with -DNEUROCOHORT_CUDA=ON)", Cause::Input);
}

int bind_cuda_device(int) { return -1; }

int bound_cuda_device() noexcept { return -1; }

int current_cuda_device() noexcept { return -1; }

void detail::use_bound_device() {}

}  // namespace nc::kernels
