// `neurocohort qc`: flags, qc.tsv, snapshots and the QC page of a results file (docs/qc.md).
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>

#include <map>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "io/table_file.hpp"
#include "jobs/progress.hpp"
#include "qc/flags.hpp"
#include "qc/page.hpp"
#include "qc/snapshot.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;

struct QcOptions {
  fs::path results, out, reference;
  bool images = false;
  int threads = 0;
  qc::FlagRules rules;
  std::int64_t max_voxels = std::int64_t{1} << 30;
};

std::vector<std::string> rules_used(const QcOptions& o) {
  const auto& r = o.rules;
  std::vector<std::string> rules = {
      fmt::format("--outlier-z {}", r.outlier_z),       fmt::format("--min-group {}", r.min_group),
      fmt::format("--border-share {}", r.border_share), fmt::format("--fragment-share {}", r.fragment_share),
      fmt::format("--mr-max-air {}", r.mr_max_air),     fmt::format("--ct-min-air {}", r.ct_min_air)};
  if (!o.reference.empty())
    rules.push_back(fmt::format("--reference {} --reference-z {}", o.reference.string(), r.reference_z));
  return rules;
}

// A manifest's image paths are relative to the manifest's folder, which `run` records.
fs::path image_folder(const io::CohortStore& store, const fs::path& results) {
  try {
    return fs::path(store.attribute("manifest")).parent_path();
  } catch (const StoreError&) {
    return results.parent_path();
  }
}

std::vector<qc::SnapshotJob> snapshot_jobs(const io::CohortStore& store, const fs::path& results) {
  const auto columns = store.scan_columns();
  const auto has = [&](const char* name) { return std::find(columns.begin(), columns.end(), name) != columns.end(); };
  if (!has("image")) throw Error(results.string() + ": no /scans/image column: --images needs the original scans");
  const auto images = store.read_text_column("image");
  const auto modality = has("modality") ? store.read_text_column("modality") : std::vector<std::string>(images.size());
  const auto statuses = store.statuses();
  const fs::path folder = image_folder(store, results);
  std::vector<qc::SnapshotJob> jobs;
  for (std::size_t r = 0; r < images.size(); ++r) {
    if (statuses[r] != io::ScanStatus::Ok) continue;
    const fs::path image(images[r]);
    jobs.push_back({r, image.is_absolute() ? image : folder / image, modality[r] == "CT"});
  }
  return jobs;
}

ExitCode run_qc(const QcOptions& o) {
  std::optional<tbb::global_control> threads;
  if (o.threads > 0) threads.emplace(tbb::global_control::max_allowed_parallelism, std::size_t(o.threads));
  const Stopwatch clock;
  const auto store = io::CohortStore::open(o.results, io::CohortStore::Mode::ReadOnly);
  std::optional<norms::NormativeModel> reference;
  if (!o.reference.empty()) reference = norms::read_normative_model(io::TableFile::open(o.reference), o.reference);
  const qc::Assessment assessment = qc::assess(store, o.results, o.rules, reference ? &*reference : nullptr);
  for (const auto& note : assessment.notes) spdlog::warn("qc: {}", note);

  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec || !fs::is_directory(o.out)) throw Error(o.out.string() + ": cannot create the folder");
  assessment.table.write_tsv(o.out / "qc.tsv");

  qc::PageContent page{o.results.string(),
                       &assessment,
                       store.regions(),
                       std::vector<bool>(store.scan_count(), false),
                       std::vector<std::string>(store.scan_count()),
                       rules_used(o)};
  if (o.images) {
    const auto jobs = snapshot_jobs(store, o.results);
    nc::jobs::Progress progress("qc: snapshots", jobs.size(), 50, 30);
    io::ReadLimits limits;
    limits.max_voxels = o.max_voxels;
    const auto errors = qc::write_snapshots(store, jobs, o.out, limits,
                                            [&](const std::string& error) { progress.scan_done(!error.empty()); });
    progress.finish();
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      page.has_snapshot[jobs[j].row] = errors[j].empty();
      page.snapshot_error[jobs[j].row] = errors[j];
      if (!errors[j].empty()) spdlog::warn("qc: {}: no snapshot: {}", store.scan_ids()[jobs[j].row], errors[j]);
    }
  }
  qc::write_qc_page(page, o.out / "index.html");

  std::map<std::string, std::size_t> by_flag;
  std::size_t flagged = 0;
  for (const auto& flags : assessment.flags) {
    flagged += !flags.empty();
    for (const auto& f : flags) ++by_flag[f.name];
  }
  std::string counts;
  for (const auto& [name, n] : by_flag) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", name, n);
  spdlog::info("qc: {} of {} scans flagged{}{}", flagged, store.scan_count(), counts.empty() ? "" : ": ", counts);
  spdlog::info("qc: wrote {} and {} in {:.1f} s", (o.out / "qc.tsv").string(), (o.out / "index.html").string(),
               clock.seconds());
  return ExitCode::Ok;
}

// A rule's limit that is a share (of the brain mask, a region, the image): a fraction in [0, 1].
void add_share_option(CLI::App& cmd, const std::string& name, double& share, const std::string& description) {
  cmd.add_option(name, share, description)->check(CLI::Range(0.0, 1.0))->capture_default_str();
}

}  // namespace

void add_qc_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<QcOptions>();
  auto* cmd = app.add_subcommand("qc", "Quality control of a results file: flags, qc.tsv, snapshots, QC page");
  cmd->add_option("results", o->results, "RESULTS.h5 written by neurocohort run (or merge)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Folder for qc.tsv, index.html and the snapshots")->required();
  cmd->add_option("--reference", o->reference, "NORMS.h5: judge volumes by age- and sex-adjusted z-scores")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--images", o->images, "Read each ok scan and write a snapshot PNG and a thumbnail");
  cmd->add_option("--threads", o->threads, "Worker threads for the snapshots (0: all cores)")->capture_default_str();
  auto& r = o->rules;
  cmd->add_option("--outlier-z", r.outlier_z, "Robust |z| within a modality beyond which a scan is an outlier")
      ->check(CLI::PositiveNumber & kFinite)
      ->capture_default_str();
  cmd->add_option("--min-group", r.min_group, "Fewest ok scans of a modality for the cohort rules")
      ->check(CLI::Range(3, 1000000))
      ->capture_default_str();
  add_share_option(*cmd, "--border-share", r.border_share, "Brain-mask share on the image border that flags fov_cut");
  add_share_option(*cmd, "--fragment-share", r.fragment_share,
                   "Region share outside its largest component that flags fragmented_region");
  add_share_option(*cmd, "--mr-max-air", r.mr_max_air, "Largest image share below -500 for a scan labelled MR");
  add_share_option(*cmd, "--ct-min-air", r.ct_min_air, "Smallest image share below -500 HU for a scan labelled CT");
  cmd->add_option("--reference-z", r.reference_z, "|z| against --reference that flags norm_outlier")
      ->check(CLI::PositiveNumber & kFinite)
      ->capture_default_str();
  add_max_voxels_option(*cmd, o->max_voxels);
  cmd->callback([o, &action] { action = [o] { return run_qc(*o); }; });
}

}  // namespace nc::cli
