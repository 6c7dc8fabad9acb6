#pragma once
/// \file
/// How a manifest names one series of a DICOM folder: "<folder>#<SeriesInstanceUID>", the
/// form `neurocohort index` writes. Syntax only: reading the series is dicom/series_volume.hpp.

#include <filesystem>
#include <optional>
#include <string>

namespace nc::dicom {

struct SeriesReference {
  std::filesystem::path folder;
  std::string series_uid;
};

/// True for a DICOM UID: digits and dots, at most 64 characters, no empty component.
bool is_valid_uid(const std::string& uid);

/// Splits "<folder>#<uid>" at its last '#'; nullopt for any other path (or a path that exists
/// as written).
std::optional<SeriesReference> parse_series_reference(const std::filesystem::path& path);
std::filesystem::path series_reference_path(const std::filesystem::path& folder, const std::string& uid);

}  // namespace nc::dicom
