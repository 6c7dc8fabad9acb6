#pragma once
/// \file
/// The HDF5 cohort store (RESULTS.h5): one row per manifest scan, in manifest order, created
/// up front with status "pending"; each finished scan's record is written into its row and
/// flushed at once, so a killed run loses nothing already written and `--resume` knows what
/// is done. Layout: docs/hdf5-schema.md.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/volume.hpp"
#include "io/label_chunks.hpp"

namespace nc::io {

/// One column of the /scans table: text (variable-length UTF-8) or numbers (float64, NaN
/// for missing values).
struct TableColumn {
  std::string name;
  std::variant<std::vector<std::string>, std::vector<double>> values;
  std::size_t size() const;
};

/// One entry of the model's label table.
struct Region {
  int label = 0;
  std::string name;
  std::string hemisphere;  ///< "L", "R" or "-"; empty when a store another tool wrote has none
};

/// The QC measures a store holds under /qc/ (docs/hdf5-schema.md): the names of those with one
/// value per scan ([scans]) and of those with one per scan and region ([scans × regions]).
struct QcLayout {
  std::vector<std::string> per_scan, per_region;
  /// The same measures in any order (an opened store lists them as HDF5 does, by name).
  bool operator==(const QcLayout& other) const;
};

/// Where a row stands: not processed yet, measured, or failed with a reason.
enum class ScanStatus { Pending, Ok, Failed };
/// "pending", "ok" or "failed", as /scans/status stores it.
const char* status_name(ScanStatus status);

/// How many rows stand where.
struct StatusCounts {
  std::size_t ok = 0, failed = 0, pending = 0;
};
StatusCounts count_statuses(const std::vector<ScanStatus>& statuses);

/// The outcome of one scan, written into row `row`.
struct ScanRecord {
  std::size_t row = 0;
  bool ok = false;
  std::string error;  ///< the reason when !ok
  double icv_ml = std::numeric_limits<double>::quiet_NaN();
  double seconds = std::numeric_limits<double>::quiet_NaN();
  std::string host;
  int rank = 0;
  /// Per-region values by metric name (one value per region, region table order); a metric
  /// the store has but the record lacks stays NaN for this scan.
  std::map<std::string, std::vector<double>> metrics;
  /// QC measures by name: one value for a per-scan measure, one per region for a per-region one;
  /// a measure the store has but the record lacks stays NaN.
  std::map<std::string, std::vector<double>> qc;
  /// When the worker took the scan and when it had finished it, in Unix seconds (UTC), and its
  /// seconds per stage of the store's stage_names(); stored under /timing when the store has it.
  double started_at = std::numeric_limits<double>::quiet_NaN();
  double finished_at = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> stage_seconds;
  /// The label map in its stored form (io/label_chunks.hpp), stored under /labels/<scan_id>.
  std::optional<StoredLabels> labels;
};

/// Root attributes: tool version, git commit, model hash, configuration, times.
using Provenance = std::map<std::string, std::string>;

class CohortStore {
 public:
  /// Creates a new store. `scans` must contain a text column "scan_id"; every column has
  /// one value per scan. Status, error, icv_ml, seconds, host and rank columns are added; with
  /// `stage_names`, the /timing group (each scan's start, end and seconds per stage).
  /// \throws StoreError if the file exists or cannot be created, or the columns disagree.
  static CohortStore create(const std::filesystem::path& path, const std::vector<TableColumn>& scans,
                            const std::vector<Region>& regions, const std::vector<std::string>& metric_names,
                            const Provenance& provenance, const QcLayout& qc = {},
                            const std::vector<std::string>& stage_names = {});

  /// Opens an existing store read-write (for resume) or read-only. Read-only, a store needs only
  /// /scans/scan_id, /regions/label and name, and /metrics (another tool's file, written with
  /// h5py, is read as finished results); read-write also needs the columns `run` adds.
  /// \throws StoreError if the file is missing, not HDF5, or not a cohort store.
  enum class Mode { ReadOnly, ReadWrite };
  /// A read-write store holds a lock on its file until it is destroyed; a second writer is refused.
  static CohortStore open(const std::filesystem::path& path, Mode mode);

  /// The process id of a process writing `path` right now, if any (checked before --overwrite).
  static std::optional<long> writer_of(const std::filesystem::path& path);

  CohortStore(CohortStore&&) noexcept;
  CohortStore& operator=(CohortStore&&) noexcept;
  ~CohortStore();

  std::size_t scan_count() const;
  const std::vector<std::string>& scan_ids() const;
  const std::vector<Region>& regions() const;
  const std::vector<std::string>& metric_names() const;
  std::vector<std::string> scan_columns() const;
  /// The QC measures under /qc/; empty for a store written before QC or by another tool.
  const QcLayout& qc_layout() const;
  /// The stages /timing/stage_seconds has a column for; empty for a store without /timing.
  const std::vector<std::string>& stage_names() const;

  /// The status of every row; Ok for every row of a store without a status column (written by
  /// another tool). \throws StoreError on a status text other than the three of status_name().
  std::vector<ScanStatus> statuses() const;
  bool has_scan_column(const std::string& name) const;

  /// Writes one record into its row, label map first and status last, then flushes the file.
  /// \throws StoreError on a row out of range, a metric of the wrong length, an HDF5 failure,
  ///         or when the file at the store's path is no longer the one this store writes.
  void write(const ScanRecord& record);

  /// Sets (or replaces) a text attribute on the root group, e.g. the end time.
  void set_attribute(const std::string& name, const std::string& value);
  std::string attribute(const std::string& name) const;

  std::vector<std::string> read_text_column(const std::string& name) const;
  std::vector<double> read_number_column(const std::string& name) const;
  /// A [scans × regions] metric, row-major.
  std::vector<double> read_metric(const std::string& name) const;
  /// A QC measure: one value per scan, or [scans × regions] row-major.
  /// \throws StoreError when the store has no such measure.
  std::vector<double> read_qc(const std::string& name) const;
  /// A /timing dataset: "started_at" or "finished_at" (one value per scan) or "stage_seconds"
  /// ([scans × stages] row-major). \throws StoreError when the store has no /timing.
  std::vector<double> read_timing(const std::string& name) const;
  /// The stored label map of a scan, if one was written, decoded through HDF5's filters.
  std::optional<LabelVolume> read_labels(const std::string& scan_id) const;
  /// The same map in its stored form: the chunks copied raw (H5Dread_chunk), or re-encoded
  /// when another tool wrote them with other filters.
  std::optional<StoredLabels> read_stored_labels(const std::string& scan_id) const;

  /// The manifest's columns of /scans (every column but the record's), typed as stored.
  std::vector<TableColumn> read_scan_table() const;
  /// The record of one row as written (label map included, in stored form): the inverse of write().
  ScanRecord read_record(std::size_t row) const;

 private:
  struct Impl;
  explicit CohortStore(std::unique_ptr<Impl> impl);
  void write_qc_row(const ScanRecord& record);
  void write_timing_row(const ScanRecord& record);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nc::io
