// CPU-only builds: skull_strip() calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/skull_strip/skull_strip.hpp"

namespace nc::kernels::detail {

void window_cuda(const float*, std::int64_t, float, float, std::uint8_t*) { require_cuda("skull strip"); }
void erode_cuda(std::uint8_t*, const Geometry&, double) { require_cuda("skull strip"); }
void dilate_cuda(std::uint8_t*, const Geometry&, double) { require_cuda("skull strip"); }

}  // namespace nc::kernels::detail
