#pragma once
/// \file
/// `neurocohort index`: from DICOM trees to a manifest. Walks the trees (any layout; DICOMDIR
/// files are skipped, the files they list are found by the walk), reads every file's header in
/// parallel, groups series by study, selects one series per study (dicom/selection.hpp), reads
/// its demographics (dicom/demographics.hpp) and names it by a pseudonym (dicom/pseudonym.hpp).

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dicom/demographics.hpp"
#include "dicom/pseudonym.hpp"
#include "dicom/selection.hpp"

namespace nc::dicom {

enum class Identifiers { Pseudonymised, Kept };

struct IndexOptions {
  std::vector<std::filesystem::path> roots;
  SelectionRules rules;
  Tag site_tag{0x0008, 0x0080};  ///< InstitutionName
  std::optional<SiteMap> site_map;
  Identifiers identifiers = Identifiers::Pseudonymised;
};

/// One manifest row: the chosen series of a study whose demographics are complete.
struct IndexedScan {
  std::string scan_id, study, subject;
  std::filesystem::path image;  ///< "<folder>#<SeriesInstanceUID>"
  std::string modality, sex, site;
  double age_years = 0;
  std::string study_uid, series_uid, patient_id;  ///< for the key file and --keep-identifiers
};

/// One line of index_report.tsv: a series and what became of it.
struct ReportRow {
  std::string study, scan_id, modality, series_number, description;
  std::size_t files = 0;
  std::string decision, reason;
};

struct IndexResult {
  std::vector<IndexedScan> scans;
  std::vector<ReportRow> report;
  std::vector<SkippedFile> skipped;
  std::size_t files = 0, studies = 0, series = 0;
};

struct IndexProgress {
  std::size_t done = 0, total = 0;
};

/// \throws UsageError when a root is not a folder.
IndexResult index_dicom(const IndexOptions& options, const Pseudonymizer& names,
                        const std::function<void(const IndexProgress&)>& progress = {});

/// Writes the manifest (`scan_id image modality age sex group site subject`, image paths
/// relative to the manifest's folder where they lie under it), index_report.tsv and
/// index_skipped.tsv beside it.
void write_index(const IndexResult& result, const std::filesystem::path& manifest, Identifiers identifiers);

/// Writes the pseudonym key (scan_id, study, subject and the UIDs and PatientID they stand
/// for), readable by its owner only. \throws Error when the file exists or cannot be written.
void write_key_file(const IndexResult& result, const std::filesystem::path& path);

}  // namespace nc::dicom
