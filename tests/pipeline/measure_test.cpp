#include "pipeline/measure.hpp"

#include <gtest/gtest.h>
#include <itkLabelOverlapMeasuresImageFilter.h>
#include <itkSignedMaurerDistanceMapImageFilter.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tests/support/itk_convert.hpp"

namespace nc::pipeline {
namespace {

using kernels::Backend;

// Three labelled ellipsoid-like balls on an anisotropic grid; `shift` moves and grows them, so a
// "prediction" overlaps a "truth" partly. Later labels overwrite earlier ones where they meet.
LabelVolume balls(double shift) {
  Geometry g;
  g.size = {48, 40, 30};
  g.spacing_mm = {0.8, 1.0, 1.5};
  LabelVolume v(g);
  const double centres[3][3] = {{14, 16, 20}, {24, 22, 22}, {22, 26, 14}};
  const double radii[3] = {7, 8, 5};
  for (std::int64_t k = 0; k < g.size[2]; ++k)
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i)
        for (int l = 0; l < 3; ++l) {
          const double x = double(i) * 0.8 - centres[l][0] - shift, y = double(j) - centres[l][1],
                       z = double(k) * 1.5 - centres[l][2] + 0.5 * shift;
          if (std::sqrt(x * x + y * y + z * z) <= radii[l] + shift) v.at(i, j, k) = std::uint16_t(l + 1);
        }
  return v;
}

TEST(Measure, OverlapEqualsItkLabelOverlapMeasures) {
  const LabelVolume predicted = balls(1.5), truth = balls(0.0);
  const RegionMetrics m = measure_against_truth(predicted, truth, {1, 2, 3}, Backend::Cpu);
  using Image = itk::Image<std::uint16_t, 3>;
  auto itk_overlap = itk::LabelOverlapMeasuresImageFilter<Image>::New();
  itk_overlap->SetSourceImage(test::to_itk(predicted));
  itk_overlap->SetTargetImage(test::to_itk(truth));
  itk_overlap->Update();
  for (std::uint16_t l = 1; l <= 3; ++l) {
    const std::size_t n = l - 1u;
    EXPECT_NEAR(m.dice[n], itk_overlap->GetDiceCoefficient(l), 1e-9) << l;
    EXPECT_NEAR(m.recall[n], itk_overlap->GetTargetOverlap(l), 1e-9) << l;
    EXPECT_NEAR(m.precision[n], 1.0 - itk_overlap->GetFalsePositiveError(l), 1e-9) << l;
    // ITK's volume similarity is signed, 2(S − T)/(S + T); ours is 1 − |S − T|/(S + T).
    EXPECT_NEAR(m.volume_similarity[n], 1.0 - std::abs(itk_overlap->GetVolumeSimilarity(l)) / 2.0, 1e-9) << l;
    EXPECT_LT(m.dice[n], 1.0);
  }
}

TEST(Measure, VolumesAreVoxelCountsTimesVoxelVolume) {
  const LabelVolume labels = balls(0.0);
  const RegionMetrics m = measure_volumes(labels, {1, 2, 3}, Backend::Cpu);
  for (std::uint16_t l = 1; l <= 3; ++l) {
    const auto count = std::count(labels.voxels.begin(), labels.voxels.end(), l);
    EXPECT_DOUBLE_EQ(m.volume_ml[l - 1u], double(count) * 0.8 * 1.0 * 1.5 / 1000.0);
  }
}

// The reference HD95: |signed Maurer distance| to one region, read at the other's surface voxels.
std::vector<double> directed_reference(const LabelVolume& from, const LabelVolume& to, std::uint16_t label) {
  using Mask = itk::Image<std::uint8_t, 3>;
  Volume<std::uint8_t> binary(to.geometry);
  for (std::size_t v = 0; v < binary.voxels.size(); ++v) binary.voxels[v] = to.voxels[v] == label;
  auto maurer = itk::SignedMaurerDistanceMapImageFilter<Mask, itk::Image<float, 3>>::New();
  maurer->SetInput(test::to_itk(binary));
  maurer->SetUseImageSpacing(true);
  maurer->SetSquaredDistance(false);
  maurer->Update();
  const ImageVolume distance = test::from_itk<float>(*maurer->GetOutput());
  std::vector<double> out;
  const auto& s = from.geometry.size;
  const auto is = [&](std::int64_t i, std::int64_t j, std::int64_t k) { return from.at(i, j, k) == label; };
  for (std::int64_t k = 1; k + 1 < s[2]; ++k)
    for (std::int64_t j = 1; j + 1 < s[1]; ++j)
      for (std::int64_t i = 1; i + 1 < s[0]; ++i)
        if (is(i, j, k) && !(is(i - 1, j, k) && is(i + 1, j, k) && is(i, j - 1, k) && is(i, j + 1, k) &&
                             is(i, j, k - 1) && is(i, j, k + 1)))
          out.push_back(std::abs(double(distance.at(i, j, k))));
  return out;
}

double percentile95(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const double pos = 0.95 * double(v.size() - 1);
  const std::size_t lo = std::size_t(pos);
  return lo + 1 < v.size() ? v[lo] + (v[lo + 1] - v[lo]) * (pos - double(lo)) : v.back();
}

TEST(Measure, Hd95WithinOneVoxelOfItkDistanceMapReference) {
  const LabelVolume predicted = balls(2.5), truth = balls(0.0);
  const RegionMetrics m = measure_against_truth(predicted, truth, {1, 2, 3}, Backend::Cpu);
  for (std::uint16_t l = 1; l <= 3; ++l) {
    const double reference = std::max(percentile95(directed_reference(predicted, truth, l)),
                                      percentile95(directed_reference(truth, predicted, l)));
    EXPECT_GT(reference, 1.0) << l;                    // the maps really differ
    EXPECT_NEAR(m.hd95_mm[l - 1u], reference, 1.5) << l;  // one voxel: the largest spacing
  }
}

// Surface voxels (6-neighbour definition, the grid's edge outside) as physical points.
std::vector<Vec3> surface_points(const LabelVolume& v, std::uint16_t label) {
  const auto& s = v.geometry.size;
  const auto is = [&](std::int64_t i, std::int64_t j, std::int64_t k) {
    return i >= 0 && j >= 0 && k >= 0 && i < s[0] && j < s[1] && k < s[2] && v.at(i, j, k) == label;
  };
  std::vector<Vec3> out;
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t i = 0; i < s[0]; ++i)
        if (is(i, j, k) && !(is(i - 1, j, k) && is(i + 1, j, k) && is(i, j - 1, k) && is(i, j + 1, k) &&
                             is(i, j, k - 1) && is(i, j, k + 1)))
          out.push_back({double(i) * v.geometry.spacing_mm[0], double(j) * v.geometry.spacing_mm[1],
                         double(k) * v.geometry.spacing_mm[2]});
  return out;
}

// The definition itself: every surface voxel's nearest surface voxel of the other map, by search.
double brute_force_hd95(const LabelVolume& a, const LabelVolume& b, std::uint16_t label) {
  const auto pa = surface_points(a, label), pb = surface_points(b, label);
  const auto directed = [](const std::vector<Vec3>& from, const std::vector<Vec3>& to) {
    std::vector<double> d;
    for (const Vec3& p : from) {
      double best = std::numeric_limits<double>::infinity();
      for (const Vec3& q : to)
        best = std::min(best, (p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]));
      d.push_back(std::sqrt(best));
    }
    return percentile95(d);
  };
  return std::max(directed(pa, pb), directed(pb, pa));
}

// A shift of 2.5 keeps the 95th percentile inside the transform's 4 mm band; one of 7 puts it
// beyond, where the whole box is transformed again.
TEST(Measure, Hd95EqualsTheBruteForceDefinitionInBothPrecisions) {
  const LabelVolume truth = balls(0.0);
  for (const double shift : {2.5, 7.0}) {
    const LabelVolume predicted = balls(shift);
    for (std::uint16_t l = 1; l <= 3; ++l) {
      const double exact = brute_force_hd95(predicted, truth, l);
      EXPECT_GT(exact, shift < 4 ? 1.0 : 4.0) << l << " shift " << shift;
      EXPECT_NEAR(hd95_mm(predicted, truth, l, DistancePrecision::Double), exact, 1e-9) << l << " shift " << shift;
      EXPECT_NEAR(hd95_mm(predicted, truth, l, DistancePrecision::Float), exact, 1e-4) << l << " shift " << shift;
    }
  }
}

// Float distance transforms on a CT grid (0.45 × 0.45 × 0.625 mm, 512 × 512 in plane, so
// coordinates reach 230 mm and their squares lose float precision fastest): HD95 stays within
// 0.01 mm of the double-precision result for regions spanning the grid.
TEST(Measure, Hd95InFloatIsWithinOneHundredthOfAMillimetreOfDoubleOnACtGrid) {
  Geometry g;
  g.size = {512, 512, 48};
  g.spacing_mm = {0.45, 0.45, 0.625};
  const auto ellipsoids = [&](double grow, double shift) {
    LabelVolume v(g);
    const double centre[4][2] = {{60, 60}, {170, 60}, {60, 170}, {150, 160}};
    for (std::int64_t k = 0; k < g.size[2]; ++k)
      for (std::int64_t j = 0; j < g.size[1]; ++j)
        for (std::int64_t i = 0; i < g.size[0]; ++i)
          for (int l = 0; l < 4; ++l) {
            const double x = (double(i) * 0.45 - centre[l][0] - shift) / (52 + grow + 6 * l),
                         y = (double(j) * 0.45 - centre[l][1]) / (50 + grow), z = (double(k) * 0.625 - 15) / (12 + grow);
            // A wavy outline, so that the distances spread over many values.
            if (x * x + y * y + z * z <= 1.0 + 0.08 * std::sin(double(i + 3 * j) * 0.05 + l)) v.at(i, j, k) = std::uint16_t(l + 1);
          }
    return v;
  };
  const LabelVolume predicted = ellipsoids(1.3, 2.1), truth = ellipsoids(0.0, 0.0);
  for (std::uint16_t l = 1; l <= 4; ++l) {
    const double exact = hd95_mm(predicted, truth, l, DistancePrecision::Double);
    EXPECT_GT(exact, 1.0) << l;
    EXPECT_NEAR(hd95_mm(predicted, truth, l, DistancePrecision::Float), exact, 0.01) << l;
  }
}

TEST(Measure, MissingRegionsGiveNaNNotNumbers) {
  const LabelVolume truth = balls(0.0);
  LabelVolume predicted = truth;
  std::replace(predicted.voxels.begin(), predicted.voxels.end(), std::uint16_t{3}, std::uint16_t{0});
  const RegionMetrics m = measure_against_truth(predicted, truth, {1, 2, 3, 4}, Backend::Cpu);
  EXPECT_DOUBLE_EQ(m.dice[0], 1.0);
  EXPECT_DOUBLE_EQ(m.hd95_mm[0], 0.0);
  EXPECT_DOUBLE_EQ(m.dice[2], 0.0);       // only the truth has label 3
  EXPECT_TRUE(std::isnan(m.precision[2]));
  EXPECT_TRUE(std::isnan(m.hd95_mm[2]));
  EXPECT_TRUE(std::isnan(m.dice[3]));     // neither has label 4
}

}  // namespace
}  // namespace nc::pipeline
