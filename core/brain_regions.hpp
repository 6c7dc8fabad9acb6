#pragma once
/// \file
/// The ten regions of the pediatric CT study, the label table of the default model and of
/// the synthetic cohort: frontal, parietal, occipital and temporal lobes (left and right),
/// cerebellum, brainstem. Label 0 is background (and brain outside these regions).

#include <array>
#include <string_view>

namespace nc {

struct BrainRegion {
  int label;
  std::string_view name;
  std::string_view hemisphere;  ///< "L", "R" or "-"
  std::string_view lobe;        ///< name without hemisphere, pairs L with R
};

inline constexpr std::array<BrainRegion, 10> kBrainRegions = {{
    {1, "frontal_L", "L", "frontal"},
    {2, "frontal_R", "R", "frontal"},
    {3, "parietal_L", "L", "parietal"},
    {4, "parietal_R", "R", "parietal"},
    {5, "occipital_L", "L", "occipital"},
    {6, "occipital_R", "R", "occipital"},
    {7, "temporal_L", "L", "temporal"},
    {8, "temporal_R", "R", "temporal"},
    {9, "cerebellum", "-", "cerebellum"},
    {10, "brainstem", "-", "brainstem"},
}};

}  // namespace nc
