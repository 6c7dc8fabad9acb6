#pragma once
/// \file
/// Which series of a study to segment, by rules a radiologist can read (docs/dicom.md): a
/// series must be CT or MR, ORIGINAL/PRIMARY, not a localizer or derived image, axial, with
/// enough evenly spaced slices; CT prefers a soft-tissue reconstruction over a bone one, then
/// the thinnest; MR wants a 3-D T1-weighted acquisition. Every series gets a decision and a
/// reason, kept or not.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dicom/series.hpp"

namespace nc::dicom {

/// The selection rules; every field can be changed by a rules file (`key = value`).
struct SelectionRules {
  std::optional<std::string> modality;  ///< "CT" or "MR" to index only one; empty for both
  std::vector<std::string> rejected_image_types{"LOCALIZER", "SCOUT", "DERIVED",     "SECONDARY",  "PROJECTION IMAGE",
                                                "MIP",       "MPR",   "REFORMATTED", "SCREEN SAVE"};
  bool require_original_primary = true;
  int min_slices = 30;
  double max_slice_spacing_mm = 6.0;
  double max_axial_obliquity_degrees = 35.0;  ///< the normal's angle to the head–foot axis
  double max_tilt_degrees = 35.0;             ///< gantry tilt corrected on reading, up to this
  /// Kernel or description words (any case) that mark a CT bone or lung reconstruction.
  std::vector<std::string> ct_sharp_kernels{"BONE", "SHARP", "LUNG", "DETAIL", "EDGE", "H60",  "H70", "H80",
                                            "B60",  "B70",   "B80",  "J70",    "FC30", "FC35", "FC81"};
  bool mr_require_3d = true;
  /// Description words that mark a T1-weighted MR series, and words that rule one out.
  std::vector<std::string> mr_t1_words{"T1", "MPRAGE", "SPGR", "BRAVO", "TFE", "MP2RAGE", "FLASH"};
  std::vector<std::string> mr_not_t1_words{"T2", "FLAIR", "PD", "DWI", "DTI", "SWI", "BOLD", "ASL"};
  /// Without a telling description, a series with TR and TE at most these counts as T1-weighted.
  double mr_t1_max_tr_ms = 3000, mr_t1_max_te_ms = 15;
};

/// Reads a rules file: `key = value` lines, `#` comments, lists comma-separated; keys are the
/// field names above. \throws UsageError naming the file and line of an unknown key or bad value.
SelectionRules read_rules(const std::filesystem::path& path, SelectionRules defaults = {});

enum class Decision { Chosen, NotChosen, Rejected };
const char* decision_name(Decision decision);

struct SeriesDecision {
  const Series* series = nullptr;
  Decision decision = Decision::Rejected;
  std::string reason;
};

/// Decides every series of one study (all sharing a StudyInstanceUID): at most one Chosen.
std::vector<SeriesDecision> select_series(const std::vector<const Series*>& study, const SelectionRules& rules);

/// True when `kernel` or `description` holds one of the sharp-kernel words, as a whole word or
/// (for codes such as "B70f") a word's start.
bool is_sharp_reconstruction(const SliceHeader& slice, const SelectionRules& rules);

}  // namespace nc::dicom
