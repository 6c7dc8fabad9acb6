#include "kernels/common/backend.hpp"

namespace nc::kernels {
namespace {
thread_local TransferBytes transferred;
}  // namespace

TransferBytes thread_transfer_bytes() noexcept { return transferred; }

namespace detail {
void count_host_to_device(std::uint64_t bytes) noexcept { transferred.host_to_device += bytes; }
void count_device_to_host(std::uint64_t bytes) noexcept { transferred.device_to_host += bytes; }
}  // namespace detail

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
