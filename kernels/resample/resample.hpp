#pragma once
/// \file
/// Resampling onto an isotropic grid (1 mm by default) in physical space: trilinear for
/// images, nearest neighbour for label maps, from any spacing and direction cosines.
///
/// The default output grid is axis-aligned (identity direction, LPS) and covers the bounding
/// box of the input's voxel footprints, so oblique (gantry-tilted) scans come out straight.
/// Border handling (resample_math.hpp): an output voxel whose centre falls within the input's
/// voxel footprints is interpolated, with neighbours clamped to the grid (values extend flat
/// over the outer half voxel, as ITK's LinearInterpolateImageFunction does); beyond them it
/// takes the outside value.

#include <vector>

#include "core/volume.hpp"
#include "kernels/common/backend.hpp"
#include "kernels/common/device_array.hpp"
#include "kernels/resample/resample_math.hpp"

namespace nc::kernels {

struct ResampleParams {
  double spacing_mm = 1.0;      ///< isotropic output spacing
  float outside_value = 0.0f;   ///< value beyond the input (e.g. -1000 HU for CT air)
};

/// The axis-aligned grid of `spacing_mm` covering the input's physical extent.
/// \throws Error on a non-positive spacing or an empty input.
Geometry resampled_grid(const Geometry& input, double spacing_mm);
/// The same with a spacing per axis (a model's input grid may be anisotropic).
Geometry resampled_grid(const Geometry& input, const Vec3& spacing_mm);

/// Trilinear resampling onto resampled_grid(input, params.spacing_mm).
ImageVolume resample(const ImageVolume& input, const ResampleParams& params, Backend backend);
/// Trilinear resampling onto any grid.
ImageVolume resample_onto(const ImageVolume& input, const Geometry& output, float outside_value, Backend backend);
/// Nearest-neighbour resampling of a label map onto any grid (outside: label 0), e.g. back to
/// a scan's native grid.
LabelVolume resample_labels_onto(const LabelVolume& input, const Geometry& output, Backend backend);

/// Per-class probability volumes on `grid` (class-major: classes × grid voxels, e.g. a network's
/// softmax on its coarser input grid) to a label map on `output`: trilinear interpolation of
/// every class, then the argmax (argmax_trilinear). \throws Error when the sizes disagree.
LabelVolume probabilities_to_labels(const std::vector<float>& probabilities, int classes, const Geometry& grid,
                                    const Geometry& output, Backend backend);

// The same on the device (the CUDA path of a scan, which keeps it there from its upload to its
// label map): the inputs and the results stay in device memory.
DeviceVolume<float> resample_onto(const DeviceVolume<float>& input, const Geometry& output, float outside_value);
DeviceVolume<std::uint16_t> resample_labels_onto(const DeviceVolume<std::uint16_t>& input, const Geometry& output);
DeviceVolume<std::uint16_t> probabilities_to_labels(const DeviceArray<float>& probabilities, int classes,
                                                    const Geometry& grid, const Geometry& output);
/// The sub-grid `output` of `input` (same spacing and axes) whose first voxel is input voxel
/// `first` (which may lie outside it), `fill` where it leaves the input: a crop, on the device.
DeviceVolume<float> crop_on_device(const DeviceVolume<float>& input, const std::array<std::int64_t, 3>& first,
                                   const Geometry& output, float fill);

/// The map from output voxel indices to input voxel indices.
IndexMap index_map(const Geometry& input, const Geometry& output);

namespace detail {
// Backends, after validation; pointers are host memory (the CUDA ones copy in and out), but
// device memory for the *_on_device ones. resample_* exist for <Linear, float> (images) and
// <Nearest, std::uint16_t> (label maps).
template <Interpolation kInterpolation, typename T>
void resample_cpu(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output, const GridDims& out);
template <Interpolation kInterpolation, typename T>
void resample_cuda(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output, const GridDims& out);
void argmax_resample_cpu(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                         std::uint16_t* output, const GridDims& out);
void argmax_resample_cuda(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                          std::uint16_t* output, const GridDims& out);
template <Interpolation kInterpolation, typename T>
void resample_on_device(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output,
                        const GridDims& out);
void argmax_on_device(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                      std::uint16_t* output, const GridDims& out);
void crop_on_device(const float* input, const GridDims& in, const GridDims& first, float fill, float* output,
                    const GridDims& out);
}  // namespace detail

}  // namespace nc::kernels
