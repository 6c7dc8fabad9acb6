#include "kernels/common/backend.hpp"

namespace nc::kernels {

Backend choose_backend(const std::string& device) {
  if (device == "cpu") return Backend::Cpu;
  if (device == "auto") return cuda_device_available() ? Backend::Cuda : Backend::Cpu;
  if (device == "cuda") {
    require_cuda("--device cuda");
    return Backend::Cuda;
  }
  throw UsageError("unknown device '" + device + "' (expected auto, cpu or cuda)");
}

}  // namespace nc::kernels
