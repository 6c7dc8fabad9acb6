#pragma once
/// \file
/// Measurement of one scan's label map: per-region volume, and where a ground-truth map exists,
/// Dice, precision, recall, 95th-percentile Hausdorff distance and volume similarity.
/// Everything is counted on the grid the maps share (neurocohort uses the scan's native grid,
/// where the stored label map and the expert labels live): volume = voxels × voxel volume.

#include <cstdint>
#include <vector>

#include "core/volume.hpp"
#include "kernels/common/backend.hpp"

namespace nc::pipeline {

/// Per-region values, in the order of the region labels asked for. NaN where undefined:
/// Dice, precision, recall and volume similarity when neither map has the region (precision
/// also when only the truth has it, recall when only the prediction has it), HD95 when either
/// map lacks it.
struct RegionMetrics {
  std::vector<double> volume_ml;
  std::vector<double> dice, precision, recall, hd95_mm, volume_similarity;  ///< empty without truth
};

/// Volumes only. \throws Error on a label beyond kernels::kMaxLabels.
RegionMetrics measure_volumes(const LabelVolume& labels, const std::vector<int>& regions, kernels::Backend backend);

/// Volumes and agreement with `truth` (same grid). \throws Error when the grids differ.
RegionMetrics measure_against_truth(const LabelVolume& labels, const LabelVolume& truth, const std::vector<int>& regions,
                                    kernels::Backend backend);

/// The arithmetic of HD95's distance transforms. measure_against_truth uses float, which the
/// tests hold within 0.01 mm of double on CT grids (tests/pipeline/measure_test.cpp).
enum class DistancePrecision { Float, Double };

/// The 95th-percentile symmetric surface distance in mm between the voxels labelled `label`
/// in `a` and in `b`: the larger of the two directed 95th percentiles of the distances from
/// one region's surface voxels (those with a 6-neighbour outside the region) to the nearest
/// surface voxel of the other, through an exact Euclidean distance transform in physical
/// units inside the region's bounding box over both maps (grown by one voxel). NaN when
/// either map lacks the label. \throws Error on different grids or label 0.
double hd95_mm(const LabelVolume& a, const LabelVolume& b, std::uint16_t label,
               DistancePrecision precision = DistancePrecision::Float);

}  // namespace nc::pipeline
