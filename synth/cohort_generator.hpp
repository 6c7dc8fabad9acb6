#pragma once
/// \file
/// `neurocohort synth`: a synthetic pediatric cohort built from real anatomy (Colin27 + AAL),
/// with planted effects of age, sex, group and hemisphere, written as NIfTI scans, label maps
/// and brain masks plus manifest.tsv, effects.tsv, sites.tsv and true_volumes.tsv.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "synth/anatomy.hpp"

namespace nc::synth {

enum class ModalityChoice { CT, MR, Both };
/// Dicom: the NIfTI cohort plus the same scans as a PACS-like DICOM tree (synth/pacs_tree.hpp).
enum class ImageFormat { Nifti, Dicom };

struct SynthOptions {
  std::filesystem::path out_dir;
  int subjects = 20;
  std::uint64_t seed = 1;
  ModalityChoice modality = ModalityChoice::Both;  ///< Both: subjects alternate CT, MR
  std::filesystem::path template_dir = kDefaultTemplateDir;
  PlantedModel model;
  double oblique_fraction = 0.3;  ///< share of CT scans acquired with a gantry tilt
  int sites = 3;                  ///< sites A, B, C, …; each subject's drawn evenly
  ImageFormat format = ImageFormat::Nifti;
  /// Write only effects.tsv and true_volumes.tsv, counting each subject's volumes on label
  /// maps rendered on an isotropic `volumes_grid_mm` grid: the planted model for hundreds
  /// or thousands of subjects in seconds, for the statistics.
  bool volumes_only = false;
  double volumes_grid_mm = 1.5;
};

/// One generated scan, as reported to the progress callback.
struct SynthProgress {
  int done = 0, total = 0;
  std::string scan_id;
  std::string modality;
  double seconds = 0;
};

/// Generates the cohort, one subject in memory at a time. Deterministic for a seed: the same
/// options give the same bytes, whatever the thread count.
/// \throws Error when mricron-data is missing or the output folder cannot be written.
void generate_cohort(const SynthOptions& options, const std::function<void(const SynthProgress&)>& progress = {});

}  // namespace nc::synth
