#pragma once
/// \file
/// Checks made on an image's files before any image library opens them. ITK's readers trust
/// their headers: MetaIO passes a header's file-name pattern to printf, detached data files
/// (MetaImage `ElementDataFile`, NRRD `data file`) may name any path on the machine, a FIFO
/// blocks the reader forever, and a short or damaged data file can read as a valid image.
/// Internal to io/.

#include <filesystem>
#include <optional>

namespace nc::io::detail {

struct PreflightRules {
  /// Every file that will be opened must resolve (symlinks followed) inside this folder.
  std::optional<std::filesystem::path> confine_to;
};

/// Refuses, as an ImageError naming `path`: a file that is not a regular file (or, for a DICOM
/// series, a folder holding anything but regular files and folders); a file outside
/// `confine_to`; MetaImage and NRRD headers whose data file is a pattern, missing, outside
/// `confine_to` or not a regular file; raw data shorter than the header implies; compressed
/// MetaImage or NRRD data that does not inflate to exactly that size.
void preflight_image_files(const std::filesystem::path& path, const PreflightRules& rules);

}  // namespace nc::io::detail
