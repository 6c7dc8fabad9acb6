#include "io/image_io.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <fstream>

#include "core/error.hpp"
#include "tests/support/itk_write.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/volumes.hpp"

namespace nc::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// NIfTI stores the affine in float32, so geometry survives a round trip to about 1e-5 mm.
void expect_same_geometry(const Geometry& a, const Geometry& b, double tol = 1e-4) {
  EXPECT_EQ(a.size, b.size);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a.spacing_mm[i], b.spacing_mm[i], tol);
    EXPECT_NEAR(a.origin_mm[i], b.origin_mm[i], tol);
  }
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(a.direction[i], b.direction[i], tol);
}

// Nearest-voxel lookup of a physical point; exact for grids that differ by axis flips and swaps.
float value_at_physical(const ImageVolume& v, const Vec3& p) {
  const Vec3 idx = physical_to_index(v.geometry, physical_to_index_matrix(v.geometry), p);
  std::array<std::int64_t, 3> ijk{};
  for (int a = 0; a < 3; ++a) {
    ijk[a] = std::llround(idx[a]);
    EXPECT_NEAR(idx[a], double(ijk[a]), 1e-3) << "grids are not aligned";
    if (ijk[a] < 0 || ijk[a] >= v.geometry.size[a]) return NAN;
  }
  return v.at(ijk[0], ijk[1], ijk[2]);
}

// The same anatomy stored on another voxel grid (flipped or permuted axes).
ImageVolume restore_on(const ImageVolume& source, const Geometry& target) {
  ImageVolume out(target);
  for (std::int64_t k = 0; k < target.size[2]; ++k)
    for (std::int64_t j = 0; j < target.size[1]; ++j)
      for (std::int64_t i = 0; i < target.size[0]; ++i)
        out.at(i, j, k) = value_at_physical(source, index_to_physical(target, {double(i), double(j), double(k)}));
  return out;
}

TEST(ImageIo, NiftiRoundTripKeepsObliqueAnisotropicGeometryAndVoxels) {
  TempDir dir;
  const ImageVolume original = test::indexed_volume();
  for (const char* name : {"v.nii", "v.nii.gz"}) {
    write_nifti(original, dir / name);
    const ImageVolume back = read_image(dir / name);
    expect_same_geometry(original.geometry, back.geometry);
    EXPECT_EQ(original.voxels, back.voxels) << name;
  }
}

TEST(ImageIo, ReadsNrrdAndMetaImageWithTheirGeometry) {
  TempDir dir;
  const ImageVolume original = test::indexed_volume();
  for (const char* name : {"v.nrrd", "v.mha", "v.mhd"}) {
    test::write_itk_image<itk::Image<float, 3>>(test::to_itk(original), dir / name);
    const ImageVolume back = read_image(dir / name);
    expect_same_geometry(original.geometry, back.geometry, 1e-9);
    EXPECT_EQ(original.voxels, back.voxels) << name;
  }
}

TEST(ImageIo, ReadsDicomSeriesFolderWithSliceSpacingFromPositions) {
  TempDir dir;
  Volume<std::int16_t> ct(test::indexed_volume({8, 6, 5}).geometry);
  ct.geometry.direction = kIdentity3;  // axial acquisition
  ct.geometry.spacing_mm = {0.5, 0.5, 2.0};
  for (std::size_t n = 0; n < ct.voxels.size(); ++n) ct.voxels[n] = std::int16_t(int(n) - 100);
  test::write_dicom_series(ct, dir / "series");
  const ImageVolume back = read_image(dir / "series");
  expect_same_geometry(ct.geometry, back.geometry, 1e-3);
  for (std::size_t n = 0; n < ct.voxels.size(); ++n) ASSERT_EQ(back.voxels[n], float(ct.voxels[n])) << n;
}

TEST(ImageIo, SameAnatomyStoredLpsRasOrPermutedGivesSamePhysicalValues) {
  TempDir dir;
  ImageVolume lps = test::indexed_volume({6, 5, 4});
  lps.geometry.direction = kIdentity3;
  Geometry ras = lps.geometry;  // i runs right-to-left and j anterior-to-posterior flipped
  ras.direction = {-1, 0, 0, 0, -1, 0, 0, 0, 1};
  ras.origin_mm = index_to_physical(lps.geometry, {5, 4, 0});
  Geometry permuted = lps.geometry;  // axes swapped: stored i is physical y
  permuted.size = {5, 6, 4};
  permuted.spacing_mm = {lps.geometry.spacing_mm[1], lps.geometry.spacing_mm[0], lps.geometry.spacing_mm[2]};
  permuted.direction = {0, 1, 0, 1, 0, 0, 0, 0, 1};
  write_nifti(lps, dir / "lps.nii.gz");
  write_nifti(restore_on(lps, ras), dir / "ras.nii.gz");
  write_nifti(restore_on(lps, permuted), dir / "permuted.nii.gz");

  const ImageVolume a = read_image(dir / "lps.nii.gz");
  const ImageVolume b = read_image(dir / "ras.nii.gz");
  const ImageVolume c = read_image(dir / "permuted.nii.gz");
  EXPECT_NE(a.voxels, b.voxels);  // stored differently...
  for (std::int64_t k = 0; k < 4; ++k)
    for (std::int64_t j = 0; j < 5; ++j)
      for (std::int64_t i = 0; i < 6; ++i) {  // ...but the same at every physical point
        const Vec3 p = index_to_physical(a.geometry, {double(i), double(j), double(k)});
        ASSERT_EQ(value_at_physical(b, p), a.at(i, j, k));
        ASSERT_EQ(value_at_physical(c, p), a.at(i, j, k));
      }
}

TEST(ImageIo, LabelMapsRoundTripAsIntegers) {
  TempDir dir;
  LabelVolume labels = test::random_labels({9, 8, 7}, 300, 7);
  labels.geometry = test::indexed_volume().geometry;
  labels.geometry.size = {9, 8, 7};
  write_nifti(labels, dir / "labels.nii.gz");
  const LabelVolume back = read_label_image(dir / "labels.nii.gz");
  EXPECT_EQ(back.voxels, labels.voxels);
  expect_same_geometry(labels.geometry, back.geometry);
}

// --- bad input: one typed error naming the file and the reason ---

std::string reason_for(const fs::path& path, const ReadLimits& limits = {}) {
  try {
    read_image(path, limits);
  } catch (const ImageError& e) {
    EXPECT_EQ(e.path(), path.string());
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
    return e.reason();
  }
  ADD_FAILURE() << "no ImageError for " << path;
  return {};
}

TEST(ImageIoErrors, MissingFile) {
  TempDir dir;
  EXPECT_EQ(reason_for(dir / "absent.nii.gz"), "file not found");
}

TEST(ImageIoErrors, TruncatedGzip) {
  TempDir dir;
  write_nifti(test::indexed_volume({40, 40, 40}), dir / "full.nii.gz");
  const auto size = fs::file_size(dir / "full.nii.gz");
  fs::copy_file(dir / "full.nii.gz", dir / "cut.nii.gz");
  fs::resize_file(dir / "cut.nii.gz", size / 2);
  EXPECT_NE(reason_for(dir / "cut.nii.gz").find("truncated or corrupt voxel data"), std::string::npos);
  // and an uncompressed file cut short
  write_nifti(test::indexed_volume({40, 40, 40}), dir / "full.nii");
  fs::copy_file(dir / "full.nii", dir / "cut.nii");
  fs::resize_file(dir / "cut.nii", fs::file_size(dir / "full.nii") - 100);
  EXPECT_NE(reason_for(dir / "cut.nii").find("truncated or corrupt voxel data"), std::string::npos);
}

TEST(ImageIoErrors, TwoDimensionalImage) {
  TempDir dir;
  test::write_blank_image<2>({16, 16}, dir / "flat.nii");
  EXPECT_NE(reason_for(dir / "flat.nii").find("3-D volume is required"), std::string::npos);
}

TEST(ImageIoErrors, FourDimensionalImageWithSeveralVolumes) {
  TempDir dir;
  test::write_blank_image<4>({8, 8, 8, 3}, dir / "fmri.nii.gz");
  EXPECT_NE(reason_for(dir / "fmri.nii.gz").find("4-D with 3 volumes"), std::string::npos);
}

TEST(ImageIoErrors, FourDimensionalImageWithOneVolumeIsAccepted) {
  TempDir dir;
  test::write_blank_image<4>({8, 7, 6, 1}, dir / "one.nii.gz");
  const ImageVolume v = read_image(dir / "one.nii.gz");
  EXPECT_EQ(v.geometry.size, (std::array<std::int64_t, 3>{8, 7, 6}));
}

TEST(ImageIoErrors, SingleSlice) {
  TempDir dir;
  write_nifti(test::indexed_volume({8, 8, 1}), dir / "slice.nii");
  EXPECT_NE(reason_for(dir / "slice.nii").find("single slice"), std::string::npos);
}

// Rewrites dim[1..3] of an uncompressed NIfTI-1 header (int16 at byte 40 + 2*i).
void forge_dims(const fs::path& path, std::int16_t nx, std::int16_t ny, std::int16_t nz) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const std::int16_t dims[3] = {nx, ny, nz};
  f.seekp(42);
  f.write(reinterpret_cast<const char*>(dims), sizeof dims);
}

TEST(ImageIoErrors, AbsurdDimensionsAreRefusedBeforeAllocation) {
  TempDir dir;
  write_nifti(test::indexed_volume({4, 4, 4}), dir / "huge.nii");
  forge_dims(dir / "huge.nii", 30000, 30000, 30000);  // 2.7e13 voxels, 108 TB as float
  EXPECT_NE(reason_for(dir / "huge.nii").find("over the budget"), std::string::npos);
}

TEST(ImageIoErrors, VoxelBudgetIsConfigurable) {
  TempDir dir;
  write_nifti(test::indexed_volume({10, 10, 10}), dir / "v.nii");
  ReadLimits tight;
  tight.max_voxels = 999;
  EXPECT_NE(reason_for(dir / "v.nii", tight).find("over the budget of 999"), std::string::npos);
  EXPECT_NO_THROW(read_image(dir / "v.nii", ReadLimits{}));
}

TEST(ImageIoErrors, ZeroDimension) {
  TempDir dir;
  write_nifti(test::indexed_volume({4, 4, 4}), dir / "zero.nii");
  forge_dims(dir / "zero.nii", 4, 0, 4);
  EXPECT_FALSE(reason_for(dir / "zero.nii").empty());
}

TEST(ImageIoErrors, NanAndInfVoxels) {
  TempDir dir;
  ImageVolume v = test::indexed_volume();
  v.voxels[3] = NAN;
  v.voxels[10] = INFINITY;
  write_nifti(v, dir / "nan.nii.gz");
  EXPECT_NE(reason_for(dir / "nan.nii.gz").find("contains 2 NaN or infinite voxels (first at voxel 3)"), std::string::npos);
}

TEST(ImageIoErrors, GarbageHeader) {
  TempDir dir;
  std::ofstream(dir / "noise.nii") << std::string(400, 'x');
  EXPECT_FALSE(reason_for(dir / "noise.nii").empty());
}

TEST(ImageIoErrors, NonPositiveSpacing) {
  TempDir dir;
  // ITK refuses to create such an image, so the MetaImage header is written by hand.
  std::ofstream(dir / "flat.mhd") << "ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementSpacing = 1 1 0\n"
                                     "ElementType = MET_UCHAR\nElementDataFile = flat.raw\n";
  std::ofstream(dir / "flat.raw") << std::string(64, '\0');
  EXPECT_NE(reason_for(dir / "flat.mhd").find("pacing"), std::string::npos);
}

TEST(ImageIoErrors, NegativeOrFractionalLabelsAreRefused) {
  TempDir dir;
  ImageVolume v = test::indexed_volume();
  v.voxels[5] = -1.0f;
  write_nifti(v, dir / "neg.nii");
  EXPECT_THROW(read_label_image(dir / "neg.nii"), ImageError);
  v.voxels[5] = 2.5f;
  v.voxels[200] = 70000.0f;
  write_nifti(v, dir / "frac.nii");
  try {
    read_label_image(dir / "frac.nii");
    ADD_FAILURE() << "a fractional label was accepted";
  } catch (const ImageError& e) {
    // The first bad value in memory order is the one named, however the check was split.
    EXPECT_NE(std::string(e.what()).find("label value 2.5"), std::string::npos) << e.what();
  }
  v.voxels[5] = 1.0f;
  write_nifti(v, dir / "big.nii");
  EXPECT_THROW(read_label_image(dir / "big.nii"), ImageError);
}

// Integer label files are read straight to uint16, without the float copy: valid ones give the
// same map as the float path would, and a value outside [0, 65535] is named, the first in
// memory order.
TEST(ImageIo, IntegerLabelFilesReadDirectlyAndRefuseOutOfRangeValues) {
  TempDir dir;
  const ImageVolume values = test::indexed_volume();  // 0 .. 40504
  Volume<std::int32_t> as_int32(values.geometry);
  Volume<std::uint8_t> as_uint8(values.geometry);
  for (std::size_t n = 0; n < values.voxels.size(); ++n) {
    as_int32.voxels[n] = std::int32_t(values.voxels[n]);
    as_uint8.voxels[n] = std::uint8_t(n % 7);
  }
  test::write_itk_image<itk::Image<std::int32_t, 3>>(test::to_itk(as_int32), dir / "int32.nii.gz");
  test::write_itk_image<itk::Image<std::uint8_t, 3>>(test::to_itk(as_uint8), dir / "uint8.nii.gz");
  const LabelVolume wide = read_label_image(dir / "int32.nii.gz"), narrow = read_label_image(dir / "uint8.nii.gz");
  for (std::size_t n = 0; n < values.voxels.size(); ++n) {
    ASSERT_EQ(wide.voxels[n], std::uint16_t(values.voxels[n])) << n;
    ASSERT_EQ(narrow.voxels[n], std::uint16_t(n % 7)) << n;
  }
  expect_same_geometry(values.geometry, wide.geometry);
  as_int32.voxels[150] = 70000;
  as_int32.voxels[170] = -3;
  test::write_itk_image<itk::Image<std::int32_t, 3>>(test::to_itk(as_int32), dir / "bad.nii.gz");
  try {
    read_label_image(dir / "bad.nii.gz");
    ADD_FAILURE() << "an out-of-range label was accepted";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("label value 70000"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nc::io
