#pragma once
/// \file
/// The normative report: one self-contained HTML file with the cohort's composition, the
/// tables and SVG plots drawn by gnuplot (volume against age by sex with the normative
/// median and centile band, asymmetry indices, the models' calibration, Bland–Altman plots
/// when a comparison exists).

#include <filesystem>
#include <string>
#include <vector>

#include "norms/analyses.hpp"
#include "norms/cohort.hpp"
#include "norms/normative_model.hpp"
#include "norms/table.hpp"

namespace nc::norms {

struct ReportContent {
  std::string title;
  const Cohort* cohort = nullptr;
  const NormativeModel* model = nullptr;  ///< optional: curves and centile bands
  const Cohort* compared = nullptr;       ///< optional: the B of the agreement (Bland–Altman)
  std::vector<const Table*> tables;       ///< shown in this order; empty tables are left out
  Notes notes;
  std::vector<std::pair<std::string, std::string>> provenance;  ///< shown as a definition list
  std::string verdict;  ///< which model family fitted better (calibration section)
};

/// Scatter plots show at most this many scans per measure (an even sample).
inline constexpr std::size_t kMaxPlottedScans = 2000;

/// Draws the plots with gnuplot and writes the HTML file.
/// \throws Error when gnuplot is missing or fails, or the file cannot be written.
void write_report(const ReportContent& content, const std::filesystem::path& out);

}  // namespace nc::norms
