#include "kernels/resample/resample.hpp"

#include <cmath>
#include <limits>
#include <string>

namespace nc::kernels {
namespace {

GridDims dims_of(const Geometry& g) { return {g.size[0], g.size[1], g.size[2]}; }

void require_voxels(const Geometry& g, const char* what) {
  if (g.voxel_count() <= 0) throw Error(std::string("resample: the ") + what + " grid is empty");
}

}  // namespace

Geometry resampled_grid(const Geometry& input, double spacing_mm) {
  return resampled_grid(input, Vec3{spacing_mm, spacing_mm, spacing_mm});
}

Geometry resampled_grid(const Geometry& input, const Vec3& spacing_mm) {
  for (double s : spacing_mm)
    if (!(s > 0.0) || !std::isfinite(s)) throw Error("resample: spacing must be positive, not " + std::to_string(s) + " mm");
  require_voxels(input, "input");
  // Bounding box of the eight outer corners of the voxel footprints.
  Vec3 lo{}, hi{};
  lo.fill(std::numeric_limits<double>::infinity());
  hi.fill(-std::numeric_limits<double>::infinity());
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 index = {(corner & 1) ? double(input.size[0]) - 0.5 : -0.5,
                        (corner & 2) ? double(input.size[1]) - 0.5 : -0.5,
                        (corner & 4) ? double(input.size[2]) - 0.5 : -0.5};
    const Vec3 p = index_to_physical(input, index);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], p[a]);
      hi[a] = std::max(hi[a], p[a]);
    }
  }
  Geometry out;
  out.spacing_mm = spacing_mm;
  out.direction = kIdentity3;
  for (int a = 0; a < 3; ++a) {
    // Round away tiny floating-point excess so an exact multiple does not gain a voxel.
    const double step = spacing_mm[std::size_t(a)];
    out.size[a] = std::max<std::int64_t>(1, std::int64_t(std::ceil((hi[a] - lo[a]) / step - 1e-6)));
    // Centre the output grid on the input's extent.
    const double covered = double(out.size[a]) * step;
    out.origin_mm[a] = 0.5 * (lo[a] + hi[a]) - 0.5 * covered + 0.5 * step;
  }
  return out;
}

IndexMap index_map(const Geometry& input, const Geometry& output) {
  const Mat3 to_input = physical_to_index_matrix(input);
  IndexMap map{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      double v = 0;  // (to_input · direction_out · diag(spacing_out))[r][c]
      for (int q = 0; q < 3; ++q) v += to_input[r * 3 + q] * output.direction[q * 3 + c] * output.spacing_mm[c];
      map.m[r * 3 + c] = v;
    }
    double b = 0;
    for (int q = 0; q < 3; ++q) b += to_input[r * 3 + q] * (output.origin_mm[q] - input.origin_mm[q]);
    map.b[r] = b;
  }
  return map;
}

namespace {

// Validates, maps output to input indices once, and hands host buffers to a backend.
template <Interpolation kInterpolation, typename T>
Volume<T> resample_with(const Volume<T>& input, const Geometry& output, T outside, Backend backend) {
  require_voxels(input.geometry, "input");
  require_voxels(output, "output");
  Volume<T> out(output);
  const IndexMap map = index_map(input.geometry, output);
  if (backend == Backend::Cuda) require_cuda("resample");
  (backend == Backend::Cuda ? detail::resample_cuda<kInterpolation, T>
                            : detail::resample_cpu<kInterpolation, T>)(input.voxels.data(), dims_of(input.geometry),
                                                                       map, outside, out.voxels.data(),
                                                                       dims_of(output));
  return out;
}

template <Interpolation kInterpolation, typename T>
DeviceVolume<T> resample_on_device_with(const DeviceVolume<T>& input, const Geometry& output, T outside) {
  require_voxels(input.geometry, "input");
  require_voxels(output, "output");
  require_cuda("resample");
  DeviceVolume<T> out(output);
  detail::resample_on_device<kInterpolation, T>(input.voxels.data(), dims_of(input.geometry),
                                                index_map(input.geometry, output), outside, out.voxels.data(),
                                                dims_of(output));
  return out;
}

void require_probabilities(std::size_t values, int classes, const Geometry& grid, const Geometry& output) {
  require_voxels(grid, "probability grid");
  require_voxels(output, "output");
  if (classes < 1 || values != std::size_t(classes) * std::size_t(grid.voxel_count()))
    throw Error("probabilities_to_labels: " + std::to_string(values) + " values are not " + std::to_string(classes) +
                " classes of " + std::to_string(grid.voxel_count()) + " voxels");
}

}  // namespace

DeviceVolume<float> resample_onto(const DeviceVolume<float>& input, const Geometry& output, float outside_value) {
  return resample_on_device_with<Interpolation::Linear>(input, output, outside_value);
}

DeviceVolume<std::uint16_t> resample_labels_onto(const DeviceVolume<std::uint16_t>& input, const Geometry& output) {
  return resample_on_device_with<Interpolation::Nearest>(input, output, std::uint16_t{0});
}

DeviceVolume<std::uint16_t> probabilities_to_labels(const DeviceArray<float>& probabilities, int classes,
                                                    const Geometry& grid, const Geometry& output) {
  require_probabilities(probabilities.size(), classes, grid, output);
  require_cuda("probabilities_to_labels");
  DeviceVolume<std::uint16_t> out(output);
  detail::argmax_on_device(probabilities.data(), classes, dims_of(grid), index_map(grid, output), out.voxels.data(),
                           dims_of(output));
  return out;
}

DeviceVolume<float> crop_on_device(const DeviceVolume<float>& input, const std::array<std::int64_t, 3>& first,
                                   const Geometry& output, float fill) {
  require_voxels(input.geometry, "input");
  require_voxels(output, "output");
  require_cuda("crop");
  DeviceVolume<float> out(output);
  detail::crop_on_device(input.voxels.data(), dims_of(input.geometry), {first[0], first[1], first[2]}, fill,
                         out.voxels.data(), dims_of(output));
  return out;
}

ImageVolume resample_onto(const ImageVolume& input, const Geometry& output, float outside_value, Backend backend) {
  return resample_with<Interpolation::Linear>(input, output, outside_value, backend);
}

ImageVolume resample(const ImageVolume& input, const ResampleParams& params, Backend backend) {
  return resample_onto(input, resampled_grid(input.geometry, params.spacing_mm), params.outside_value, backend);
}

LabelVolume resample_labels_onto(const LabelVolume& input, const Geometry& output, Backend backend) {
  return resample_with<Interpolation::Nearest>(input, output, std::uint16_t{0}, backend);  // beyond the input: label 0
}

LabelVolume probabilities_to_labels(const std::vector<float>& probabilities, int classes, const Geometry& grid,
                                    const Geometry& output, Backend backend) {
  require_probabilities(probabilities.size(), classes, grid, output);
  LabelVolume out(output);
  const IndexMap map = index_map(grid, output);
  if (backend == Backend::Cuda) {
    require_cuda("probabilities_to_labels");
    detail::argmax_resample_cuda(probabilities.data(), classes, dims_of(grid), map, out.voxels.data(), dims_of(output));
  } else {
    detail::argmax_resample_cpu(probabilities.data(), classes, dims_of(grid), map, out.voxels.data(), dims_of(output));
  }
  return out;
}

}  // namespace nc::kernels
