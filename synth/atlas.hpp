#pragma once
/// \file
/// The reference anatomy of the synthetic cohort: Colin27 (a 1 mm T1 head with skull, and its
/// brain mask) and the AAL atlas from Debian's mricron-data, turned into the ten study
/// regions, a brain (ICV) mask, and a Hounsfield-unit head built by tissue class.

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "core/brain_regions.hpp"
#include "core/volume.hpp"

namespace nc::synth {

/// mricron-data's templates where the build found them (cmake/NeurocohortDependencies.cmake).
inline constexpr const char* kDefaultTemplateDir = NC_TEMPLATE_DIR;

/// Hounsfield units of the tissue classes (CT study conventions).
struct TissueHu {
  float air = -1000, fat = -100, csf = 8, grey_matter = 40, white_matter = 28, soft_tissue = 40;
  float bone_min = 700, bone_max = 1800;
};

struct Atlas {
  ImageVolume t1;                  ///< Colin27 T1, arbitrary units (white matter about 110)
  ImageVolume hounsfield;          ///< the same head in HU
  Volume<std::uint8_t> regions;    ///< 0 background, 1..10 kBrainRegions labels
  Volume<std::uint8_t> brain;      ///< 1 inside the brain (ICV) mask
  Vec3 brain_centre_mm{};          ///< centroid of the brain mask, physical
  std::array<Vec3, kBrainRegions.size()> region_centre_mm{};
  std::array<double, kBrainRegions.size()> region_volume_ml{};
  double brain_volume_ml = 0;
};

/// AAL label (1..116) to study region label (0 when the AAL region belongs to none of the
/// ten, e.g. the basal ganglia and thalami). The table is documented in docs/synthetic-cohort.md.
int study_region_of_aal(int aal_label);

/// Loads ch2.nii.gz, ch2bet.nii.gz and aal.nii.gz from `template_dir` and derives the atlas.
/// \throws Error naming the missing file and how to install mricron-data.
Atlas load_atlas(const std::filesystem::path& template_dir = kDefaultTemplateDir, const TissueHu& hu = {});

}  // namespace nc::synth
