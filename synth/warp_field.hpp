#pragma once
/// \file
/// A subject-to-atlas map evaluated on a coarse lattice over the subject grid and
/// interpolated trilinearly in between: the deformation is smooth on a scale of centimetres,
/// so evaluating it at every one of a CT's 65 million voxels would be wasted work.

#include <vector>

#include "core/geometry.hpp"
#include "kernels/resample/resample_math.hpp"
#include "synth/anatomy.hpp"

namespace nc::synth {

class WarpField {
 public:
  WarpField(const Geometry& subject, const Geometry& atlas, const BackwardMap& map, double node_spacing_mm = 4.0);

  /// The continuous atlas voxel indices that the subject voxels (0..n-1, j, k) sample,
  /// trilinear between lattice nodes: interpolated in j and k once per lattice column, then
  /// linearly along i, which is what makes rendering a 65-million-voxel CT cheap.
  void atlas_row(std::int64_t j, std::int64_t k, std::vector<Vec3>& row) const;

 private:
  std::array<std::int64_t, 3> step_{};
  kernels::GridDims nodes_;
  std::vector<float> x_, y_, z_;
};

}  // namespace nc::synth
