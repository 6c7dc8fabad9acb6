// CPU-only builds: adaptive_equalize() calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/equalize/equalize.hpp"

namespace nc::kernels::detail {

void adaptive_equalize_cuda(const std::int16_t*, const float*, const float*, const Geometry&, const AheParams&, float,
                            float, float*) {
  require_cuda("adaptive equalization");
}

}  // namespace nc::kernels::detail

namespace nc::kernels::detail {

void clahe_blend_cuda(const std::int32_t*, int, const std::int64_t[3], const std::int64_t[3], const std::int64_t[3],
                      const std::int16_t*, const Geometry&, std::uint16_t*) {
  require_cuda("CLAHE");
}

}  // namespace nc::kernels::detail
