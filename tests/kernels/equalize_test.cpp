#include "kernels/equalize/equalize.hpp"

#include <gtest/gtest.h>
#include <itkAdaptiveHistogramEqualizationImageFilter.h>

#include <limits>
#include <random>

#include "tests/support/itk_convert.hpp"
#include "tests/support/volumes.hpp"

namespace nc::kernels {
namespace {

// A smooth field plus noise: real local contrast for the windows to equalize.
ImageVolume textured(std::array<std::int64_t, 3> size, unsigned seed) {
  Geometry g;
  g.size = size;
  ImageVolume v = test::smooth_volume(g);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 8.0f);
  for (float& x : v.voxels) x += noise(rng);
  return v;
}

ImageVolume itk_ahe(const ImageVolume& in, const AheParams& p) {
  using Image = itk::Image<float, 3>;
  auto filter = itk::AdaptiveHistogramEqualizationImageFilter<Image>::New();
  filter->SetInput(test::to_itk(in));
  filter->SetRadius(p.radius);
  filter->SetAlpha(p.alpha);
  filter->SetBeta(p.beta);
  filter->Update();
  return test::from_itk<float>(*filter->GetOutput());
}

// Mean absolute difference as a fraction of the input's intensity range.
double relative_mad(const ImageVolume& a, const ImageVolume& b, const ImageVolume& input) {
  const auto [lo, hi] = std::minmax_element(input.voxels.begin(), input.voxels.end());
  double sum = 0;
  for (std::size_t n = 0; n < a.voxels.size(); ++n) sum += std::abs(double(a.voxels[n]) - double(b.voxels[n]));
  return sum / double(a.voxels.size()) / double(*hi - *lo);
}

TEST(AdaptiveEqualize, MatchesItkWithinOnePercent) {
  const ImageVolume in = textured({34, 30, 26}, 1);
  for (const AheParams p : {AheParams{3, 0.3f, 0.3f}, AheParams{5, 0.0f, 0.0f}, AheParams{2, 0.0f, 0.5f}}) {
    const ImageVolume ours = adaptive_equalize(in, p, Backend::Cpu);
    const ImageVolume peer = itk_ahe(in, p);
    const double mad = relative_mad(ours, peer, in);
    EXPECT_LT(mad, 0.01) << "radius " << p.radius << " alpha " << p.alpha << " beta " << p.beta;
    EXPECT_GT(relative_mad(ours, in, in), 0.02) << "the filter must change the image";  // not the identity
  }
}

TEST(AdaptiveEqualize, ConstantVolumeIsIdentity) {
  // No contrast to redistribute: ITK's normalisation would divide by a zero range.
  const ImageVolume flat(test::cube(12), 42.0f);
  EXPECT_EQ(adaptive_equalize(flat, {}, Backend::Cpu).voxels, flat.voxels);
}

TEST(AdaptiveEqualize, MaskConfinesInputAndOutput) {
  ImageVolume in = textured({24, 24, 24}, 2);
  Volume<std::uint8_t> mask(in.geometry);
  for (std::int64_t k = 4; k < 20; ++k)
    for (std::int64_t j = 4; j < 20; ++j)
      for (std::int64_t i = 4; i < 20; ++i) mask.at(i, j, k) = 1;
  const ImageVolume a = adaptive_equalize(in, {}, Backend::Cpu, &mask);
  for (std::size_t n = 0; n < in.voxels.size(); ++n)
    if (!mask.voxels[n]) {
      ASSERT_EQ(a.voxels[n], in.voxels[n]);
    }
  for (std::size_t n = 0; n < in.voxels.size(); ++n)  // a skull outside the mask...
    if (!mask.voxels[n]) in.voxels[n] = 5000.0f;
  const ImageVolume b = adaptive_equalize(in, {}, Backend::Cpu, &mask);
  for (std::size_t n = 0; n < in.voxels.size(); ++n)  // ...changes nothing inside
    if (mask.voxels[n]) {
      ASSERT_EQ(a.voxels[n], b.voxels[n]);
    }
}

TEST(AdaptiveEqualize, RejectsBadParameters) {
  const ImageVolume in = textured({8, 8, 8}, 3);
  EXPECT_THROW(adaptive_equalize(in, {.radius = 0}, Backend::Cpu), Error);
  EXPECT_THROW(adaptive_equalize(in, {.radius = 3, .alpha = 1.5f}, Backend::Cpu), Error);
  EXPECT_THROW(adaptive_equalize(ImageVolume{}, {}, Backend::Cpu), Error);
}

TEST(Equalize, NanVoxelsAreAnError) {
  ImageVolume in = textured({16, 16, 16}, 5);
  in.at(1, 2, 3) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(adaptive_equalize(in, {}, Backend::Cpu), Error);
}

}  // namespace
}  // namespace nc::kernels
