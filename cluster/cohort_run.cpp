#include "cluster/cohort_run.hpp"

#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cluster/mpi_launch.hpp"
#include "cluster/mpi_transport.hpp"
#include "cluster/transport.hpp"
#include "cluster/worker.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "io/file_hash.hpp"
#include "jobs/crash_journal.hpp"
#include "jobs/progress.hpp"
#include "jobs/stop_signals.hpp"

namespace nc::cluster {
namespace {

namespace fs = std::filesystem;

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

std::vector<io::Region> regions_of(const pipeline::SegmentationModel& model) {
  std::vector<io::Region> regions;
  for (const auto& l : model.metadata().labels) regions.push_back({l.id, l.name, l.hemisphere});
  return regions;
}

/// The window plan as provenance records it: a resumed or merged file must not mix two plans.
std::string window_plan_text(const pipeline::SlidingWindowOptions& window) {
  return window.plan == pipeline::WindowPlan::Whole ? "whole" : fmt::format("windows, overlap {}", window.overlap);
}

/// What the results file records about how it was made.
io::Provenance provenance_of(const CohortRunOptions& options, const pipeline::SegmentationModel& model) {
  return {
      {"tool", "neurocohort"},
      {"tool_version", options.tool_version},
      {"git_commit", options.git_commit},
      {"model_path", fs::absolute(options.model).string()},
      {"model_sha256", io::sha256_file(options.model)},
      {"model_metadata", model.metadata().json},
      {"precision", pipeline::precision_name(model.precision())},
      {"window_plan", window_plan_text(options.window)},
      {"configuration", options.command_line},
      {"manifest", fs::absolute(options.manifest).string()},
      {"start_time", now_iso8601()},
  };
}

jobs::ResultsLayout results_layout(const CohortRunOptions& options, const pipeline::SegmentationModel& model) {
  return {regions_of(model), pipeline::metric_names(), pipeline::qc_layout(), pipeline::stage_names(),
          provenance_of(options, model)};
}

void log_stage_times(const StageTotals& totals) {
  if (totals.scans == 0) return;
  std::string text;
  for (std::size_t s = 0; s < totals.seconds.size(); ++s)
    text +=
        fmt::format("{}{} {:.2f}", s ? ", " : "", pipeline::kStageNames[s], totals.seconds[s] / double(totals.scans));
  spdlog::info("run: seconds per scan by stage: {} ({} scans)", text, totals.scans);
  const auto& t = totals.transfers;
  if (t.host_to_device + t.device_to_host > 0)
    spdlog::info("run: GPU copies per scan: {:.1f} MB to the device, {:.1f} MB back",
                 double(t.host_to_device) / 1e6 / double(totals.scans), double(t.device_to_host) / 1e6 / double(totals.scans));
}

/// The run's throughput as JSON, for benchmark harnesses (bench/end_to_end.py): wall time, scans
/// per minute, seconds per scan by stage and bytes copied per scan between host and device
/// (both summed over this process's workers), and the writer's seconds per record.
nlohmann::json per_scan(const kernels::TransferBytes& bytes, std::size_t scans) {
  const auto mean = [&](std::uint64_t total) { return scans ? double(total) / double(scans) : 0.0; };
  return {{"host_to_device", mean(bytes.host_to_device)}, {"device_to_host", mean(bytes.device_to_host)}};
}

void write_timings(const fs::path& path, const StageTotals& totals, std::size_t records, double wall_seconds,
                   double write_seconds) {
  nlohmann::json stages = nlohmann::json::object();
  for (std::size_t s = 0; s < totals.seconds.size(); ++s)
    stages[pipeline::kStageNames[s]] = totals.scans ? totals.seconds[s] / double(totals.scans) : 0.0;
  stages["write"] = records ? write_seconds / double(records) : 0.0;
  const nlohmann::json j = {{"scans", records},
                            {"scans_timed", totals.scans},
                            {"wall_seconds", wall_seconds},
                            {"scans_per_minute", wall_seconds > 0 ? 60.0 * double(records) / wall_seconds : 0.0},
                            {"stage_seconds_per_scan", stages},
                            {"transfer_bytes_per_scan", per_scan(totals.transfers, totals.scans)}};
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) throw Error("cannot write the timings file " + path.string(), Cause::Runtime);
}

struct Prepared {
  jobs::Manifest manifest;
  pipeline::RunSettings settings;
  std::optional<pipeline::SegmentationModel> model;
};

// Output folders are checked before any scan: an unwritable one must not surface after hours.
void require_writable_folder(const fs::path& folder, const char* option) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec || ::access(folder.c_str(), W_OK) != 0)
    throw UsageError(fmt::format("{} {}: the folder cannot be created or written", option, folder.string()));
}

/// Fault injection for the tests of failure handling: NEUROCOHORT_FAULT=setup@R makes rank R
/// fail during setup with an exception that is not an nc::Error.
void inject_setup_fault(int rank) {
  const char* fault = std::getenv("NEUROCOHORT_FAULT");
  if (fault && std::string(fault) == "setup@" + std::to_string(rank))
    throw std::runtime_error("injected fault (NEUROCOHORT_FAULT=" + std::string(fault) + ")");
}

/// The precision of the results file that --resume continues; none when there is no such file
/// (or it cannot be read: opening the store for the run then says why).
std::optional<pipeline::Precision> resumed_precision(const CohortRunOptions& options) {
  if (options.existing != jobs::ExistingResults::Resume || !fs::exists(options.out)) return std::nullopt;
  try {
    return pipeline::precision_named(
        io::CohortStore::open(options.out, io::CohortStore::Mode::ReadOnly).attribute("precision"));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// The network's precision; `--precision auto` (the default) resolves here, the same on every
/// rank: the precision of the file being resumed, so that a run resumed on another kind of node
/// continues it; else bf16 where every rank runs on a CPU that computes it natively, and fp32
/// elsewhere, on CUDA too. On such a CPU bf16 took 0.72× fp32's inference time, with mean Dice
/// per modality within 0.0001 of fp32's and no region's beyond 0.0004, on held-out synthetic
/// scans (docs/models.md); a CPU without it would emulate bf16, slower than float32.
pipeline::Precision resolve_precision(const CohortRunOptions& options, kernels::Backend backend,
                                      const MpiSession* mpi) {
  if (const auto named = pipeline::precision_named(options.precision)) return *named;
  std::optional<pipeline::Precision> resumed;
  if (!mpi || mpi->rank() == 0) resumed = resumed_precision(options);
  bool native_bf16 = backend == kernels::Backend::Cpu && pipeline::cpu_computes_bf16();
  if (mpi) {  // rank 0's file, as the enum's value (-1: none)
    const int value = mpi->coordinator_value(resumed ? static_cast<int>(*resumed) : -1);
    resumed = value < 0 ? std::nullopt : std::optional(static_cast<pipeline::Precision>(value));
    native_bf16 = mpi->on_every_rank(native_bf16);
  }
  if (resumed) return *resumed;
  return native_bf16 ? pipeline::Precision::BFloat16 : pipeline::Precision::Float32;
}

/// What every rank needs: the manifest, the backend (a GPU chosen by node-local rank), the model.
Prepared prepare(const CohortRunOptions& options, int rank, int local_rank, const MpiSession* mpi) {
  inject_setup_fault(rank);
  if (options.export_nifti) require_writable_folder(*options.export_nifti, "--export-nifti");
  if (options.timings) require_writable_folder(fs::absolute(*options.timings).parent_path(), "--timings");
  require_writable_folder(fs::absolute(options.out).parent_path(), "--out");
  jobs::record_crashes_in(jobs::crash_journal_path(options.out, rank));
  Prepared p{
      jobs::load_manifest(options.manifest, {.allow_external_paths = options.allow_external_paths}), {}, std::nullopt};
  p.settings.read.max_voxels = options.max_voxels;
  p.settings.preprocess.max_voxels = options.max_voxels;
  if (!options.allow_external_paths) p.settings.read.confine_to = p.manifest.path.parent_path();
  p.settings.read_timeout_seconds = options.read_timeout_seconds;
  p.settings.backend = kernels::choose_backend(options.device);
  if (options.device == "auto" && p.settings.backend == kernels::Backend::Cuda && !pipeline::libtorch_sees_cuda()) {
    // A GPU node whose LibTorch is CPU-only: the network cannot follow the scan onto the GPU,
    // and --device auto means "wherever it all runs", so everything stays on the CPU.
    spdlog::warn("run: this LibTorch sees no CUDA device although the kernels do; --device auto runs on the CPU");
    p.settings.backend = kernels::Backend::Cpu;
  }
  // run_cohort bound the GPU before MPI started where the launcher named the local rank.
  if (p.settings.backend == kernels::Backend::Cuda && kernels::bound_cuda_device() < 0)
    kernels::bind_cuda_device(local_rank);
  p.settings.window = options.window;
  pipeline::set_inference_threads(options.threads);
  // The model is checked before any scan: a bad model fails the run at once.
  p.model.emplace(pipeline::SegmentationModel::load(
      options.model, options.model_metadata,
      p.settings.backend == kernels::Backend::Cuda ? pipeline::Device::Cuda : pipeline::Device::Cpu,
      resolve_precision(options, p.settings.backend, mpi)));
  p.settings.export_nifti = options.export_nifti;
  return p;
}

/// Opens the store and tells the other ranks whether that worked (they wait for it).
io::CohortStore open_store_for_all(const CohortRunOptions& options, const Prepared& p, const MpiSession* mpi) {
  try {
    auto store = jobs::open_results(options.out, p.manifest, results_layout(options, *p.model), options.existing);
    if (mpi) mpi->announce(MpiSession::StoreState::Open);
    return store;
  } catch (...) {
    if (mpi) mpi->announce(MpiSession::StoreState::Failed);
    throw;
  }
}

/// The single process, or rank 0: the store, the work list, the records, the progress.
RunSummary coordinate(const CohortRunOptions& options, Prepared& p, const MpiSession* mpi) {
  io::CohortStore store = open_store_for_all(options, p, mpi);
  jobs::fail_crashed_rows(store, p.manifest, options.out, options.crashed);
  const std::vector<std::size_t> rows =
      jobs::order_rows(jobs::rows_to_do(store, options.crashed), p.manifest, options.order);
  spdlog::info("run: {} scans, {} to do ({} done before), model {} in {}, {}{}", p.manifest.scans.size(), rows.size(),
               p.manifest.scans.size() - rows.size(), options.model.filename().string(),
               pipeline::precision_name(p.model->precision()),
               p.settings.backend == kernels::Backend::Cuda ? "GPU" : "CPU",
               mpi ? fmt::format(", {} MPI ranks", mpi->size()) : "");

  const auto& stop = jobs::install_stop_handlers();
  const Stopwatch wall;
  jobs::Progress progress("run", rows.size(), options.progress_every, options.progress_seconds);
  double write_seconds = 0;  // the single writer's load, reported for capacity planning
  WorkQueue queue(
      rows,
      [&](io::ScanRecord record) {
        if (!record.ok) spdlog::error("run: {} failed: {}", p.manifest.scans[record.row].scan_id, record.error);
        const Stopwatch writing;
        store.write(record);
        write_seconds += writing.seconds();
        progress.scan_done(!record.ok);
      },
      &stop);
  const WorkerOptions worker{.in_flight = options.in_flight, .host = host_name(), .rank = 0};
  const auto run_local_worker = [&] {
    LocalTransport transport(queue);
    return run_worker(transport, p.manifest, *p.model, p.settings, worker);
  };
  StageTotals totals;
  if (!mpi) {
    totals = run_local_worker();
  } else {
    std::thread local;
    if (options.coordinator_works) local = std::thread([&] { totals = run_local_worker(); });
    serve_workers(*mpi, queue);
    if (local.joinable()) local.join();
  }
  progress.finish();
  store.set_attribute("end_time", now_iso8601());
  log_stage_times(totals);
  if (options.timings) write_timings(*options.timings, totals, progress.done(), wall.seconds(), write_seconds);
  if (progress.done() > 0)
    spdlog::info("run: writer {:.4f} s per record ({} records)", write_seconds / double(progress.done()),
                 progress.done());

  const io::StatusCounts counts = io::count_statuses(store.statuses());
  spdlog::info("run: {} ok, {} failed, {} pending in {}", counts.ok, counts.failed, counts.pending,
               options.out.string());
  RunSummary summary{counts.ok, counts.failed, counts.pending};
  // A stop that came after the last scan was handed out changes nothing: the run is complete.
  if (stop.load() && counts.pending > 0) {
    spdlog::warn("run: stopped by signal {}; scans in flight were finished and saved. Continue with --resume.",
                 jobs::stop_signal());
    summary.stop_signal = jobs::stop_signal();
  }
  return summary;
}

/// A worker rank: scans from rank 0, records back to it. Its stop signal is the coordinator's
/// (mpirun forwards SIGINT and SIGTERM to every rank): rank 0 stops handing out rows.
RunSummary work(const CohortRunOptions& options, Prepared& p, const MpiSession& mpi) {
  (void)jobs::install_stop_handlers();
  if (!mpi.coordinator_ready()) return {.coordinator_failed = true};  // rank 0 reports why
  MpiWorkerTransport transport(mpi);
  const auto totals = run_worker(transport, p.manifest, *p.model, p.settings,
                                 {.in_flight = options.in_flight, .host = host_name(), .rank = mpi.rank()});
  spdlog::info("run: rank {} processed {} scans", mpi.rank(), totals.scans);
  return {};
}

RunSummary run_as_rank(const CohortRunOptions& options, const MpiSession& mpi) {
  try {
    Prepared p = prepare(options, mpi.rank(), mpi.local_rank(), &mpi);
    return mpi.rank() == 0 ? coordinate(options, p, &mpi) : work(options, p, mpi);
  } catch (const std::exception& e) {
    // One failing rank must not leave the others waiting for it, whatever the failure: an
    // nc::Error, a filesystem error, bad_alloc, an HDF5 failure on rank 0.
    std::cerr << "neurocohort: error: " << e.what() << " (rank " << mpi.rank() << ")\n";
    mpi.abort(exit_status(exit_code_of(e)));
  } catch (...) {
    std::cerr << "neurocohort: error: an unknown failure (rank " << mpi.rank() << ")\n";
    mpi.abort(exit_status(ExitCode::Runtime));
  }
}

}  // namespace

RunSummary run_cohort(const CohortRunOptions& options) {
  // --threads caps the kernels' and the pipeline's oneTBB threads as well as LibTorch's: with
  // LibTorch alone capped, "one thread" kept both cores of this machine busy with the other
  // scans' stages, and one rank per core oversubscribed the node.
  std::optional<tbb::global_control> tbb_threads;
  if (options.threads > 0)
    tbb_threads.emplace(tbb::global_control::max_allowed_parallelism, std::size_t(options.threads));
  // The GPU is chosen before MPI starts: a CUDA-aware MPI opens a context on the current
  // device, which would be device 0 for every rank of the node.
  const bool may_use_gpu = options.device == "cuda" || (options.device == "auto" && pipeline::libtorch_sees_cuda());
  if (const auto local_rank = detail::launcher_local_rank(); local_rank && may_use_gpu)
    kernels::bind_cuda_device(*local_rank);
  const auto mpi = MpiSession::start_if_launched();
  if (mpi && mpi->size() > 1) return run_as_rank(options, *mpi);
  Prepared p = prepare(options, 0, 0, nullptr);
  return coordinate(options, p, nullptr);
}

}  // namespace nc::cluster
