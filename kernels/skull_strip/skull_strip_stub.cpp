// CPU-only builds: skull_strip() calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {

BitMask window_cuda(const ImageVolume&, float, float) {
  require_cuda("skull strip");
  return {};
}
void erode_cuda(BitMask&, const Geometry&, double) { require_cuda("skull strip"); }
void dilate_cuda(BitMask&, const Geometry&, double) { require_cuda("skull strip"); }

}  // namespace nc::kernels::detail
