#pragma once
/// \file
/// The results file of a run: created new, replaced, or continued (`--resume`). A store that
/// continues an earlier run must describe the same cohort, regions, model and configuration;
/// otherwise its rows would mix two models while the provenance names one.

#include <filesystem>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"
#include "jobs/manifest.hpp"

namespace nc::jobs {

/// What to do when the results file exists already.
enum class ExistingResults { Refuse, Resume, Overwrite };

/// Everything a new results file is made of.
struct ResultsLayout {
  std::vector<io::Region> regions;
  std::vector<std::string> metric_names;
  io::QcLayout qc;
  std::vector<std::string> stage_names;
  /// Of the new run; a resumed store must hold the same "model_sha256", "model_metadata",
  /// "precision" and "window_plan".
  io::Provenance provenance;
};

/// The store at `path`: a new one, or the existing one when it may be resumed (its manifest,
/// label table, model, precision, QC measures and stages are those of this run).
/// \throws UsageError when `path` exists and `existing` is Refuse, when it cannot be resumed
///         (naming the difference), or when --overwrite would replace a file being written.
io::CohortStore open_results(const std::filesystem::path& path, const Manifest& manifest, const ResultsLayout& layout,
                             ExistingResults existing);

}  // namespace nc::jobs
