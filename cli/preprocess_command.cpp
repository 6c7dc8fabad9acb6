// `neurocohort preprocess`: the preprocessing stage alone, written to NIfTI for training and QC.
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "cli/commands.hpp"
#include "io/image_io.hpp"
#include "jobs/manifest.hpp"
#include "kernels/resample/resample.hpp"
#include "pipeline/preprocess.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

struct PreprocessCliOptions {
  fs::path manifest;
  fs::path out;
  pipeline::PreprocessParams params;
  bool no_equalize = false;
  std::string device = "auto";
  int threads = 0;
  bool allow_external_paths = false;
  io::ReadLimits limits;
};

/// One line of DIR/preprocessed.tsv.
struct Outcome {
  bool ok = false;
  std::string error;
  double icv_ml = 0;
  bool has_labels = false;
};

Outcome preprocess_scan(const jobs::ScanEntry& scan, const PreprocessCliOptions& options, kernels::Backend backend) {
  Outcome outcome;
  const pipeline::PreprocessedScan pre =
      pipeline::preprocess(io::read_image(scan.image, options.limits), scan.modality, options.params, backend);
  io::write_nifti(pre.image, options.out / "images" / (scan.scan_id + ".nii.gz"));
  io::write_nifti(pre.brain_mask, options.out / "masks" / (scan.scan_id + ".nii.gz"));
  if (scan.labels) {
    const LabelVolume labels =
        kernels::resample_labels_onto(io::read_label_image(*scan.labels, options.limits), pre.image.geometry, backend);
    io::write_nifti(labels, options.out / "labels" / (scan.scan_id + ".nii.gz"));
    outcome.has_labels = true;
  }
  outcome.ok = true;
  outcome.icv_ml = pre.icv_ml;
  return outcome;
}

void write_table(const jobs::Manifest& manifest, const std::vector<Outcome>& outcomes, const fs::path& path) {
  std::ofstream out(path);
  out << "scan_id\tmodality\tage\tsex\timage\tmask\tlabels\ticv_ml\tstatus\terror\n";
  for (std::size_t s = 0; s < manifest.scans.size(); ++s) {
    const auto& scan = manifest.scans[s];
    const auto& o = outcomes[s];
    const std::string file = scan.scan_id + ".nii.gz";
    out << scan.scan_id << '\t' << jobs::to_string(scan.modality) << '\t' << scan.age_years << '\t'
        << jobs::to_string(scan.sex) << '\t' << (o.ok ? "images/" + file : "") << '\t'
        << (o.ok ? "masks/" + file : "") << '\t' << (o.has_labels ? "labels/" + file : "") << '\t';
    if (o.ok) out << o.icv_ml;
    out << '\t' << (o.ok ? "ok" : "failed") << '\t' << o.error << '\n';
  }
  if (!out) throw Error("cannot write " + path.string(), Cause::Runtime);
}

ExitCode run_preprocess(PreprocessCliOptions options) {
  const jobs::Manifest manifest =
      jobs::load_manifest(options.manifest, {.allow_external_paths = options.allow_external_paths});
  if (!options.allow_external_paths) options.limits.confine_to = manifest.path.parent_path();
  options.params.max_voxels = options.limits.max_voxels;
  const kernels::Backend backend = kernels::choose_backend(options.device);
  // One process: the first device it sees (Slurm's CUDA_VISIBLE_DEVICES names the job's GPUs),
  // bound so that oneTBB's threads use it and its memory pool keeps freed memory.
  if (backend == kernels::Backend::Cuda) kernels::bind_cuda_device(0);
  std::optional<tbb::global_control> threads;
  if (options.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, options.threads);
  for (const char* sub : {"images", "masks", "labels"}) fs::create_directories(options.out / sub);

  spdlog::info("preprocess: {} scans to {} mm on the {}", manifest.scans.size(), options.params.spacing_mm,
               backend == kernels::Backend::Cuda ? "GPU" : "CPU");
  std::vector<Outcome> outcomes(manifest.scans.size());
  std::atomic<std::size_t> done{0};
  std::mutex log_mutex;
  // Scans in parallel as oneTBB schedules them: one decompresses while another's kernels run.
  tbb::parallel_for(std::size_t{0}, manifest.scans.size(), [&](std::size_t s) {
    const auto& scan = manifest.scans[s];
    const auto start = std::chrono::steady_clock::now();
    try {
      outcomes[s] = preprocess_scan(scan, options, backend);
    } catch (const Error& e) {
      outcomes[s].error = e.what();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::lock_guard lock(log_mutex);
    const std::size_t n = ++done;
    if (outcomes[s].ok)
      spdlog::info("preprocess: {}/{} {} ({:.1f} s, ICV {:.0f} mL)", n, manifest.scans.size(), scan.scan_id, seconds,
                   outcomes[s].icv_ml);
    else
      spdlog::error("preprocess: {}/{} {} failed: {}", n, manifest.scans.size(), scan.scan_id, outcomes[s].error);
  });
  write_table(manifest, outcomes, options.out / "preprocessed.tsv");
  const auto failed = std::count_if(outcomes.begin(), outcomes.end(), [](const Outcome& o) { return !o.ok; });
  spdlog::info("preprocess: {} ok, {} failed; table {}", outcomes.size() - std::size_t(failed), failed,
               (options.out / "preprocessed.tsv").string());
  return failed ? ExitCode::ScansFailed : ExitCode::Ok;
}

}  // namespace

void add_preprocess_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<PreprocessCliOptions>();
  auto* cmd = app.add_subcommand(
      "preprocess", "Resample, skull strip and equalize every scan of a manifest; write the results as NIfTI");
  cmd->add_option("manifest", options->manifest, "Cohort manifest (TSV)")->required();
  cmd->add_option("--out", options->out, "Output folder: images/, masks/, labels/ and preprocessed.tsv")->required();
  cmd->add_option("--spacing", options->params.spacing_mm, "Isotropic output spacing in mm")
      ->check(kFinite)
      ->check(CLI::Range(0.25, 8.0))
      ->capture_default_str();
  cmd->add_option("--margin", options->params.margin_mm, "Margin kept around the brain when cropping, mm")
      ->check(kFinite)
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_flag("--no-equalize", options->no_equalize, "Skip adaptive histogram equalization");
  cmd->add_option("--device", options->device, "auto, cpu or cuda")->capture_default_str();
  cmd->add_option("--threads", options->threads, "CPU threads (0: all)")->check(CLI::NonNegativeNumber);
  add_max_voxels_option(*cmd, options->limits.max_voxels);
  cmd->add_flag("--allow-external-paths", options->allow_external_paths,
                "Accept image and label files outside the manifest's folder (symlinks and data files included)");
  cmd->callback([options, &action] {
    options->params.equalize = !options->no_equalize;
    action = [options] { return run_preprocess(*options); };
  });
}

}  // namespace nc::cli
