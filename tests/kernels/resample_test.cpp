#include "kernels/resample/resample.hpp"

#include <gtest/gtest.h>
#include <itkIdentityTransform.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>
#include <algorithm>
#include <cmath>

#include "kernels/resample/resample_math.hpp"
#include "tests/support/itk_convert.hpp"

namespace nc::kernels {
namespace {

// ITK's ResampleImageFilter onto `out` with the given interpolator: the peer.
template <typename T, typename Interpolator>
Volume<T> itk_resample(const Volume<T>& input, const Geometry& out, T outside) {
  using Image = itk::Image<T, 3>;
  auto filter = itk::ResampleImageFilter<Image, Image>::New();
  filter->SetInput(test::to_itk(input));
  filter->SetTransform(itk::IdentityTransform<double, 3>::New());
  filter->SetInterpolator(Interpolator::New());
  filter->SetDefaultPixelValue(outside);
  const auto reference = test::to_itk(Volume<T>(out));
  filter->SetReferenceImage(reference);
  filter->UseReferenceImageOn();
  filter->Update();
  return test::from_itk<T>(*filter->GetOutput());
}

TEST(Resample, GridIsAxisAlignedAndCoversTheInputExtent) {
  const Geometry in = test::oblique_ct_grid({60, 50, 40});
  const Geometry out = resampled_grid(in, 1.0);
  EXPECT_EQ(out.direction, kIdentity3);
  EXPECT_EQ(out.spacing_mm, (Vec3{1, 1, 1}));
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 idx = {(corner & 1) ? 59.5 : -0.5, (corner & 2) ? 49.5 : -0.5, (corner & 4) ? 39.5 : -0.5};
    const Vec3 p = index_to_physical(in, idx);
    for (int a = 0; a < 3; ++a) {
      EXPECT_GE(p[a], out.origin_mm[a] - 0.5 - 1e-9);
      EXPECT_LE(p[a], out.origin_mm[a] + double(out.size[a]) - 0.5 + 1e-9);
    }
  }
}

TEST(Resample, SameGridIsAnIdentity) {
  const ImageVolume in = test::smooth_volume(test::oblique_ct_grid({30, 25, 20}));
  const ImageVolume out = resample_onto(in, in.geometry, -1000.0f, Backend::Cpu);
  for (std::size_t n = 0; n < in.voxels.size(); ++n) ASSERT_NEAR(out.voxels[n], in.voxels[n], 1e-4f) << n;
}

TEST(Resample, MatchesItkLinearOnObliqueAnisotropicInput) {
  const ImageVolume in = test::smooth_volume(test::oblique_ct_grid({90, 80, 60}));
  const Geometry grid = resampled_grid(in.geometry, 1.0);
  const ImageVolume ours = resample_onto(in, grid, -1000.0f, Backend::Cpu);
  const ImageVolume peer =
      itk_resample<float, itk::LinearInterpolateImageFunction<itk::Image<float, 3>, double>>(in, grid, -1000.0f);
  std::size_t inside = 0;
  for (std::size_t n = 0; n < ours.voxels.size(); ++n) {
    ASSERT_NEAR(ours.voxels[n], peer.voxels[n], 1e-4 * std::max(1.0f, std::abs(peer.voxels[n]))) << "voxel " << n;
    inside += peer.voxels[n] != -1000.0f;
  }
  EXPECT_GT(inside, ours.voxels.size() / 4);  // the comparison covers real interpolation, not just background
}

TEST(Resample, LabelsMatchItkNearestNeighbour) {
  LabelVolume in(test::oblique_ct_grid({70, 60, 50}));
  for (std::int64_t k = 0; k < 50; ++k)
    for (std::int64_t j = 0; j < 60; ++j)
      for (std::int64_t i = 0; i < 70; ++i) in.at(i, j, k) = std::uint16_t((i / 7 + j / 11 + k / 5) % 12);
  const Geometry grid = resampled_grid(in.geometry, 1.0);
  const LabelVolume ours = resample_labels_onto(in, grid, Backend::Cpu);
  const LabelVolume peer =
      itk_resample<std::uint16_t, itk::NearestNeighborInterpolateImageFunction<itk::Image<std::uint16_t, 3>, double>>(
          in, grid, 0);
  std::size_t differ = 0;
  for (std::size_t n = 0; n < ours.voxels.size(); ++n) differ += ours.voxels[n] != peer.voxels[n];
  // Only exact ties (a sample half way between two voxel centres) may round differently.
  EXPECT_LE(differ, ours.voxels.size() / 10000) << differ << " of " << ours.voxels.size();
}

// The way a 1 mm label map goes back to an axis-aligned native CT grid: the index map has no
// rotation, so the CPU takes its separable path (index tables per axis). It must give what
// the per-voxel definition gives, voxel for voxel, half-voxel ties and the outer border
// included, and agree with ITK as the oblique case does.
TEST(Resample, AxisAlignedLabelsEqualThePerVoxelDefinition) {
  Geometry native;
  native.size = {230, 190, 70};
  native.spacing_mm = {0.45, 0.45, 0.625};
  native.origin_mm = {-51.3, -42.0, -20.1};
  LabelVolume coarse(resampled_grid(native, 1.0));
  const auto& cs = coarse.geometry.size;
  for (std::int64_t k = 0; k < cs[2]; ++k)
    for (std::int64_t j = 0; j < cs[1]; ++j)
      for (std::int64_t i = 0; i < cs[0]; ++i) coarse.at(i, j, k) = std::uint16_t((i / 3 + j / 5 + k / 2) % 11);
  Geometry wider = native;  // reaches beyond the coarse map: the outside value there
  wider.origin_mm = {-55.0, -45.5, -24.0};
  for (const Geometry& target : {native, wider}) {
    const LabelVolume ours = resample_labels_onto(coarse, target, Backend::Cpu);
    const IndexMap map = index_map(coarse.geometry, target);
    const GridDims in{cs[0], cs[1], cs[2]};
    std::size_t differ = 0, outside = 0;
    for (std::int64_t k = 0; k < target.size[2]; ++k)
      for (std::int64_t j = 0; j < target.size[1]; ++j)
        for (std::int64_t i = 0; i < target.size[0]; ++i) {
          double x, y, z;
          map_index(map, double(i), double(j), double(k), x, y, z);
          const std::uint16_t expected = sample_nearest(coarse.voxels.data(), in, x, y, z, std::uint16_t{0});
          differ += ours.at(i, j, k) != expected;
          outside += !index_inside(in, x, y, z);
        }
    EXPECT_EQ(differ, 0u);
    if (&target == &wider) {
      EXPECT_GT(outside, 0u);
    }
    const LabelVolume peer =
        itk_resample<std::uint16_t, itk::NearestNeighborInterpolateImageFunction<itk::Image<std::uint16_t, 3>, double>>(
            coarse, target, 0);
    std::size_t from_itk = 0;
    for (std::size_t n = 0; n < ours.voxels.size(); ++n) from_itk += ours.voxels[n] != peer.voxels[n];
    EXPECT_LE(from_itk, ours.voxels.size() / 100) << from_itk << " of " << ours.voxels.size();
  }
}

TEST(Resample, ConstantVolumeStaysConstantInsideAndOutsideValueBeyond) {
  ImageVolume in(test::oblique_ct_grid({20, 20, 20}), 7.0f);
  const ImageVolume out = resample(in, {.spacing_mm = 1.0, .outside_value = -1000.0f}, Backend::Cpu);
  std::size_t inside = 0, outside = 0;
  for (const float v : out.voxels) {
    EXPECT_TRUE(v == 7.0f || v == -1000.0f) << v;
    (v == 7.0f ? inside : outside)++;
  }
  EXPECT_GT(inside, 0u);
  EXPECT_GT(outside, 0u);  // the axis-aligned box of an oblique grid has empty corners
}

// Class probabilities on a coarse grid, smooth enough that interpolation matters.
std::vector<float> smooth_probabilities(const Geometry& g, int classes) {
  std::vector<float> p(std::size_t(classes * g.voxel_count()));
  for (std::int64_t v = 0; v < g.voxel_count(); ++v) {
    const double i = double(v % g.size[0]), j = double((v / g.size[0]) % g.size[1]), k = double(v / (g.size[0] * g.size[1]));
    double sum = 0;
    std::vector<double> e(static_cast<std::size_t>(classes));
    for (int c = 0; c < classes; ++c) sum += e[std::size_t(c)] = std::exp(std::sin(0.3 * i * (c + 1) + 0.2 * j - 0.1 * k * c));
    for (int c = 0; c < classes; ++c) p[std::size_t(c * g.voxel_count() + v)] = float(e[std::size_t(c)] / sum);
  }
  return p;
}

TEST(Resample, ProbabilitiesToLabelsIsTheArgmaxOfEachInterpolatedClass) {
  // The peer: every class resampled on its own by ITK's linear interpolation, then the argmax.
  Geometry coarse;
  coarse.size = {12, 10, 8};
  coarse.spacing_mm = {2, 2, 2};
  const Geometry fine = resampled_grid(coarse, 1.0);
  const int classes = 4;
  const auto p = smooth_probabilities(coarse, classes);
  const LabelVolume labels = probabilities_to_labels(p, classes, coarse, fine, Backend::Cpu);
  std::vector<ImageVolume> per_class;
  for (int c = 0; c < classes; ++c) {
    ImageVolume v(coarse);
    std::copy_n(p.begin() + c * coarse.voxel_count(), coarse.voxel_count(), v.voxels.begin());
    per_class.push_back(itk_resample<float, itk::LinearInterpolateImageFunction<itk::Image<float, 3>>>(v, fine, 0.0f));
  }
  std::size_t checked = 0;
  for (std::size_t n = 0; n < labels.voxels.size(); ++n) {
    std::vector<float> values;
    for (const auto& v : per_class) values.push_back(v.voxels[n]);
    auto sorted = values;
    std::sort(sorted.rbegin(), sorted.rend());
    if (sorted[0] - sorted[1] < 1e-5f) continue;  // a near tie: either answer is right
    ++checked;
    ASSERT_EQ(labels.voxels[n], std::max_element(values.begin(), values.end()) - values.begin()) << n;
  }
  EXPECT_GT(checked, labels.voxels.size() * 9 / 10);
  EXPECT_THROW(probabilities_to_labels(std::vector<float>(5), classes, coarse, fine, Backend::Cpu), Error);
}

// The argmax from the network's 2 mm grid to the 1 mm grid, whose axes are the same: the CPU
// takes its axis-table path, which must give what argmax_trilinear gives voxel by voxel,
// including a target that reaches beyond the coarse grid (class 0 there).
TEST(Resample, AxisAlignedArgmaxEqualsThePerVoxelDefinition) {
  Geometry coarse;
  coarse.size = {23, 19, 17};
  coarse.spacing_mm = {2, 2, 2};
  coarse.origin_mm = {-3.0, 5.0, 1.0};
  const int classes = 5;
  const auto p = smooth_probabilities(coarse, classes);
  Geometry wider = resampled_grid(coarse, 1.0);
  wider.origin_mm[0] -= 3.2;
  wider.size[2] += 4;
  for (const Geometry& fine : {resampled_grid(coarse, 1.0), wider}) {
    const LabelVolume labels = probabilities_to_labels(p, classes, coarse, fine, Backend::Cpu);
    const IndexMap map = index_map(coarse, fine);
    const GridDims in{coarse.size[0], coarse.size[1], coarse.size[2]};
    std::size_t differ = 0, beyond = 0;
    for (std::int64_t k = 0; k < fine.size[2]; ++k)
      for (std::int64_t j = 0; j < fine.size[1]; ++j)
        for (std::int64_t i = 0; i < fine.size[0]; ++i) {
          double x, y, z;
          map_index(map, double(i), double(j), double(k), x, y, z);
          differ += labels.at(i, j, k) != argmax_trilinear(p.data(), classes, in, x, y, z);
          beyond += !index_inside(in, x, y, z);
        }
    EXPECT_EQ(differ, 0u);
    if (&fine == &wider) {
      EXPECT_GT(beyond, 0u);
    }
  }
}

TEST(Resample, RefusesEmptyInputAndBadSpacing) {
  EXPECT_THROW(resample(ImageVolume{}, {}, Backend::Cpu), Error);
  const ImageVolume in(test::oblique_ct_grid({4, 4, 4}), 1.0f);
  EXPECT_THROW(resample(in, {.spacing_mm = 0.0}, Backend::Cpu), Error);
  EXPECT_THROW(resample(in, {.spacing_mm = -1.0}, Backend::Cpu), Error);
}

}  // namespace
}  // namespace nc::kernels
