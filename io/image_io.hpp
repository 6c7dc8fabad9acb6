#pragma once
/// \file
/// Image read/write through ITK. Any ITK-readable 3-D image (NIfTI .nii/.nii.gz, NRRD,
/// MetaImage, a DICOM series folder) comes in as a Volume with its physical geometry in LPS, and
/// so does one series of a folder named "<folder>#<SeriesInstanceUID>" (the form `neurocohort
/// index` writes; dicom/series_volume.hpp); label maps and images go out as NIfTI. Every failure is an nc::ImageError naming the file.

#include <cstdint>
#include <filesystem>
#include <optional>

#include "core/volume.hpp"

namespace nc::io {

/// Limits checked against the header before any voxel memory is allocated.
struct ReadLimits {
  /// Largest accepted voxel count; the default admits a 1024×1024×1024 volume.
  std::int64_t max_voxels = std::int64_t{1} << 30;
  /// Largest accepted voxel spacing; anything coarser is not a brain scan.
  double max_spacing_mm = 50.0;
  /// Smallest accepted voxel spacing; anything finer is a header error, not a scanner.
  double min_spacing_mm = 0.01;
  /// When set, every file the read opens (detached data files included, symlinks followed)
  /// must lie inside this folder: the manifest's folder unless --allow-external-paths.
  std::optional<std::filesystem::path> confine_to;
};

/// What a header says, validated: three dimensions, scalar pixels, sane size and spacing.
struct ImageHeader {
  Geometry geometry;
  std::string pixel_type;  ///< ITK's name of the stored component type, e.g. "short"
};

/// Reads and validates only the header (or, for a DICOM folder, the series' geometry), after
/// the checks of io/image_preflight.hpp on the files it names.
/// \throws ImageError missing, unreadable or non-regular file, a data file outside the allowed
///         folder or shorter than the header implies, not 3-D, non-scalar pixels, zero or
///         over-budget size, zero, non-finite or absurd spacing, singular direction.
ImageHeader read_image_header(const std::filesystem::path& path, const ReadLimits& limits = {});

/// Reads an intensity image as float32.
/// \throws ImageError everything read_image_header throws, truncated or corrupt data, and
///         NaN or infinite voxels.
ImageVolume read_image(const std::filesystem::path& path, const ReadLimits& limits = {});

/// Reads a label map; labels must be integers in [0, 65535].
/// \throws ImageError as read_image_header, truncated data, or a value outside that range.
LabelVolume read_label_image(const std::filesystem::path& path, const ReadLimits& limits = {});

/// True when `path`, symlinks resolved, lies inside `folder` (also resolved): the rule for
/// every file a manifest names, detached data files included.
bool resolves_within(const std::filesystem::path& path, const std::filesystem::path& folder);

/// Writes a volume as NIfTI (.nii or .nii.gz by extension), keeping its physical geometry.
/// \throws ImageError when ITK cannot write the file.
void write_nifti(const ImageVolume& volume, const std::filesystem::path& path);
void write_nifti(const LabelVolume& volume, const std::filesystem::path& path);
void write_nifti(const Volume<std::uint8_t>& volume, const std::filesystem::path& path);
void write_nifti(const Volume<std::int16_t>& volume, const std::filesystem::path& path);

}  // namespace nc::io
