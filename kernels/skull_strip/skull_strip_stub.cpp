// CPU-only builds: skull_strip() calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {

std::unique_ptr<MaskChain> window_chain_cuda(const ImageVolume&, float, float, bool) {
  require_cuda("skull strip");
  return nullptr;
}

std::unique_ptr<MaskChain> window_chain_on_device(const DeviceVolume<float>&, float, float, bool) {
  require_cuda("skull strip");
  return nullptr;
}

DeviceVolume<float> mask_image_on_device(const BitMask&, const DeviceVolume<float>&, float) {
  require_cuda("skull strip");
  return {};
}

}  // namespace nc::kernels::detail
