#include "kernels/common/cuda_check.cuh"

namespace nc::kernels {

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
  return device;
}

}  // namespace nc::kernels
