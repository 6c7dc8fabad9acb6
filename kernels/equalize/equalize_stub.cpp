// CPU-only builds: adaptive_equalize() calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/equalize/equalize.hpp"

namespace nc::kernels::detail {

void adaptive_equalize_cuda(const std::int16_t*, const float*, const float*, const Geometry&, const AheParams&, float,
                            float, float*) {
  require_cuda("adaptive equalization");
}

IntensityRange intensity_range_on_device(const float*, const std::uint8_t*, long long) {
  require_cuda("adaptive equalization");
  return {};
}

void adaptive_equalize_on_device(const float*, const std::uint8_t*, const float*, const Geometry&, const AheParams&,
                                 float, float, float*) {
  require_cuda("adaptive equalization");
}

}  // namespace nc::kernels::detail
