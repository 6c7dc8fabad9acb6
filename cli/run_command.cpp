// `neurocohort run`: a whole cohort into one HDF5 cohort store. The coordinator (this file)
// owns the store and the progress; a worker (cluster/worker.hpp) runs the scans. In one
// process they talk through the in-process transport.
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "cli/signals.hpp"
#include "cli/version.hpp"
#include "cluster/transport.hpp"
#include "cluster/worker.hpp"
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
  int threads = 0;
  int in_flight = 3;
  int batch = 2;
  bool resume = false;
  bool overwrite = false;
  std::optional<fs::path> export_nifti;
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

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
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
    text += fmt::format("{}{} {:.2f}", s ? ", " : "", pipeline::kStageNames[s], totals.seconds[s] / double(totals.scans));
  spdlog::info("run: seconds per scan by stage: {} ({} scans)", text, totals.scans);
}

int run_cohort(const RunCliOptions& options) {
  const jobs::Manifest manifest = jobs::load_manifest(options.manifest);
  pipeline::RunSettings settings;
  settings.backend = kernels::choose_backend(options.device);
  settings.window.batch = options.batch;
  std::optional<tbb::global_control> threads;
  if (options.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, options.threads);
  pipeline::set_inference_threads(options.threads);
  // The model is checked before any scan: a bad model fails the run at once.
  const auto model = pipeline::SegmentationModel::load(
      options.model, options.model_metadata,
      settings.backend == kernels::Backend::Cuda ? pipeline::Device::Cuda : pipeline::Device::Cpu);
  if (options.export_nifti) {
    fs::create_directories(*options.export_nifti);
    settings.export_nifti = options.export_nifti;
  }
  io::CohortStore store = open_or_create_store(options, manifest, model);
  const std::vector<std::size_t> rows = rows_to_do(store);
  spdlog::info("run: {} scans, {} to do ({} done before), model {}, {}", manifest.scans.size(), rows.size(),
               manifest.scans.size() - rows.size(), options.model.filename().string(),
               settings.backend == kernels::Backend::Cuda ? "GPU" : "CPU");

  const auto& stop = install_stop_handlers();
  Progress progress("run", rows.size(), options.progress_every, options.progress_seconds);
  cluster::LocalTransport transport(rows, [&](io::ScanRecord record) {
    if (!record.ok) spdlog::error("run: {} failed: {}", manifest.scans[record.row].scan_id, record.error);
    const bool failed = !record.ok;
    store.write(record);
    progress.scan_done(failed);
  });
  const auto totals =
      cluster::run_worker(transport, manifest, model, settings,
                          {.in_flight = options.in_flight, .host = host_name(), .rank = 0, .stop = &stop});
  progress.finish();
  store.set_attribute("end_time", now_iso8601());
  log_stage_times(totals);

  const auto statuses = store.statuses();
  const auto count = [&](const char* s) { return std::count(statuses.begin(), statuses.end(), s); };
  spdlog::info("run: {} ok, {} failed, {} pending in {}", count("ok"), count("failed"), count("pending"),
               options.out.string());
  if (stop.load()) {
    spdlog::warn("run: stopped by signal {}; scans in flight were finished and saved. Continue with --resume.",
                 stop_signal());
    return 128 + stop_signal();
  }
  return count("failed") ? kExitScansFailed : kExitOk;
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
  cmd->add_option("--threads", options->threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--in-flight", options->in_flight, "Scans in the pipeline at once (bounds memory)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--batch", options->batch, "Sliding windows per forward pass")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_flag("--resume", options->resume, "Continue an interrupted run: skip scans already done");
  cmd->add_flag("--overwrite", options->overwrite, "Replace an existing results file");
  cmd->add_option("--export-nifti", options->export_nifti, "Also write each label map as NIfTI into this folder");
  cmd->add_option("--progress-every", options->progress_every, "Without a terminal: log progress every N scans")
      ->capture_default_str();
  cmd->add_option("--progress-seconds", options->progress_seconds, "... or every S seconds")->capture_default_str();
  cmd->callback([options, &action] {
    action = [options] { return run_cohort(*options); };
  });
}

}  // namespace nc::cli
