#pragma once
/// \file
/// Where the executable finds the data it ships with, relative to itself so that the build tree
/// and any installed prefix (`cmake --install`, the .deb) work alike:
/// <prefix>/bin/neurocohort and <prefix>/share/neurocohort/ (in the build tree: build/cli/ and
/// build/share/neurocohort/, where the build copies the data).

#include <filesystem>

namespace nc::cli {

/// <prefix>/share/neurocohort/models/resunet333.pt: the default model of `run`.
std::filesystem::path default_model_path();

}  // namespace nc::cli
