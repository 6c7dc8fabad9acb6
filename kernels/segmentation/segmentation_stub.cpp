// CPU-only builds: no DeviceVolume can be made (allocating one throws), so these are reached
// only by mistake; each refuses with the one "built without CUDA" line.
#include "kernels/segmentation/segmentation.hpp"

namespace nc::kernels {

void zscore_in_mask(DeviceVolume<float>&, const DeviceArray<std::uint8_t>&) { require_cuda("z-score normalisation"); }
void extract_window(const DeviceVolume<float>&, const Size3&, const Size3&, float*) { require_cuda("sliding window"); }
void blend_window_softmax(const float*, int, const DeviceArray<float>&, const Size3&, const Size3&, const Size3&,
                          DeviceArray<float>&, DeviceArray<float>&) {
  require_cuda("sliding window");
}
void divide_by_weights(DeviceArray<float>&, const DeviceArray<float>&, int) { require_cuda("sliding window"); }
DeviceConfidence confidence_in_mask(const DeviceArray<float>&, int, const DeviceArray<std::uint16_t>&, double) {
  require_cuda("confidence");
  return {};
}
void mask_and_map_labels(DeviceVolume<std::uint16_t>&, const DeviceArray<std::uint8_t>&,
                         const DeviceArray<std::uint16_t>&) {
  require_cuda("label mapping");
}

}  // namespace nc::kernels
