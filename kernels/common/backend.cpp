#include "kernels/common/backend.hpp"

#include <utility>

namespace nc::kernels {
namespace {
thread_local TransferBytes* current_sink = nullptr;
}  // namespace

CountTransfersInto::CountTransfersInto(TransferBytes& sink) noexcept : outer_(std::exchange(current_sink, &sink)) {}

CountTransfersInto::~CountTransfersInto() { current_sink = outer_; }

namespace detail {
void count_host_to_device(std::uint64_t bytes) noexcept {
  if (current_sink) current_sink->host_to_device += bytes;
}
void count_device_to_host(std::uint64_t bytes) noexcept {
  if (current_sink) current_sink->device_to_host += bytes;
}
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
