#pragma once
// Synthetic volumes with known geometry and content, from fixed seeds.

#include <cmath>
#include <random>

#include "core/volume.hpp"

namespace nc::test {

/// Rotation by `degrees` about the physical z axis (an oblique, gantry-tilt-like direction).
inline Mat3 rotation_z(double degrees) {
  const double a = degrees * M_PI / 180.0, c = std::cos(a), s = std::sin(a);
  return {c, -s, 0, s, c, 0, 0, 0, 1};
}

/// An anisotropic, oblique grid whose voxel values encode their index (distinct everywhere).
inline ImageVolume indexed_volume(std::array<std::int64_t, 3> size = {7, 6, 5}) {
  Geometry g;
  g.size = size;
  g.spacing_mm = {0.45, 0.7, 1.25};
  g.origin_mm = {-12.5, 30.25, 7.0};
  g.direction = rotation_z(17.0);
  ImageVolume v(g);
  for (std::int64_t k = 0; k < size[2]; ++k)
    for (std::int64_t j = 0; j < size[1]; ++j)
      for (std::int64_t i = 0; i < size[0]; ++i) v.at(i, j, k) = float(i + 100 * j + 10000 * k);
  return v;
}

/// Uniform random labels in [0, num_labels), fixed seed.
inline LabelVolume random_labels(std::array<std::int64_t, 3> size, int num_labels, unsigned seed) {
  Geometry g;
  g.size = size;
  LabelVolume v(g);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, num_labels - 1);
  for (auto& x : v.voxels) x = static_cast<std::uint16_t>(dist(rng));
  return v;
}

/// An n³ grid of 1 mm voxels at the origin.
inline Geometry cube(std::int64_t n) {
  Geometry g;
  g.size = {n, n, n};
  return g;
}

/// A CT-like head phantom: a brain ball (30 HU) inside a bone shell (1000 HU) inside scalp
/// (40 HU), in air; radii in voxels.
inline ImageVolume head_phantom(std::int64_t n, double brain_r, double bone_r, double head_r) {
  ImageVolume v(cube(n), -1000.0f);
  const double c = double(n - 1) / 2;
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t i = 0; i < n; ++i) {
        const double r = std::sqrt((i - c) * (i - c) + (j - c) * (j - c) + (k - c) * (k - c));
        v.at(i, j, k) = r <= brain_r ? 30.0f : r <= bone_r ? 1000.0f : r <= head_r ? 40.0f : -1000.0f;
      }
  return v;
}

}  // namespace nc::test
