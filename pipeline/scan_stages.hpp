#pragma once
/// \file
/// One scan through the stages of `neurocohort run`: read, preprocess, infer, measure. Each
/// stage takes the scan's ScanWork, does its part and records its time; the first failure is
/// kept as the scan's error and the later stages pass the scan on untouched, so a bad scan
/// becomes a `failed` row and never stops the cohort.

#include <array>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "io/cohort_store.hpp"
#include "io/image_io.hpp"
#include "jobs/manifest.hpp"
#include "kernels/common/backend.hpp"
#include "pipeline/inference.hpp"
#include "pipeline/measure.hpp"
#include "pipeline/preprocess.hpp"

namespace nc::pipeline {

/// The stages of one scan, in order; a scan's seconds and a run's totals are indexed by them.
enum class Stage : std::size_t { Read, Preprocess, Infer, Measure };
inline constexpr std::size_t kStageCount = 4;
inline constexpr std::array<const char*, kStageCount> kStageNames = {"read", "preprocess", "infer", "measure"};
constexpr std::size_t index_of(Stage stage) { return static_cast<std::size_t>(stage); }
/// The stage names as a store's /timing lists them.
inline std::vector<std::string> stage_names() { return {kStageNames.begin(), kStageNames.end()}; }

struct RunSettings {
  PreprocessParams preprocess{};
  SlidingWindowOptions window{};
  kernels::Backend backend = kernels::Backend::Cpu;
  std::optional<std::filesystem::path> export_nifti;  ///< also write <scan_id>_labels.nii.gz here
  io::ReadLimits read{};  ///< voxel budget, spacing bounds and the folder reads are confined to
  /// A scan whose files take longer than this to read fails (a hung filesystem, a blocking
  /// file); its reader thread is left behind. 0: no limit.
  double read_timeout_seconds = 600;
};

/// A scan on its way through the pipeline.
struct ScanWork {
  std::size_t row = 0;
  jobs::ScanEntry scan;
  std::optional<std::string> error;  ///< the first failure, "stage: reason"
  std::array<double, kStageCount> seconds{};
  kernels::TransferBytes transfers;  ///< host <-> device copies of all its stages
  double started_at = 0;  ///< Unix seconds when the worker took the scan

  ImageVolume image;                 ///< native grid
  std::optional<LabelVolume> truth;  ///< on the native grid
  PreprocessedScan preprocessed;    ///< released after inference
  double icv_ml = 0;
  LabelVolume labels;                             ///< the model's map on the native grid, until measured
  std::optional<io::StoredLabels> stored_labels;  ///< the same map in the store's form
  RegionMetrics metrics;
  /// QC measures by name (qc/measures.hpp): one value, or one per region; filled by the stages.
  std::map<std::string, std::vector<double>> qc;
};

void read_stage(ScanWork& work, const RunSettings& settings);
void preprocess_stage(ScanWork& work, const RunSettings& settings);
void infer_stage(ScanWork& work, const SegmentationModel& model, const RunSettings& settings);
void measure_stage(ScanWork& work, const SegmentationModel& model, const RunSettings& settings);

/// The record the store keeps for the scan (metrics named as in the HDF5 contract).
io::ScanRecord make_record(ScanWork& work, const std::string& host, int rank);

/// The metric names a record carries, in store order.
const std::vector<std::string>& metric_names();

/// The QC measures a record carries (qc::kMeasures), as the store lays them out.
io::QcLayout qc_layout();

}  // namespace nc::pipeline
