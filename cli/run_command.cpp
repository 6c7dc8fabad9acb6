// `neurocohort run`: a whole cohort into one HDF5 cohort store. The coordinator (this file)
// owns the store and the progress; a worker (cluster/worker.hpp) runs the scans. In one
// process they talk through the in-process transport.
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "cli/commands.hpp"
#include "cli/install_paths.hpp"
#include "cli/progress.hpp"
#include "cli/signals.hpp"
#include "cli/version.hpp"
#include "cluster/mpi_transport.hpp"
#include "cluster/transport.hpp"
#include "cluster/worker.hpp"
#include "core/clock.hpp"
#include "io/file_hash.hpp"
#include "jobs/crash_journal.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

struct RunCliOptions {
  fs::path manifest;
  fs::path out;
  fs::path model = default_model_path();
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
  bool retry_crashed = false;
  std::int64_t max_voxels = io::ReadLimits{}.max_voxels;
  double read_timeout_seconds = pipeline::RunSettings{}.read_timeout_seconds;
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

/// What the results file records about how it was made.
io::Provenance provenance_of(const RunCliOptions& options, const pipeline::SegmentationModel& model) {
  return {
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
}

std::string shortened(const std::string& text) { return text.size() > 24 ? text.substr(0, 21) + "..." : text; }

std::string cell_text(const io::TableColumn& column, std::size_t row) {
  if (const auto* text = std::get_if<std::vector<std::string>>(&column.values)) return (*text)[row];
  const double v = std::get<std::vector<double>>(column.values)[row];
  return std::isnan(v) ? std::string("(empty)") : fmt::format("{}", v);
}

/// The manifest's rows as the store recorded them: a resumed run must not give a row another
/// image, age or sex than the rows already measured.
void check_same_manifest_rows(const io::CohortStore& store, const jobs::Manifest& manifest, const fs::path& path) {
  const auto stored = store.read_scan_table();
  const auto now = manifest.table_columns();
  const auto names = [](const std::vector<io::TableColumn>& columns) {
    std::vector<std::string> out;
    for (const auto& c : columns) out.push_back(c.name);
    std::sort(out.begin(), out.end());
    return out;
  };
  if (names(stored) != names(now))
    throw UsageError(path.string() + " was made from a manifest with other columns; cannot --resume it");
  for (const auto& column : now) {
    const auto& before =
        *std::find_if(stored.begin(), stored.end(), [&](const auto& c) { return c.name == column.name; });
    for (std::size_t r = 0; r < column.size(); ++r) {
      const std::string a = cell_text(before, r), b = cell_text(column, r);
      if (a != b)
        throw UsageError(
            fmt::format("{}: scan {} has {} '{}' in the results file but '{}' in the manifest; resume "
                        "with the manifest the run began with (or start a new results file)",
                        path.string(), manifest.scans[r].scan_id, column.name, a, b));
    }
  }
}

/// A store that continues an earlier run must describe the same cohort, regions, model and
/// configuration: otherwise its rows would mix two models while the provenance names one.
void check_resumable(const io::CohortStore& store, const jobs::Manifest& manifest,
                     const std::vector<io::Region>& regions, const fs::path& path, const io::Provenance& now) {
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
  for (const char* key : {"model_sha256", "model_metadata", "precision"}) {
    const std::string before = store.attribute(key);
    if (before != now.at(key))
      throw UsageError(fmt::format("{} was made with another {} ({} '{}', now '{}'); cannot --resume it", path.string(),
                                   std::string(key) == "precision" ? "precision" : "model", key, shortened(before),
                                   shortened(now.at(key))));
  }
  if (store.qc_layout() != pipeline::qc_layout())
    throw UsageError(path.string() +
                     " holds other QC measures (written by another neurocohort version); finish it with that "
                     "version, or start a new results file");
  check_same_manifest_rows(store, manifest, path);
}

io::CohortStore open_or_create_store(const RunCliOptions& options, const jobs::Manifest& manifest,
                                     const pipeline::SegmentationModel& model) {
  const auto regions = regions_of(model);
  const io::Provenance provenance = provenance_of(options, model);
  if (fs::exists(options.out)) {
    if (options.resume) {
      auto store = io::CohortStore::open(options.out, io::CohortStore::Mode::ReadWrite);
      check_resumable(store, manifest, regions, options.out, provenance);
      return store;
    }
    if (!options.overwrite)
      throw UsageError(options.out.string() + " exists: add --resume to continue it, or --overwrite to start again");
    if (const auto pid = io::CohortStore::writer_of(options.out))
      throw UsageError(
          fmt::format("{} is being written by process {}: --overwrite would pull it from under that run; "
                      "stop it first, or choose another --out",
                      options.out.string(), *pid));
    fs::remove(options.out);
  }
  jobs::remove_crash_journals(options.out);  // a journal of an earlier file of this name
  return io::CohortStore::create(options.out, manifest.table_columns(), regions, pipeline::metric_names(), provenance,
                                 pipeline::qc_layout());
}

/// Rows a crashed run left in its journals become failed rows, so that the file that crashed
/// the process is not read again (unless --retry-crashed).
void fail_crashed_rows(io::CohortStore& store, const jobs::Manifest& manifest, const fs::path& out, bool retry) {
  const auto crashed = jobs::read_crash_journals(out);
  const auto statuses = store.statuses();
  for (const auto& [row, signal] : crashed) {
    if (row >= statuses.size() || statuses[row] == "ok") continue;
    const std::string& id = manifest.scans[row].scan_id;
    if (retry) {
      spdlog::warn("run: {} crashed the process in an earlier run (signal {}); trying it again (--retry-crashed)", id,
                   signal);
      continue;
    }
    io::ScanRecord record;
    record.row = row;
    record.rank = -1;
    record.error = fmt::format("{} (signal {}, {}); --retry-crashed tries it again", jobs::kCrashedReason, signal,
                               ::strsignal(signal));
    store.write(record);
    spdlog::error("run: {} failed: {}", id, record.error);
  }
  jobs::remove_crash_journals(out);
}

std::vector<std::size_t> rows_to_do(const io::CohortStore& store, bool retry_crashed) {
  const auto statuses = store.statuses();
  const auto errors = store.read_text_column("error");
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < statuses.size(); ++r) {
    if (statuses[r] == "ok") continue;
    const bool crashed = errors[r].rfind(jobs::kCrashedReason, 0) == 0;
    if (!crashed || retry_crashed) rows.push_back(r);  // pending, and failed scans get another try
  }
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
  if (!out) throw Error("cannot write the timings file " + path.string(), Cause::Runtime);
}

/// Rows in the order they are handed out: manifest order, or largest image file first so that
/// the slowest scans do not end up alone at the end of a distributed run.
// The bytes of an image on disk: a file's size, or a DICOM series folder's files summed; 0 when
// unreadable (file_size's error value would sort such a scan first).
std::uintmax_t image_bytes(const fs::path& image) {
  std::error_code ec;
  if (!fs::is_directory(image, ec)) {
    const auto bytes = fs::file_size(image, ec);
    return ec ? 0 : bytes;
  }
  std::uintmax_t total = 0;
  for (const auto& entry : fs::directory_iterator(image, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const auto bytes = entry.file_size(ec);
    if (!ec) total += bytes;
  }
  return total;
}

std::vector<std::size_t> order_rows(std::vector<std::size_t> rows, const jobs::Manifest& manifest, bool largest_first) {
  if (!largest_first) return rows;
  std::vector<std::uintmax_t> bytes(manifest.scans.size());
  for (std::size_t r : rows) bytes[r] = image_bytes(manifest.scans[r].image);
  std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return bytes[a] > bytes[b]; });
  return rows;
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

/// What every rank needs: the manifest, the backend (a GPU chosen by node-local rank), the model.
Prepared prepare(const RunCliOptions& options, int rank, int local_rank) {
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
  if (p.settings.backend == kernels::Backend::Cuda) kernels::bind_cuda_device(local_rank);
  p.settings.window.batch = options.batch;
  pipeline::set_inference_threads(options.threads);
  // The model is checked before any scan: a bad model fails the run at once.
  p.model.emplace(pipeline::SegmentationModel::load(
      options.model, options.model_metadata,
      p.settings.backend == kernels::Backend::Cuda ? pipeline::Device::Cuda : pipeline::Device::Cpu,
      *pipeline::precision_named(options.precision)));
  p.settings.export_nifti = options.export_nifti;
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
  fail_crashed_rows(*store, p.manifest, options.out, options.retry_crashed);
  const std::vector<std::size_t> rows =
      order_rows(rows_to_do(*store, options.retry_crashed), p.manifest, options.largest_first);
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
    spdlog::info("run: writer {:.4f} s per record ({} records)", write_seconds / double(progress.done()),
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
      Prepared p = prepare(options, mpi->rank(), mpi->local_rank());
      return mpi->rank() == 0 ? coordinate(options, p, mpi.get()) : work(options, p, *mpi);
    } catch (const std::exception& e) {
      // One failing rank must not leave the others waiting for it, whatever the failure: an
      // nc::Error, a filesystem error, bad_alloc, an HDF5 failure on rank 0.
      std::cerr << "neurocohort: error: " << e.what() << " (rank " << mpi->rank() << ")\n";
      mpi->abort(exit_code_of(e));
    } catch (...) {
      std::cerr << "neurocohort: error: an unknown failure (rank " << mpi->rank() << ")\n";
      mpi->abort(kExitRuntime);
    }
  }
#endif
  Prepared p = prepare(options, 0, 0);
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
  cmd->add_flag("--retry-crashed", options->retry_crashed,
                "With --resume: try again the scans that crashed the process in an earlier run");
  add_max_voxels_option(*cmd, options->max_voxels);
  cmd->add_option("--read-timeout", options->read_timeout_seconds,
                  "Seconds a scan's files may take to read before the scan fails (0: no limit)")
      ->check(kFinite)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--largest-first", options->largest_first, "Hand out the largest image files first");
  cmd->add_flag("--coordinator-works", options->coordinator_works,
                "Under MPI: rank 0 also processes scans (by default it only coordinates)");
  cmd->add_option("--export-nifti", options->export_nifti, "Also write each label map as NIfTI into this folder");
  cmd->add_option("--timings", options->timings,
                  "Write throughput as JSON: wall time, scans per minute, seconds per scan by stage");
  cmd->add_option("--progress-every", options->progress_every, "Without a terminal: log progress every N scans")
      ->capture_default_str();
  cmd->add_option("--progress-seconds", options->progress_seconds, "... or every S seconds")
      ->check(kFinite)
      ->capture_default_str();
  cmd->callback([options, &action] { action = [options] { return run_cohort(*options); }; });
}

}  // namespace nc::cli
