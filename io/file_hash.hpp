#pragma once
/// \file
/// SHA-256 of a file, for provenance (the model a cohort store was made with).

#include <filesystem>
#include <string>

namespace nc::io {

/// Lower-case hex SHA-256 of the file's bytes. \throws Error when the file cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace nc::io
