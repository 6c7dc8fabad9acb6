#pragma once
/// \file
/// The cohort QC page (index.html of `neurocohort qc`): a summary of the flags, the colour
/// legend, and one table row per scan — flagged scans first, sortable by any column — with
/// the scan's thumbnail (linking to its full snapshot) and the reasons it was flagged.
/// Thumbnails load lazily with their size fixed in the markup, so a page of a thousand scans
/// is usable before every picture has arrived.

#include <filesystem>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"
#include "qc/flags.hpp"

namespace nc::qc {

struct PageContent {
  std::string results;  ///< the results file, as named on the command line
  const Assessment* assessment = nullptr;
  std::vector<io::Region> regions;          ///< the label table, in colour order
  std::vector<bool> has_snapshot;           ///< per row: snapshot and thumbnail were written
  std::vector<std::string> snapshot_error;  ///< per row: why not, when asked for and missing
  std::vector<std::string> rules;           ///< the thresholds used, "name value"
};

/// \throws Error when the file cannot be written.
void write_qc_page(const PageContent& content, const std::filesystem::path& path);

}  // namespace nc::qc
