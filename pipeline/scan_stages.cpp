#include "pipeline/scan_stages.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <memory>
#include <sstream>
#include <thread>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "io/image_io.hpp"
#include "jobs/crash_journal.hpp"
#include "kernels/resample/resample.hpp"

namespace nc::pipeline {
namespace {

/// Runs one stage unless the scan already failed; times it, counts its host <-> device copies
/// into the scan's (a stage's kernels are called from the thread that runs it) and turns its
/// error into the scan's error, prefixed with the stage's name.
template <typename Body>
void run_stage(ScanWork& work, Stage stage, Body&& body) {
  if (work.error) return;
  const jobs::ScanInFlight in_flight(work.row);
  const auto start = std::chrono::steady_clock::now();
  const kernels::CountTransfersInto count_copies(work.transfers);
  try {
    body();
  } catch (const std::exception& e) {
    work.error = std::string(kStageNames[index_of(stage)]) + ": " + e.what();
  }
  work.seconds[index_of(stage)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// `body(backend)`; where the GPU runs out of memory for it (a very large scan, or many in
/// flight), `body` again with the CPU kernels and host memory for this scan only, with the
/// reason logged, as nnU-Net falls back per case. A CUDA model still runs the network in the
/// retry, one batch of windows on the device at a time; the memory the kernels' pool and
/// LibTorch's cache hold unused is released first, so that each can have the other's.
template <typename Body>
auto on_gpu_or_cpu(const ScanWork& work, kernels::Backend backend, const char* what, Body&& body) {
  if (backend != kernels::Backend::Cuda) return body(backend);
  try {
    return body(backend);
  } catch (const kernels::CudaOutOfMemory& e) {
    spdlog::warn("{}: {} ran out of GPU memory ({}); retrying it with the CPU kernels and host memory",
                 work.scan.scan_id, what, e.what());
    kernels::release_unused_device_memory();
    release_unused_inference_memory();
    return body(kernels::Backend::Cpu);
  }
}

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds;
  return text.str();
}

// Runs `read` on a thread of its own and waits at most `seconds` for it. A read blocked in the
// kernel (a hung network filesystem) cannot be cancelled: its thread is detached and left to
// finish or hang on its own, and the scan fails so that the cohort goes on.
template <typename T, typename Read>
T within_time_limit(double seconds, Read read) {
  if (!(seconds > 0)) return read();
  auto task = std::make_shared<std::packaged_task<T()>>(std::move(read));
  std::future<T> result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(std::chrono::duration<double>(seconds)) != std::future_status::ready)
    throw Error("the read did not finish within " + seconds_text(seconds) +
                " s (--read-timeout): a blocking file or a hung filesystem");
  return result.get();
}

std::vector<int> region_labels(const SegmentationModel& model) {
  std::vector<int> ids;
  for (const auto& l : model.metadata().labels) ids.push_back(l.id);
  return ids;
}

void record_image_qc(ScanWork& work, const qc::ImageMeasures& m) {
  work.qc["brain_share_of_head"] = {m.brain_share_of_head};
  work.qc["mask_border_share"] = {m.mask_border_share};
  work.qc["brain_median"] = {m.brain_median};
  work.qc["tissue_cnr"] = {m.tissue_cnr};
  work.qc["air_fraction"] = {m.air_fraction};
  work.qc["qc_seconds"] = {m.seconds};
}

void record_segmentation_qc(ScanWork& work, const qc::Confidence& confidence, const qc::RegionShapes& shapes) {
  work.qc["mean_max_probability"] = {confidence.mean_max_probability};
  work.qc["low_margin_fraction"] = {confidence.low_margin_fraction};
  work.qc["components"] = shapes.components;
  work.qc["outside_largest_share"] = shapes.outside_largest_share;
  work.qc["qc_seconds"][0] += confidence.seconds + shapes.seconds;
}

}  // namespace

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {"volume_ml", "dice", "precision", "recall", "hd95_mm",
                                                 "volume_similarity"};
  return names;
}

io::QcLayout qc_layout() {
  io::QcLayout layout;
  for (const auto& m : qc::kMeasures)
    (m.shape == qc::Shape::PerScan ? layout.per_scan : layout.per_region).emplace_back(m.name);
  return layout;
}

void read_stage(ScanWork& work, const RunSettings& settings) {
  run_stage(work, Stage::Read, [&] {
    const io::ReadLimits& limits = settings.read;
    const std::size_t row = work.row;
    work.image = within_time_limit<ImageVolume>(settings.read_timeout_seconds, [=, path = work.scan.image] {
      const jobs::ScanInFlight in_flight(row);
      return io::read_image(path, limits);
    });
    if (!work.scan.labels) return;
    LabelVolume truth = within_time_limit<LabelVolume>(settings.read_timeout_seconds, [=, path = *work.scan.labels] {
      const jobs::ScanInFlight in_flight(row);
      return io::read_label_image(path, limits);
    });
    // Expert labels drawn on the scan share its grid; anything else is brought onto it.
    if (!(truth.geometry == work.image.geometry))
      truth = kernels::resample_labels_onto(truth, work.image.geometry, kernels::Backend::Cpu);
    work.truth = std::move(truth);
  });
}

void preprocess_stage(ScanWork& work, const RunSettings& settings) {
  run_stage(work, Stage::Preprocess, [&] {
    // On the GPU the scan stays there, from the upload of its image to its native label map.
    work.preprocessed = on_gpu_or_cpu(work, settings.backend, "preprocessing", [&](kernels::Backend backend) {
      return backend == kernels::Backend::Cuda ? preprocess_on_device(work.image, work.scan.modality, settings.preprocess)
                                               : preprocess(work.image, work.scan.modality, settings.preprocess, backend);
    });
    work.icv_ml = work.preprocessed.icv_ml;
    record_image_qc(work, work.preprocessed.image_qc);
  });
}

void infer_stage(ScanWork& work, const SegmentationModel& model, const RunSettings& settings) {
  run_stage(work, Stage::Infer, [&] {
    const Segmentation segmentation = on_gpu_or_cpu(work, settings.backend, "segmentation", [&](kernels::Backend b) {
      if (b == kernels::Backend::Cpu) bring_to_host(work.preprocessed);  // segment() follows the image
      return segment(model, work.preprocessed, settings.window, b);
    });
    // Components are counted on the 1 mm grid: the same anatomy as the native map, a fraction of its voxels.
    record_segmentation_qc(work, segmentation.confidence, qc::region_shapes(segmentation.labels, region_labels(model)));
    // Back to the scan's own grid, so the stored map overlays the original image.
    work.labels = on_gpu_or_cpu(work, settings.backend, "label resampling", [&](kernels::Backend backend) {
      if (backend == kernels::Backend::Cpu || !segmentation.on_device)
        return kernels::resample_labels_onto(segmentation.labels, work.image.geometry, backend);
      // The scan's one download of a native-size volume: its label map.
      LabelVolume native(work.image.geometry);
      kernels::resample_labels_onto(*segmentation.on_device, native.geometry)
          .voxels.download(std::span<std::uint16_t>(native.voxels));
      return native;
    });
  });
  // Also after a failure: a scan's device memory must not wait for the end of the pipeline.
  work.preprocessed = {};
}

void measure_stage(ScanWork& work, const SegmentationModel& model, const RunSettings& settings) {
  run_stage(work, Stage::Measure, [&] {
    const std::vector<int> regions = region_labels(model);
    // Counted where the map is by now, on the host, whatever the backend: counting on the GPU
    // would upload the native map (and the expert labels) again, 131 MB or more for a CT, to
    // save a pass of tens of milliseconds that also yields the boxes HD95 works in.
    work.metrics = work.truth ? measure_against_truth(work.labels, *work.truth, regions, kernels::Backend::Cpu)
                              : measure_volumes(work.labels, regions, kernels::Backend::Cpu);
    if (settings.export_nifti)
      io::write_nifti(work.labels, *settings.export_nifti / (work.scan.scan_id + "_labels.nii.gz"));
    // The store's form is made here, on the worker's cores, so the single writer only copies bytes.
    work.stored_labels = io::to_stored_form(work.labels);
    work.labels = {};
  });
}

io::ScanRecord make_record(ScanWork& work, const std::string& host, int rank) {
  io::ScanRecord record;
  record.row = work.row;
  record.host = host;
  record.rank = rank;
  record.seconds = 0;
  for (double s : work.seconds) record.seconds += s;
  record.stage_seconds.assign(work.seconds.begin(), work.seconds.end());
  record.started_at = work.started_at;
  record.finished_at = now_unix_seconds();
  if (work.error) {
    record.error = *work.error;
    return record;
  }
  record.ok = true;
  record.icv_ml = work.icv_ml;
  const RegionMetrics& m = work.metrics;
  record.metrics["volume_ml"] = m.volume_ml;
  if (!m.dice.empty()) {
    record.metrics["dice"] = m.dice;
    record.metrics["precision"] = m.precision;
    record.metrics["recall"] = m.recall;
    record.metrics["hd95_mm"] = m.hd95_mm;
    record.metrics["volume_similarity"] = m.volume_similarity;
  }
  record.qc = std::move(work.qc);
  record.labels = std::move(work.stored_labels);
  return record;
}

}  // namespace nc::pipeline
