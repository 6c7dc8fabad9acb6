// The QC measures of qc/measures.hpp: component counts against ITK's connected-component
// filter, and the image and confidence measures on volumes whose answers are known.
#include "qc/measures.hpp"

#include <gtest/gtest.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkImage.h>

#include <cmath>
#include <random>

#include "core/error.hpp"

namespace nc::qc {
namespace {

Geometry grid(std::int64_t nx, std::int64_t ny, std::int64_t nz) {
  Geometry g;
  g.size = {nx, ny, nz};
  return g;
}

// Components of one label by ITK (6-connected: FullyConnected off).
int itk_components(const LabelVolume& labels, std::uint16_t label) {
  using Mask = itk::Image<unsigned char, 3>;
  using Components = itk::Image<unsigned int, 3>;
  auto mask = Mask::New();
  Mask::RegionType region;
  region.SetSize({{itk::SizeValueType(labels.geometry.size[0]), itk::SizeValueType(labels.geometry.size[1]),
                   itk::SizeValueType(labels.geometry.size[2])}});
  mask->SetRegions(region);
  mask->Allocate();
  for (std::size_t v = 0; v < labels.voxels.size(); ++v) mask->GetBufferPointer()[v] = labels.voxels[v] == label;
  auto filter = itk::ConnectedComponentImageFilter<Mask, Components>::New();
  filter->SetInput(mask);
  filter->SetFullyConnected(false);
  filter->Update();
  return int(filter->GetObjectCount());
}

TEST(RegionShapes, ComponentsEqualItksOnARandomLabelMap) {
  LabelVolume labels(grid(40, 33, 27));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> label(0, 4);
  for (auto& v : labels.voxels) v = std::uint16_t(label(rng));  // many small pieces per label
  const std::vector<int> regions = {1, 2, 3, 4, 9};
  const RegionShapes shapes = region_shapes(labels, regions);
  for (std::size_t r = 0; r < regions.size(); ++r)
    EXPECT_EQ(shapes.components[r], itk_components(labels, std::uint16_t(regions[r]))) << "label " << regions[r];
  EXPECT_EQ(shapes.components[4], 0);  // label 9 is missing
  EXPECT_TRUE(std::isnan(shapes.outside_largest_share[4]));
}

TEST(RegionShapes, ShareOutsideTheLargestComponent) {
  LabelVolume labels(grid(10, 10, 10));
  for (std::int64_t k = 0; k < 3; ++k)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t i = 0; i < 3; ++i) labels.at(i, j, k) = 1;  // 27 voxels
  labels.at(5, 5, 5) = 1;                                           // a stray voxel
  labels.at(6, 6, 6) = 1;                                           // touches it only at a corner
  labels.at(8, 8, 8) = 2;
  const RegionShapes shapes = region_shapes(labels, {1, 2});
  EXPECT_EQ(shapes.components, (std::vector<double>{3, 1}));
  EXPECT_DOUBLE_EQ(shapes.outside_largest_share[0], 2.0 / 29.0);
  EXPECT_DOUBLE_EQ(shapes.outside_largest_share[1], 0.0);
}

TEST(SegmentationConfidence, MeanTopProbabilityAndUncertainShareInsideTheMask) {
  LabelVolume mask(grid(3, 1, 1));
  mask.voxels = {1, 1, 0};
  // Three classes × three voxels, class-major: voxel 0 sure, voxel 1 torn, voxel 2 outside.
  const std::vector<float> p = {0.9f, 0.45f, 0.1f, 0.05f, 0.40f, 0.1f, 0.05f, 0.15f, 0.8f};
  const Confidence c = segmentation_confidence(p, 3, mask);
  EXPECT_NEAR(c.mean_max_probability, (0.9 + 0.45) / 2, 1e-6);
  EXPECT_DOUBLE_EQ(c.low_margin_fraction, 0.5);  // 0.45 - 0.40 < 0.25
  EXPECT_THROW(segmentation_confidence(std::vector<float>(8), 3, mask), Error);
}

TEST(InferiorFace, FollowsTheDirectionCosines) {
  Geometry g = grid(4, 4, 4);
  EXPECT_EQ(inferior_face(g), 4);  // LPS: k = 0 is the lowest slice
  g.direction = {1, 0, 0, 0, 1, 0, 0, 0, -1};
  EXPECT_EQ(inferior_face(g), 5);  // slices stored head first
  g.direction = {1, 0, 0, 0, 0, 1, 0, 1, 0};
  EXPECT_EQ(inferior_face(g), 2);  // j runs towards the head
}

// A CT-like image: air around a 20³ "head" of 40 HU, the brain mask a 10³ cube inside it.
struct Phantom {
  ImageVolume image{grid(30, 30, 30), -1000.0f};
  Volume<std::uint8_t> mask{grid(30, 30, 30), 0};
  Phantom(std::int64_t mask_low, std::int64_t mask_high) {
    for (std::int64_t k = 5; k < 25; ++k)
      for (std::int64_t j = 5; j < 25; ++j)
        for (std::int64_t i = 5; i < 25; ++i) image.at(i, j, k) = 40;
    for (std::int64_t k = mask_low; k < mask_high; ++k)
      for (std::int64_t j = 10; j < 20; ++j)
        for (std::int64_t i = 10; i < 20; ++i) mask.at(i, j, k) = 1;
  }
};

TEST(MeasureImage, HeadShareAirAndMedianOfACtPhantom) {
  const Phantom p(10, 20);
  const ImageMeasures m = measure_image(p.image, p.mask, jobs::Modality::CT);
  EXPECT_DOUBLE_EQ(m.brain_share_of_head, 1000.0 / 8000.0);
  EXPECT_DOUBLE_EQ(m.air_fraction, 1.0 - 8000.0 / 27000.0);
  EXPECT_DOUBLE_EQ(m.brain_median, 40.0);
  EXPECT_DOUBLE_EQ(m.mask_border_share, 0.0);
  EXPECT_DOUBLE_EQ(m.tissue_cnr, 0.0);  // one intensity: no two classes
}

TEST(MeasureImage, MaskOnTheBorderButNotOnTheInferiorFace) {
  const Phantom top(20, 30), bottom(0, 10);
  EXPECT_DOUBLE_EQ(measure_image(top.image, top.mask, jobs::Modality::CT).mask_border_share, 100.0 / 1000.0);
  EXPECT_DOUBLE_EQ(measure_image(bottom.image, bottom.mask, jobs::Modality::CT).mask_border_share, 0.0);
}

TEST(MeasureImage, TwoTissueClassesGiveTheirContrastToNoise) {
  Phantom p(10, 20);
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  for (std::size_t v = 0; v < p.image.voxels.size(); ++v)
    if (p.mask.voxels[v]) p.image.voxels[v] = (v % 2 ? 100.0f : 110.0f) + noise(rng);
  const double cnr = measure_image(p.image, p.mask, jobs::Modality::MR).tissue_cnr;
  EXPECT_NEAR(cnr, 10.0, 0.5);
  for (std::size_t v = 0; v < p.image.voxels.size(); ++v)
    if (p.mask.voxels[v]) p.image.voxels[v] = 105.0f + 3 * noise(rng);  // one class: Otsu splits a bell
  EXPECT_LT(measure_image(p.image, p.mask, jobs::Modality::MR).tissue_cnr, 3.5);
}

}  // namespace
}  // namespace nc::qc
