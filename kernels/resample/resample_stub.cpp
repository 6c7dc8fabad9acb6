// CPU-only builds: dispatch calls require_cuda() first, which throws; this keeps the link whole.
#include "kernels/resample/resample.hpp"

namespace nc::kernels::detail {

void resample_cuda(const float*, const GridDims&, const IndexMap&, float, float*, const GridDims&) {
  require_cuda("resample");
}

void resample_labels_cuda(const std::uint16_t*, const GridDims&, const IndexMap&, std::uint16_t*, const GridDims&) {
  require_cuda("resample");
}

void argmax_resample_cuda(const float*, int, const GridDims&, const IndexMap&, std::uint16_t*, const GridDims&) {
  require_cuda("probabilities_to_labels");
}

}  // namespace nc::kernels::detail
