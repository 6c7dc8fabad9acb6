#include "kernels/skull_strip/skull_strip.hpp"

#include <gtest/gtest.h>

#include <limits>

#include <random>

#include "io/image_io.hpp"
#include "kernels/resample/resample.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

using test::cube;

double dice(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  std::int64_t both = 0, sa = 0, sb = 0;
  for (std::size_t n = 0; n < a.size(); ++n) {
    both += a[n] && b[n];
    sa += a[n] != 0;
    sb += b[n] != 0;
  }
  return 2.0 * double(both) / double(sa + sb);
}

TEST(SkullStrip, CtPhantomGivesTheBrainBall) {
  const ImageVolume ct = test::head_phantom(64, 20, 24, 28);
  const auto result = skull_strip(ct, StripMethod::CtWindow, {}, Backend::Cpu);
  std::vector<std::uint8_t> truth(ct.voxels.size());
  for (std::size_t n = 0; n < truth.size(); ++n) truth[n] = ct.voxels[n] == 30.0f;
  EXPECT_GT(dice(result.mask.voxels, truth), 0.99);
  EXPECT_NEAR(result.icv_ml, 4.0 / 3.0 * M_PI * 20 * 20 * 20 / 1000.0, 1.0);
  for (std::size_t n = 0; n < truth.size(); ++n)
    ASSERT_EQ(result.masked.voxels[n], result.mask.voxels[n] ? ct.voxels[n] : 0.0f);
}

TEST(SkullStrip, KeepsLargestComponentOnly) {
  ImageVolume ct(cube(48), -1000.0f);
  for (std::int64_t k = 5; k < 30; ++k)  // big block
    for (std::int64_t j = 5; j < 30; ++j)
      for (std::int64_t i = 5; i < 30; ++i) ct.at(i, j, k) = 30.0f;
  for (std::int64_t k = 36; k < 44; ++k)  // small block
    for (std::int64_t j = 36; j < 44; ++j)
      for (std::int64_t i = 36; i < 44; ++i) ct.at(i, j, k) = 30.0f;
  const auto result = skull_strip(ct, StripMethod::CtWindow, {.opening_radius_mm = 1.0, .closing_radius_mm = 1.0},
                                  Backend::Cpu);
  EXPECT_EQ(result.mask.at(40, 40, 40), 0);
  EXPECT_EQ(result.mask.at(17, 17, 17), 1);
}

TEST(SkullStrip, FillsEnclosedHoles) {
  ImageVolume ct = test::head_phantom(64, 20, 24, 28);
  for (std::int64_t k = 28; k < 36; ++k)  // a calcification inside the brain, outside the window
    for (std::int64_t j = 28; j < 36; ++j)
      for (std::int64_t i = 28; i < 36; ++i) ct.at(i, j, k) = 500.0f;
  const auto result = skull_strip(ct, StripMethod::CtWindow, {}, Backend::Cpu);
  EXPECT_EQ(result.mask.at(31, 31, 31), 1);
}

TEST(SkullStrip, NoBrainComponentIsAnError) {
  const ImageVolume air(cube(16), -1000.0f);
  EXPECT_THROW(skull_strip(air, StripMethod::CtWindow, {}, Backend::Cpu), Error);
}

TEST(SkullStrip, ConstantMrCannotBeThresholded) {
  const ImageVolume flat(cube(16), 100.0f);
  EXPECT_THROW(skull_strip(flat, StripMethod::MrOtsu, {}, Backend::Cpu), Error);
}

TEST(SkullStrip, NanOrInfiniteVoxelsAreAnErrorNamingTheirCount) {
  ImageVolume ct = test::head_phantom(32, 10, 11, 12);
  ct.at(3, 4, 5) = std::numeric_limits<float>::quiet_NaN();
  ct.at(6, 7, 8) = std::numeric_limits<float>::infinity();
  for (const auto method : {StripMethod::CtWindow, StripMethod::MrOtsu}) {
    try {
      skull_strip(ct, method, SkullStripParams::defaults_for(method), Backend::Cpu);
      ADD_FAILURE() << "no error for an image with NaN";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("2 NaN or infinite voxels"), std::string::npos) << e.what();
    }
  }
}

TEST(SkullStrip, OtsuSplitsTwoClasses) {
  ImageVolume v(cube(20), 10.0f);
  for (std::size_t n = 0; n < v.voxels.size() / 3; ++n) v.voxels[n] = 200.0f;
  const float t = otsu_threshold(v);
  EXPECT_GT(t, 10.0f);
  EXPECT_LE(t, 200.0f);
}

// Erosion and dilation through the distance transform equal brute-force ball morphology.
TEST(SkullStrip, MorphologyEqualsBruteForceBall) {
  Geometry g = cube(24);
  g.spacing_mm = {1.0, 1.0, 1.5};
  std::mt19937 rng(3);
  std::vector<std::uint8_t> mask(std::size_t(g.voxel_count()));
  for (auto& m : mask) m = rng() % 3 != 0;
  const double r = 2.2;
  const auto brute = [&](bool erode) {
    std::vector<std::uint8_t> out(mask.size());
    const int reach = 3;
    for (std::int64_t k = 0; k < 24; ++k)
      for (std::int64_t j = 0; j < 24; ++j)
        for (std::int64_t i = 0; i < 24; ++i) {
          bool hit = false;  // erosion: a background voxel within r; dilation: a foreground one
          for (int c = -reach; c <= reach; ++c)
            for (int b = -reach; b <= reach; ++b)
              for (int a = -reach; a <= reach; ++a) {
                const std::int64_t x = i + a, y = j + b, z = k + c;
                if (x < 0 || y < 0 || z < 0 || x >= 24 || y >= 24 || z >= 24) continue;
                if (a * a + b * b + 2.25 * c * c > r * r) continue;
                if (mask[std::size_t(g.linear_index(x, y, z))] == (erode ? 0 : 1)) hit = true;
              }
          const std::size_t v = std::size_t(g.linear_index(i, j, k));
          out[v] = erode ? (mask[v] && !hit) : hit;
        }
    return out;
  };
  auto eroded = detail::pack_mask(mask.data(), g), dilated = eroded;
  detail::erode_cpu(eroded, g, r);
  detail::dilate_cpu(dilated, g, r);
  EXPECT_EQ(eroded, detail::pack_mask(brute(true).data(), g));
  EXPECT_EQ(dilated, detail::pack_mask(brute(false).data(), g));
}

// On the synthetic cohort (ctest fixture synth_small): resample to 1 mm, strip, and compare
// with the true brain mask resampled onto the same grid.
double synthetic_dice(const std::string& scan, StripMethod method) {
  const std::filesystem::path dir = NC_SYNTH_FIXTURE_DIR;
  const ImageVolume image = io::read_image(dir / "images" / (scan + ".nii.gz"));
  const LabelVolume truth = io::read_label_image(dir / "masks" / (scan + ".nii.gz"));
  const float outside = method == StripMethod::CtWindow ? -1000.0f : 0.0f;
  const ImageVolume one_mm = resample(image, {.spacing_mm = 1.0, .outside_value = outside}, Backend::Cpu);
  const LabelVolume truth_1mm = resample_labels_onto(truth, one_mm.geometry, Backend::Cpu);
  const auto result = skull_strip(one_mm, method, SkullStripParams::defaults_for(method), Backend::Cpu);
  std::vector<std::uint8_t> t(truth_1mm.voxels.begin(), truth_1mm.voxels.end());
  return dice(result.mask.voxels, t);
}

TEST(SkullStripSynthetic, CtDiceAgainstTrueBrainMask) { EXPECT_GE(synthetic_dice("sub-0001", StripMethod::CtWindow), 0.97); }

TEST(SkullStripSynthetic, MrDiceAgainstTrueBrainMask) { EXPECT_GE(synthetic_dice("sub-0002", StripMethod::MrOtsu), 0.95); }

}  // namespace
}  // namespace nc::kernels
