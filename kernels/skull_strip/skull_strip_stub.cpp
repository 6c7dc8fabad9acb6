// CPU-only builds: skull_strip() calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {

std::unique_ptr<MaskChain> window_chain_cuda(const ImageVolume&, float, float, bool) {
  require_cuda("skull strip");
  return nullptr;
}

}  // namespace nc::kernels::detail
