#pragma once
/// \file
/// Adaptive histogram equalization with the semantics of ITK's
/// AdaptiveHistogramEqualizationImageFilter (radius, alpha, beta; equalize_math.hpp has the
/// formula), optionally restricted to a mask: then only masked voxels are equalized and only
/// masked voxels enter the windows, so the skull does not shape the brain's contrast.

#include <cstdint>
#include <array>
#include <optional>

#include "core/volume.hpp"
#include "kernels/common/backend.hpp"

namespace nc::kernels {

struct AheParams {
  int radius = 5;       ///< box window of (2·radius + 1)³ voxels
  float alpha = 0.3f;   ///< ITK's default
  float beta = 0.3f;    ///< ITK's default
};

/// \throws Error on an empty image, a radius below 1 or over 64, alpha or beta outside
///         [0, 1], or a mask on another grid. A constant image (or masked region) is returned
///         unchanged: there is no contrast to equalize.
ImageVolume adaptive_equalize(const ImageVolume& image, const AheParams& params, Backend backend,
                              const Volume<std::uint8_t>* mask = nullptr);

/// CLAHE parameters with skimage.exposure.equalize_adapthist's meaning.
struct ClaheParams {
  std::array<std::int64_t, 3> kernel_size{0, 0, 0};  ///< tile size in voxels (i, j, k); 0: a eighth of the axis
  double clip_limit = 0.01;                           ///< normalised, 0 < c < 1; 0 or ≥ 1: no clipping (AHE)
  int nbins = 256;
};

/// 3-D contrast-limited adaptive histogram equalization with the semantics of
/// skimage.exposure.equalize_adapthist (0.19): the image is scaled to 16384 grey levels,
/// padded by reflection, cut into tiles whose clipped histograms give grey-level mappings, and
/// each voxel blends the mappings of its eight neighbouring tiles. The result lies in [0, 1].
/// The input is first scaled by its own minimum and maximum (skimage expects [0, 1] floats).
/// \throws Error on an empty image, a tile larger than its axis, or nbins outside [2, 16384].
ImageVolume clahe(const ImageVolume& image, const ClaheParams& params, Backend backend);

namespace detail {
/// The blending pass of CLAHE after the tile mappings are known (clahe.cpp).
void clahe_blend_cpu(const std::int32_t* maps, int nbins, const std::int64_t tiles[3], const std::int64_t kernel[3],
                     const std::int64_t pad_start[3], const std::int16_t* bins, const Geometry& g,
                     std::uint16_t* out);
void clahe_blend_cuda(const std::int32_t* maps, int nbins, const std::int64_t tiles[3], const std::int64_t kernel[3],
                      const std::int64_t pad_start[3], const std::int16_t* bins, const Geometry& g,
                      std::uint16_t* out);

/// Backends after validation: `levels` holds each voxel's histogram level (or -1 outside the
/// mask), `unit` its normalised intensity u + ½ ∈ [0, 1]; `table` the bracket per level
/// difference, indexed difference + kAheBins − 1.
void adaptive_equalize_cpu(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                           const AheParams& params, float minimum, float range, float* out);
void adaptive_equalize_cuda(const std::int16_t* levels, const float* unit, const float* table, const Geometry& g,
                            const AheParams& params, float minimum, float range, float* out);
}  // namespace detail

}  // namespace nc::kernels
