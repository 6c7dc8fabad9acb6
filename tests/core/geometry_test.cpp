#include <gtest/gtest.h>

#include "core/geometry.hpp"
#include "tests/support/volumes.hpp"

namespace nc {
namespace {

TEST(Geometry, PhysicalToIndexInvertsIndexToPhysicalOnObliqueGrid) {
  const Geometry g = test::indexed_volume().geometry;
  const Mat3 to_index = physical_to_index_matrix(g);
  for (const Vec3 index : {Vec3{0, 0, 0}, Vec3{6, 5, 4}, Vec3{2.5, 1.25, 3.75}}) {
    const Vec3 back = physical_to_index(g, to_index, index_to_physical(g, index));
    for (int a = 0; a < 3; ++a) EXPECT_NEAR(back[a], index[a], 1e-12);
  }
}

TEST(Geometry, IndexStepMovesBySpacingAlongDirectionColumn) {
  const Geometry g = test::indexed_volume().geometry;
  const Vec3 p0 = index_to_physical(g, {0, 0, 0});
  const Vec3 p1 = index_to_physical(g, {0, 1, 0});
  for (int r = 0; r < 3; ++r) EXPECT_NEAR(p1[r] - p0[r], g.direction[r * 3 + 1] * g.spacing_mm[1], 1e-12);
}

TEST(Geometry, VoxelVolumeIsInMillilitres) {
  Geometry g;
  g.spacing_mm = {0.5, 0.5, 2.0};  // 0.5 mm³ = 0.0005 mL
  EXPECT_DOUBLE_EQ(g.voxel_volume_ml(), 0.0005);
}

}  // namespace
}  // namespace nc
