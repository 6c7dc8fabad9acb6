#pragma once
/// \file
/// Quality-control measures of one scan, computed inside `neurocohort run` from what the stages
/// already hold (the 1 mm image and brain mask, the network's probabilities, the 1 mm label
/// map), so that QC costs no extra pass over the native grid. They need no ground truth.
/// Stored under /qc/ in the results file (docs/hdf5-schema.md); the rules that turn them into
/// flags are in qc/flags.hpp and docs/qc.md.

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/volume.hpp"
#include "jobs/manifest.hpp"

namespace nc::qc {

/// Whether a stored QC measure has one value per scan or one per scan and region.
enum class Shape { PerScan, PerRegion };

struct MeasureInfo {
  std::string_view name;  ///< the dataset under /qc/ and the qc.tsv column
  Shape shape;
  std::string_view meaning;  ///< one line, for docs and --help
};

/// Every measure `run` stores, in store order.
inline constexpr std::array<MeasureInfo, 10> kMeasures = {{
    {"mean_max_probability", Shape::PerScan, "mean over the brain mask of the network's top class probability"},
    {"low_margin_fraction", Shape::PerScan, "share of brain voxels whose top two probabilities differ by < 0.25"},
    {"brain_share_of_head", Shape::PerScan, "brain mask volume / head volume (voxels above the air level)"},
    {"mask_border_share", Shape::PerScan, "share of the brain mask on the image border, the inferior face excepted"},
    {"brain_median", Shape::PerScan, "median intensity inside the brain mask (CT: HU), before equalization"},
    {"tissue_cnr", Shape::PerScan, "contrast-to-noise ratio of the two intensity classes inside the brain mask"},
    {"air_fraction", Shape::PerScan, "share of the image below -500 (air in Hounsfield units)"},
    {"qc_seconds", Shape::PerScan, "seconds spent computing these measures"},
    {"components", Shape::PerRegion, "6-connected components of the region on the 1 mm grid (0: region missing)"},
    {"outside_largest_share", Shape::PerRegion, "share of the region's voxels outside its largest component"},
}};

/// The top-two margin below which a voxel counts in low_margin_fraction.
inline constexpr double kLowMargin = 0.25;
/// Intensities below this are air in Hounsfield units (air -1000, fat -100, water 0).
inline constexpr float kAirHu = -500.0f;

/// Measures of the image and its brain mask on the same grid (the 1 mm grid, before cropping).
struct ImageMeasures {
  double brain_share_of_head = 0;
  double mask_border_share = 0;
  double brain_median = 0;
  double tissue_cnr = 0;
  double air_fraction = 0;
  double seconds = 0;  ///< time spent computing these
};

/// The head is every voxel above the air level: -500 HU on CT; on MR 10 % of the image's
/// 99th percentile (MR background is near 0). \throws Error when the grids differ.
ImageMeasures measure_image(const ImageVolume& image, const Volume<std::uint8_t>& brain_mask, jobs::Modality modality);

/// The faces of a grid: 0/1 the low/high i face, 2/3 j, 4/5 k; the inferior one is the face
/// whose outward normal points furthest towards the feet (-z in LPS).
int inferior_face(const Geometry& grid);

/// The network's confidence inside the brain.
struct Confidence {
  double mean_max_probability = 0;
  double low_margin_fraction = 0;
  double seconds = 0;
};

/// From class-major probabilities (classes × voxels of `brain_mask`'s grid; the mask is
/// nonzero inside the brain). \throws Error when the sizes disagree or the mask is empty.
Confidence segmentation_confidence(const std::vector<float>& probabilities, int classes, const LabelVolume& brain_mask);

/// Per region (in the order of `regions`): 6-connected components and the share of the
/// region's voxels outside the largest one (0 for a whole region, NaN for a missing one).
struct RegionShapes {
  std::vector<double> components;
  std::vector<double> outside_largest_share;
  double seconds = 0;
};

RegionShapes region_shapes(const LabelVolume& labels, const std::vector<int>& regions);

}  // namespace nc::qc
