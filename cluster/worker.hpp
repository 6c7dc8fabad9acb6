#pragma once
/// \file
/// A worker: scans from a transport through a bounded oneTBB pipeline, read → preprocess →
/// infer → measure → deliver. At most `in_flight` scans are in the pipeline at once, which
/// bounds memory (about in_flight × the memory of one scan) while reading and preprocessing
/// of the next scans overlap the inference of the current one. Inference runs one scan at a
/// time: LibTorch spreads each forward pass over all of its threads already.

#include <array>
#include <atomic>

#include "cluster/transport.hpp"
#include "jobs/manifest.hpp"
#include "pipeline/scan_stages.hpp"

namespace nc::cluster {

struct WorkerOptions {
  int in_flight = 3;
  std::string host;
  int rank = 0;
};

/// Seconds spent per stage and bytes copied between host and device, summed over the scans a
/// worker processed.
struct StageTotals {
  std::array<double, pipeline::kStageCount> seconds{};
  kernels::TransferBytes transfers;  ///< host <-> device copies
  std::size_t scans = 0;
};

/// Processes rows until the transport has no more (a stopped coordinator hands out none;
/// scans in flight finish). Never throws for a scan's failure (that becomes a failed
/// record); throws only when taking a row or delivering a record fails, after the scans then
/// in flight have finished (their records are not delivered).
StageTotals run_worker(WorkerTransport& transport, const jobs::Manifest& manifest,
                       const pipeline::SegmentationModel& model, const pipeline::RunSettings& settings,
                       const WorkerOptions& options);

}  // namespace nc::cluster
