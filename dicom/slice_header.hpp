#pragma once
/// \file
/// One DICOM file's header, read through DCMTK up to (never into) the pixel data: the tags that
/// `neurocohort index` groups, checks and selects series by, and those `run` needs to place
/// each slice in physical space. Values are parsed defensively: a hostile header yields a
/// reason, never a crash or an unchecked read.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace nc::dicom {

/// A DICOM tag, (group, element).
struct Tag {
  std::uint16_t group = 0, element = 0;
  bool operator==(const Tag&) const = default;
};

/// Parses "0008,0080", "(0008,0080)" or a keyword of the public dictionary ("InstitutionName").
/// \throws UsageError for anything else.
Tag parse_tag(const std::string& text);

struct SliceHeader {
  std::filesystem::path path;
  std::string sop_class_uid, study_uid, series_uid, sop_uid;
  std::string modality;
  std::vector<std::string> image_type;  ///< upper case, e.g. ORIGINAL, PRIMARY, AXIAL
  std::string series_description, convolution_kernel;
  std::string mr_acquisition_type, scanning_sequence;
  std::optional<double> repetition_time_ms, echo_time_ms;
  std::optional<double> slice_thickness_mm, gantry_tilt_degrees;
  std::optional<int> series_number, instance_number;
  int rows = 0, columns = 0, frames = 1, samples_per_pixel = 1, bits_allocated = 0;
  std::optional<std::array<double, 2>> pixel_spacing_mm;  ///< DICOM order: between rows, between columns
  std::optional<std::array<double, 6>> orientation;       ///< ImageOrientationPatient: row, column cosines
  std::optional<std::array<double, 3>> position_mm;       ///< ImagePositionPatient
  // Demographics and site: raw header text, interpreted by dicom/demographics.hpp.
  std::string patient_sex, patient_age, birth_date, study_date, site;
  // Identifiers: read only to pseudonymise them; never written anywhere in clear by default.
  std::string patient_id;
};

/// Why a file is not an indexable image: not DICOM, a directory record, truncated, and so on.
struct SkippedFile {
  std::filesystem::path path;
  std::string reason;
};

/// Reads `path`'s header; `site_tag` names the tag whose value becomes `site`.
std::variant<SliceHeader, SkippedFile> read_slice_header(const std::filesystem::path& path, Tag site_tag);

/// Only the SeriesInstanceUID, for `run` finding one series' files in a folder; empty when the
/// file is not DICOM.
std::string read_series_uid(const std::filesystem::path& path);

}  // namespace nc::dicom
