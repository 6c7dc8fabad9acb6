#pragma once
/// \file
/// neurocohort's own read of NIfTI voxel data (geometry still comes from ITK's NIfTI IO).
/// ITK 5.2 reads NIfTI through nifticlib, which silently replaces NaN and infinite voxels with
/// zero and returns a short read of a truncated .nii.gz without an error. Reading the data
/// here, in one pass, lets both be reported against the scan.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace nc::io::detail {

/// True for .nii, .nii.gz, .hdr and .img files.
bool is_nifti_path(const std::filesystem::path& path);

/// Checks what ITK's NIfTI reader would hide: zero dims and a zero or non-finite pixdim, as
/// stored. Warns when qform and sform disagree. \throws ImageError naming the file.
void validate_nifti_header(const std::filesystem::path& path);

/// Compares the data size the header implies with what the file (or, for .nii.gz, any gzip
/// stream of its size) holds, before any voxel memory is allocated.
/// \throws ImageError naming the file and both sizes.
void require_nifti_data_size(const std::filesystem::path& path);

/// The voxels of a NIfTI file as float32 with scl_slope/scl_inter applied, in file order.
/// \param expected_voxels voxel count of the validated header (budget already checked)
/// \throws ImageError on an unreadable header, an unsupported datatype, truncated or
///         corrupt data, or NaN/infinite voxels (counted, with the first voxel's index).
std::vector<float> read_nifti_voxels(const std::filesystem::path& path, std::int64_t expected_voxels);

/// The voxels of a NIfTI label map stored as integers without scaling, straight to uint16 in
/// file order, without the float copy read_nifti_voxels makes (for a CT's expert labels that
/// copy is 265 MB). nullopt for float datatypes, scaled data, or a file the fast reader
/// declines: read those through read_nifti_voxels, whose errors say more.
/// \throws ImageError on an unreadable header or a label outside [0, 65535] (the first one).
std::optional<std::vector<std::uint16_t>> read_nifti_labels(const std::filesystem::path& path,
                                                             std::int64_t expected_voxels);

/// Compresses `source` into the gzip file `target` at zlib `level` (1 fastest .. 9 smallest),
/// as concatenated gzip members of 16 MB compressed in parallel. The gzip headers carry no
/// time stamp, so equal input gives equal bytes.
/// \throws ImageError naming `target` when reading or writing fails.
void gzip_file(const std::filesystem::path& source, const std::filesystem::path& target, int level);

}  // namespace nc::io::detail
