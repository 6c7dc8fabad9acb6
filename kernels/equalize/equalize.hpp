#pragma once
/// \file
/// Adaptive histogram equalization with the semantics of ITK's
/// AdaptiveHistogramEqualizationImageFilter (radius, alpha, beta; equalize_math.hpp has the
/// formula), optionally restricted to a mask: then only masked voxels are equalized and only
/// masked voxels enter the windows, so the skull does not shape the brain's contrast.

#include <cstdint>
#include <optional>

#include "core/volume.hpp"
#include "kernels/common/backend.hpp"
#include "kernels/common/device_array.hpp"

namespace nc::kernels {

struct AheParams {
  int radius = 5;       ///< box window of (2·radius + 1)³ voxels
  float alpha = 0.3f;   ///< ITK's default
  float beta = 0.3f;    ///< ITK's default
};

/// The largest radius the CUDA kernel takes. It sums each voxel's window directly, (2r + 1)³
/// terms (4,913 at radius 8, 274,625 at the largest radius, 64), while the CPU slides a
/// histogram; beyond this radius Backend::Cuda runs the CPU's sliding histogram instead, so
/// that a large radius costs seconds rather than minutes per volume.
inline constexpr int kCudaAheMaxRadius = 8;

/// \throws Error on an empty image, a radius below 1 or over 64, alpha or beta outside
///         [0, 1], or a mask on another grid. A constant image (or masked region) is returned
///         unchanged: there is no contrast to equalize.
ImageVolume adaptive_equalize(const ImageVolume& image, const AheParams& params, Backend backend,
                              const Volume<std::uint8_t>* mask = nullptr);

/// The same on the device (the CUDA path of a scan): image, mask and result in device memory.
/// A radius above kCudaAheMaxRadius runs the CPU's sliding histogram on a host copy.
/// \throws as above; CudaError without a device.
DeviceVolume<float> adaptive_equalize(const DeviceVolume<float>& image, const AheParams& params,
                                      const DeviceArray<std::uint8_t>* mask = nullptr);

namespace detail {
/// The smallest and largest intensity inside the mask, and the NaN or infinite voxels anywhere.
struct IntensityRange {
  float lo, hi;
  long long non_finite;
};
IntensityRange intensity_range_on_device(const float* image, const std::uint8_t* mask, long long n);
/// The level quantisation and the window sums on device memory (mask may be null).
void adaptive_equalize_on_device(const float* image, const std::uint8_t* mask, const float* table, const Geometry& g,
                                 const AheParams& params, float minimum, float range, float* out);
/// Backends after validation: `levels` holds each voxel's histogram level (or -1 outside the
/// mask), `unit` its normalised intensity u + ½ ∈ [0, 1]; `table` the bracket per level
/// difference, indexed difference + kAheBins − 1.
void adaptive_equalize_cpu(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                           const AheParams& params, float minimum, float range, float* out);
void adaptive_equalize_cuda(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                            const AheParams& params, float minimum, float range, float* out);
}  // namespace detail

}  // namespace nc::kernels
