#pragma once
/// \file
/// Volume<T>: a host-resident 3-D image with its physical geometry. The one volume type that
/// io/ reads into and writes from, and that kernels/ view without owning.

#include <cstdint>
#include <span>
#include <vector>

#include "core/geometry.hpp"
#include "core/huge_pages.hpp"

namespace nc {

template <typename T>
struct Volume {
  Geometry geometry;
  std::vector<T> voxels;  ///< geometry.voxel_count() values, i fastest

  Volume() = default;
  explicit Volume(const Geometry& g, T fill = T{})
      : geometry(g), voxels(large_vector(static_cast<std::size_t>(g.voxel_count()), fill)) {}

  T& at(std::int64_t i, std::int64_t j, std::int64_t k) {
    return voxels[static_cast<std::size_t>(geometry.linear_index(i, j, k))];
  }
  const T& at(std::int64_t i, std::int64_t j, std::int64_t k) const {
    return voxels[static_cast<std::size_t>(geometry.linear_index(i, j, k))];
  }
  std::span<T> span() { return voxels; }
  std::span<const T> span() const { return voxels; }
};

using ImageVolume = Volume<float>;
using LabelVolume = Volume<std::uint16_t>;

}  // namespace nc
