// `neurocohort run`: a whole cohort into one HDF5 cohort store. The coordinator (this file)
// owns the store and the progress; a worker (cluster/worker.hpp) runs the scans. In one
// process they talk through the in-process transport.
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/signals.hpp"
#include "cli/version.hpp"
#include "cluster/mpi_transport.hpp"
#include "cluster/transport.hpp"
#include "cluster/worker.hpp"
#include "core/clock.hpp"
#include "io/file_hash.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

struct RunCliOptions {
  fs::path manifest;
  fs::path out;
  fs::path model = NC_DEFAULT_MODEL;
  std::optional<fs::path> model_metadata;
  std::string device = "auto";
  std::string precision = "fp32";
  int threads = 0;
  int in_flight = 3;
  int batch = 2;
  bool resume = false;
  bool overwrite = false;
  bool largest_first = false;
  bool coordinator_works = false;
  bool allow_external_paths = false;
  std::optional<fs::path> export_nifti;
  std::optional<fs::path> timings;
  std::size_t progress_every = 10;
  double progress_seconds = 60;
};

/// This process's command line, for provenance (Linux: /proc/self/cmdline, NUL-separated).
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

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

/// A store that continues an earlier run must describe the same cohort and the same regions.
void check_resumable(const io::CohortStore& store, const jobs::Manifest& manifest,
                     const std::vector<io::Region>& regions, const fs::path& path) {
  std::vector<std::string> ids;
  for (const auto& s : manifest.scans) ids.push_back(s.scan_id);
  if (store.scan_ids() != ids)
    throw UsageError(path.string() + " was made from another manifest (its scan_ids differ); cannot --resume it");
  const auto& had = store.regions();
  const bool same = had.size() == regions.size() &&
                    std::equal(had.begin(), had.end(), regions.begin(), [](const io::Region& a, const io::Region& b) {
                      return a.label == b.label && a.name == b.name;
                    });
  if (!same) throw UsageError(path.string() + " was made with another model's label table; cannot --resume it");
}

io::CohortStore open_or_create_store(const RunCliOptions& options, const jobs::Manifest& manifest,
                                     const pipeline::SegmentationModel& model) {
  const auto regions = regions_of(model);
  if (fs::exists(options.out)) {
    if (options.resume) {
      auto store = io::CohortStore::open(options.out, io::CohortStore::Mode::ReadWrite);
      check_resumable(store, manifest, regions, options.out);
      return store;
    }
    if (!options.overwrite)
      throw UsageError(options.out.string() + " exists: add --resume to continue it, or --overwrite to start again");
    fs::remove(options.out);
  }
  const io::Provenance provenance = {
      {"tool", "neurocohort"},
      {"tool_version", kVersion},
      {"git_commit", kGitCommit},
      {"model_path", fs::absolute(options.model).string()},
      {"model_sha256", io::sha256_file(options.model)},
      {"model_metadata", model.metadata().json},
      {"precision", pipeline::precision_name(model.precision())},
      {"configuration", command_line()},
      {"manifest", fs::absolute(options.manifest).string()},
      {"start_time", now_iso8601()},
  };
  return io::CohortStore::create(options.out, manifest.table_columns(), regions, pipeline::metric_names(), provenance);
}

std::vector<std::size_t> rows_to_do(const io::CohortStore& store) {
  const auto statuses = store.statuses();
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < statuses.size(); ++r)
    if (statuses[r] != "ok") rows.push_back(r);  // pending, and failed scans get another try
  return rows;
}

void log_stage_times(const cluster::StageTotals& totals) {
  if (totals.scans == 0) return;
  std::string text;
  for (std::size_t s = 0; s < totals.seconds.size(); ++s)
    text +=
        fmt::format("{}{} {:.2f}", s ? ", " : "", pipeline::kStageNames[s], totals.seconds[s] / double(totals.scans));
  spdlog::info("run: seconds per scan by stage: {} ({} scans)", text, totals.scans);
}

/// The run's throughput as JSON, for benchmark harnesses (bench/end_to_end.py): wall time, scans
/// per minute, seconds per scan by stage (summed over this process's workers) and the writer's
/// seconds per record.
void write_timings(const fs::path& path, const cluster::StageTotals& totals, std::size_t records, double wall_seconds,
                   double write_seconds) {
  nlohmann::json stages = nlohmann::json::object();
  for (std::size_t s = 0; s < totals.seconds.size(); ++s)
    stages[pipeline::kStageNames[s]] = totals.scans ? totals.seconds[s] / double(totals.scans) : 0.0;
  stages["write"] = records ? write_seconds / double(records) : 0.0;
  const nlohmann::json j = {{"scans", records},
                            {"scans_timed", totals.scans},
                            {"wall_seconds", wall_seconds},
                            {"scans_per_minute", wall_seconds > 0 ? 60.0 * double(records) / wall_seconds : 0.0},
                            {"stage_seconds_per_scan", stages}};
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) throw Error("cannot write the timings file " + path.string());
}

/// Rows in the order they are handed out: manifest order, or largest image file first so that
/// the slowest scans do not end up alone at the end of a distributed run.
std::vector<std::size_t> order_rows(std::vector<std::size_t> rows, const jobs::Manifest& manifest, bool largest_first) {
  if (!largest_first) return rows;
  std::vector<std::uintmax_t> bytes(manifest.scans.size());
  for (std::size_t r : rows) {
    std::error_code ec;
    bytes[r] = fs::file_size(manifest.scans[r].image, ec);
  }
  std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return bytes[a] > bytes[b]; });
  return rows;
}

struct Prepared {
  jobs::Manifest manifest;
  pipeline::RunSettings settings;
  std::optional<pipeline::SegmentationModel> model;
};

/// What every rank needs: the manifest, the backend (a GPU chosen by node-local rank), the model.
Prepared prepare(const RunCliOptions& options, int local_rank) {
  Prepared p{
      jobs::load_manifest(options.manifest, {.allow_external_paths = options.allow_external_paths}), {}, std::nullopt};
  p.settings.backend = kernels::choose_backend(options.device);
  if (p.settings.backend == kernels::Backend::Cuda) kernels::bind_cuda_device(local_rank);
  p.settings.window.batch = options.batch;
  pipeline::set_inference_threads(options.threads);
  // The model is checked before any scan: a bad model fails the run at once.
  p.model.emplace(pipeline::SegmentationModel::load(
      options.model, options.model_metadata,
      p.settings.backend == kernels::Backend::Cuda ? pipeline::Device::Cuda : pipeline::Device::Cpu,
      *pipeline::precision_named(options.precision)));
  if (options.export_nifti) {
    fs::create_directories(*options.export_nifti);
    p.settings.export_nifti = options.export_nifti;
  }
  return p;
}

int coordinate(const RunCliOptions& options, Prepared& p, const cluster::MpiSession* mpi) {
  std::optional<io::CohortStore> store;
  try {
    store.emplace(open_or_create_store(options, p.manifest, *p.model));
  } catch (...) {
#if NEUROCOHORT_MPI
    if (mpi) mpi->broadcast_ready(false);
#endif
    throw;
  }
#if NEUROCOHORT_MPI
  if (mpi) mpi->broadcast_ready(true);
#endif
  const std::vector<std::size_t> rows = order_rows(rows_to_do(*store), p.manifest, options.largest_first);
  spdlog::info("run: {} scans, {} to do ({} done before), model {} in {}, {}{}", p.manifest.scans.size(),
               rows.size(), p.manifest.scans.size() - rows.size(), options.model.filename().string(),
               pipeline::precision_name(p.model->precision()),
               p.settings.backend == kernels::Backend::Cuda ? "GPU" : "CPU",
               mpi ? fmt::format(", {} MPI ranks", mpi->size()) : "");

  const auto& stop = install_stop_handlers();
  const auto run_start = std::chrono::steady_clock::now();
  Progress progress("run", rows.size(), options.progress_every, options.progress_seconds);
  double write_seconds = 0;  // the single writer's load, reported for capacity planning
  cluster::WorkQueue queue(
      rows,
      [&](io::ScanRecord record) {
        if (!record.ok) spdlog::error("run: {} failed: {}", p.manifest.scans[record.row].scan_id, record.error);
        const bool failed = !record.ok;
        const auto start = std::chrono::steady_clock::now();
        store->write(record);
        write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        progress.scan_done(failed);
      },
      &stop);
  const cluster::WorkerOptions worker{.in_flight = options.in_flight, .host = host_name(), .rank = 0};
  cluster::StageTotals totals;
  if (!mpi) {
    cluster::LocalTransport transport(queue);
    totals = cluster::run_worker(transport, p.manifest, *p.model, p.settings, worker);
  } else {
#if NEUROCOHORT_MPI
    std::thread local;
    if (options.coordinator_works)
      local = std::thread([&] {
        cluster::LocalTransport transport(queue);
        totals = cluster::run_worker(transport, p.manifest, *p.model, p.settings, worker);
      });
    cluster::serve_workers(*mpi, queue);
    if (local.joinable()) local.join();
#endif
  }
  progress.finish();
  store->set_attribute("end_time", now_iso8601());
  log_stage_times(totals);
  if (options.timings)
    write_timings(*options.timings, totals, progress.done(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count(), write_seconds);
  if (progress.done() > 0)
    spdlog::info("run: writer {:.2f} s per record ({} records)", write_seconds / double(progress.done()),
                 progress.done());

  const auto statuses = store->statuses();
  const auto count = [&](const char* s) { return std::count(statuses.begin(), statuses.end(), s); };
  spdlog::info("run: {} ok, {} failed, {} pending in {}", count("ok"), count("failed"), count("pending"),
               options.out.string());
  // A stop that came after the last scan was handed out changes nothing: the run is complete.
  if (stop.load() && count("pending") > 0) {
    spdlog::warn("run: stopped by signal {}; scans in flight were finished and saved. Continue with --resume.",
                 stop_signal());
    return 128 + stop_signal();
  }
  return count("failed") ? kExitScansFailed : kExitOk;
}

#if NEUROCOHORT_MPI
/// A worker rank: scans from rank 0, records back to it. Its stop signal is the coordinator's
/// (mpirun forwards SIGINT and SIGTERM to every rank): rank 0 stops handing out rows.
int work(const RunCliOptions& options, Prepared& p, const cluster::MpiSession& mpi) {
  (void)install_stop_handlers();
  if (!mpi.broadcast_ready(false)) return kExitUsage;  // rank 0 reports why
  cluster::MpiWorkerTransport transport(mpi);
  const auto totals = cluster::run_worker(transport, p.manifest, *p.model, p.settings,
                                          {.in_flight = options.in_flight, .host = host_name(), .rank = mpi.rank()});
  spdlog::info("run: rank {} processed {} scans", mpi.rank(), totals.scans);
  return kExitOk;
}
#endif

int run_cohort(const RunCliOptions& options) {
#if NEUROCOHORT_MPI
  const auto mpi = cluster::MpiSession::start_if_launched();
  if (mpi && mpi->size() > 1) {
    try {
      Prepared p = prepare(options, mpi->local_rank());
      return mpi->rank() == 0 ? coordinate(options, p, mpi.get()) : work(options, p, *mpi);
    } catch (const Error& e) {
      // One failing rank must not leave the others waiting for it.
      std::cerr << "neurocohort: error: " << e.what() << " (rank " << mpi->rank() << ")\n";
      mpi->abort(kExitUsage);
    }
  }
#endif
  Prepared p = prepare(options, 0);
  return coordinate(options, p, nullptr);
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<RunCliOptions>();
  auto* cmd = app.add_subcommand("run", "Segment and measure every scan of a manifest into an HDF5 cohort store");
  cmd->add_option("manifest", options->manifest, "Cohort manifest (TSV)")->required();
  cmd->add_option("--out", options->out, "Results file (HDF5)")->required();
  cmd->add_option("--model", options->model, "TorchScript segmentation model")->capture_default_str();
  cmd->add_option("--model-metadata", options->model_metadata,
                  "Sidecar metadata JSON for a model without embedded metadata.json");
  cmd->add_option("--device", options->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", options->precision, "Network arithmetic by autocast (fp16: CUDA only)")
      ->check(CLI::IsMember(pipeline::precision_names()))
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--in-flight", options->in_flight, "Scans in the pipeline at once (bounds memory)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--batch", options->batch, "Sliding windows per forward pass")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_flag("--resume", options->resume, "Continue an interrupted run: skip scans already done");
  cmd->add_flag("--overwrite", options->overwrite, "Replace an existing results file");
  cmd->add_flag("--allow-external-paths", options->allow_external_paths,
                "Accept image and label paths outside the manifest's folder (absolute paths of split manifests)");
  cmd->add_flag("--largest-first", options->largest_first, "Hand out the largest image files first");
  cmd->add_flag("--coordinator-works", options->coordinator_works,
                "Under MPI: rank 0 also processes scans (by default it only coordinates)");
  cmd->add_option("--export-nifti", options->export_nifti, "Also write each label map as NIfTI into this folder");
  cmd->add_option("--timings", options->timings,
                  "Write throughput as JSON: wall time, scans per minute, seconds per scan by stage");
  cmd->add_option("--progress-every", options->progress_every, "Without a terminal: log progress every N scans")
      ->capture_default_str();
  cmd->add_option("--progress-seconds", options->progress_seconds, "... or every S seconds")->capture_default_str();
  cmd->callback([options, &action] { action = [options] { return run_cohort(*options); }; });
}

}  // namespace nc::cli
