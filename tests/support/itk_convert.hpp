#pragma once
// Volume <-> itk::Image for the peer comparisons (tests and benchmarks only).

#include <itkImage.h>

#include "core/volume.hpp"
#include "tests/support/itk_write.hpp"

namespace nc::test {

template <typename T>
Volume<T> from_itk(const itk::Image<T, 3>& image) {
  Geometry g;
  for (unsigned a = 0; a < 3; ++a) {
    g.size[a] = std::int64_t(image.GetLargestPossibleRegion().GetSize()[a]);
    g.spacing_mm[a] = image.GetSpacing()[a];
    g.origin_mm[a] = image.GetOrigin()[a];
    for (unsigned c = 0; c < 3; ++c) g.direction[a * 3 + c] = image.GetDirection()(a, c);
  }
  Volume<T> v(g);
  std::copy(image.GetBufferPointer(), image.GetBufferPointer() + v.voxels.size(), v.voxels.begin());
  return v;
}

/// A smooth test image on `g`: a function of physical position, so resampling is meaningful.
inline ImageVolume smooth_volume(const Geometry& g) {
  ImageVolume v(g);
  for (std::int64_t k = 0; k < g.size[2]; ++k)
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i) {
        const Vec3 p = index_to_physical(g, {double(i), double(j), double(k)});
        v.at(i, j, k) = float(100.0 + 40.0 * std::sin(p[0] / 7.0) + 30.0 * std::cos(p[1] / 9.0) + p[2] / 2.0);
      }
  return v;
}

/// An oblique, anisotropic CT-like grid: 0.45 × 0.45 × 0.625 mm, tilted 17° and turned 9°.
inline Geometry oblique_ct_grid(std::array<std::int64_t, 3> size) {
  Geometry g;
  g.size = size;
  g.spacing_mm = {0.45, 0.45, 0.625};
  g.origin_mm = {-20.3, 11.7, -5.2};
  const double t = 17.0 * M_PI / 180.0, r = 9.0 * M_PI / 180.0;
  const Mat3 tilt = {1, 0, 0, 0, std::cos(t), -std::sin(t), 0, std::sin(t), std::cos(t)};
  const Mat3 turn = {std::cos(r), -std::sin(r), 0, std::sin(r), std::cos(r), 0, 0, 0, 1};
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      double v = 0;
      for (int c = 0; c < 3; ++c) v += turn[a * 3 + c] * tilt[c * 3 + b];
      g.direction[a * 3 + b] = v;
    }
  return g;
}

}  // namespace nc::test
