// CPU-only builds: dispatch calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/resample/resample.hpp"

namespace nc::kernels::detail {

template <Interpolation kInterpolation, typename T>
void resample_cuda(const T*, const GridDims&, const IndexMap&, T, T*, const GridDims&) {
  require_cuda("resample");
}

template void resample_cuda<Interpolation::Linear>(const float*, const GridDims&, const IndexMap&, float, float*,
                                                   const GridDims&);
template void resample_cuda<Interpolation::Nearest>(const std::uint16_t*, const GridDims&, const IndexMap&,
                                                    std::uint16_t, std::uint16_t*, const GridDims&);

void argmax_resample_cuda(const float*, int, const GridDims&, const IndexMap&, std::uint16_t*, const GridDims&) {
  require_cuda("probabilities_to_labels");
}

template <Interpolation kInterpolation, typename T>
void resample_on_device(const T*, const GridDims&, const IndexMap&, T, T*, const GridDims&) {
  require_cuda("resample");
}

template void resample_on_device<Interpolation::Linear>(const float*, const GridDims&, const IndexMap&, float, float*,
                                                        const GridDims&);
template void resample_on_device<Interpolation::Nearest>(const std::uint16_t*, const GridDims&, const IndexMap&,
                                                         std::uint16_t, std::uint16_t*, const GridDims&);

void argmax_on_device(const float*, int, const GridDims&, const IndexMap&, std::uint16_t*, const GridDims&) {
  require_cuda("probabilities_to_labels");
}

void crop_on_device(const float*, const GridDims&, const GridDims&, float, float*, const GridDims&) {
  require_cuda("crop");
}

}  // namespace nc::kernels::detail
