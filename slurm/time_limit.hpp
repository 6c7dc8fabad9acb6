#pragma once
/// \file
/// Slurm's time-limit formats, checked before anything is submitted.

#include <string>

namespace nc::slurm {

/// Seconds of a Slurm time limit: "M", "M:S", "H:M:S", "D-H", "D-H:M" or "D-H:M:S".
/// \throws UsageError naming the text and the accepted formats.
long parse_time_limit(const std::string& text);

}  // namespace nc::slurm
