#pragma once
/// \file
/// Writes a stack of slices as a DICOM series (one file per slice, explicit VR little endian,
/// through DCMTK), with the tags `index` and `run` read: what the synthetic PACS tree of
/// `neurocohort synth --format dicom` is made of, and what tests build hostile series from.

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/volume.hpp"

namespace nc::dicom {

/// Who and what a series is.
struct SeriesTags {
  std::string patient_name, patient_id, patient_sex, patient_age, birth_date;
  std::string study_uid, study_date, institution;
  std::string series_uid, modality, image_type, description, kernel;
  int series_number = 1;
  std::string mr_acquisition_type, scanning_sequence;
  double repetition_time_ms = 0, echo_time_ms = 0;
  double gantry_tilt_degrees = 0;
};

/// Where the slices lie: slice k's first pixel at first_position + k · advance.
struct SlicePlacement {
  std::array<double, 3> row{1, 0, 0}, column{0, 1, 0};
  std::array<double, 3> first_position_mm{}, advance_mm{0, 0, 1};
  double row_spacing_mm = 1, column_spacing_mm = 1;  ///< along row, along column
  double slice_thickness_mm = 1;
};

/// CT is stored signed with RescaleIntercept −1024 (values are HU); MR unsigned, no rescale.
/// Slice k of `stack` goes to `folder / file_name(k)`; `uid_seed` makes the SOP instance UIDs.
/// \throws Error when a file cannot be written.
void write_series(const Volume<std::int16_t>& stack, const SlicePlacement& placement, const SeriesTags& tags,
                  const std::filesystem::path& folder, std::uint64_t uid_seed);

/// A DICOMDIR-like file (a Media Storage Directory object without records), for junk trees.
void write_directory_stub(const std::filesystem::path& path);

/// "2.25.<decimal>": a valid UID derived from a 64-bit value.
std::string uid_from(std::uint64_t value);

}  // namespace nc::dicom
