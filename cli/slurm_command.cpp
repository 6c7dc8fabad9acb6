// `neurocohort slurm submit|status`: a cohort run as Slurm batch jobs — one job, or an array
// of manifest chunks plus a merge job — recorded in DIR/jobs.json and watched from there.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "jobs/manifest.hpp"
#include "pipeline/segmentation_model.hpp"
#include "slurm/batch_script.hpp"
#include "slurm/slurm_client.hpp"
#include "slurm/time_limit.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SubmitOptions {
  fs::path manifest, out_dir;
  slurm::JobResources resources;
  int array = 0;
  std::string launcher = "srun";
  fs::path model;
  std::string device;
  std::string precision;
  int threads = 0;
  bool dry_run = false;
};

fs::path self_executable() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the neurocohort executable (/proc/self/exe)");
  return exe;
}

// DIR must exist (it is created) and be writable: checked before anything is submitted.
void prepare_out_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir / "logs", ec);
  if (ec) throw UsageError(dir.string() + ": cannot create the folder (" + ec.message() + ")");
  if (::access(dir.c_str(), W_OK) != 0) throw UsageError(dir.string() + ": not writable");
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw Error(path.string() + ": cannot write", Cause::Runtime);
}

json read_jobs(const fs::path& dir) {
  const fs::path path = dir / "jobs.json";
  if (!fs::exists(path)) return json{{"jobs", json::array()}};
  std::ifstream in(path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

void record_job(const fs::path& dir, json job) {
  json all = read_jobs(dir);
  job["submitted"] = now_iso8601();
  all["jobs"].push_back(std::move(job));
  write_text(dir / "jobs.json", all.dump(2) + "\n");
}

std::vector<std::string> run_arguments(const SubmitOptions& o) {
  std::vector<std::string> args;
  if (!o.model.empty()) args.insert(args.end(), {"--model", fs::absolute(o.model).string()});
  if (!o.device.empty()) args.insert(args.end(), {"--device", o.device});
  if (!o.precision.empty()) args.insert(args.end(), {"--precision", o.precision});
  const int threads = o.threads > 0 ? o.threads : o.resources.cpus_per_task;
  args.insert(args.end(), {"--threads", std::to_string(threads)});
  return args;
}

// The checkpoint warning must come well inside the time limit.
void fit_checkpoint(slurm::JobResources& r) {
  const long limit = slurm::parse_time_limit(r.time);
  if (r.checkpoint_seconds * 2 > limit) {
    r.checkpoint_seconds = std::max(10L, limit / 2);
    spdlog::info("slurm: time limit {} s: checkpointing {} s before it", limit, r.checkpoint_seconds);
  }
}

ExitCode run_submit(SubmitOptions o) {
  fit_checkpoint(o.resources);
  const fs::path dir = fs::absolute(o.out_dir);
  const auto manifest = jobs::load_manifest(o.manifest);
  if (std::size_t(o.array) > manifest.scans.size())
    throw UsageError("--array " + std::to_string(o.array) + ": the manifest has " +
                     std::to_string(manifest.scans.size()) + " scans, so at most " +
                     std::to_string(manifest.scans.size()) + " chunks");
  if (!o.dry_run && !slurm::find_on_path("sbatch"))
    throw UsageError("sbatch is not on PATH: run this on a Slurm login node (or use --dry-run to see the script)");
  if (!o.dry_run) prepare_out_dir(dir);

  slurm::RunJob job{self_executable(),
                    fs::absolute(o.manifest),
                    dir / "results.h5",
                    run_arguments(o),
                    o.launcher == "mpirun" ? slurm::Launcher::Mpirun : slurm::Launcher::Srun,
                    o.array};
  if (o.array > 0) {
    job.manifest = dir / "chunks" / "%a.tsv";
    job.results = dir / "chunks" / "%a.h5";
  }
  const std::string run_script = slurm::render_run_script(o.resources, job, dir / "logs");
  std::vector<fs::path> chunk_results;
  for (int c = 0; c < o.array; ++c) chunk_results.push_back(dir / "chunks" / (slurm::chunk_name(c) + ".h5"));
  const std::string merge_script = o.array > 0 ? slurm::render_merge_script(o.resources, job.neurocohort, chunk_results,
                                                                            dir / "results.h5", dir / "logs")
                                               : "";
  if (o.dry_run) {
    std::cout << run_script;
    if (!merge_script.empty())
      std::cout << "\n# ---- merge job (submitted with --dependency=afterok:<array>) ----\n" << merge_script;
    return ExitCode::Ok;
  }

  if (o.array > 0) slurm::split_manifest(manifest, o.array, dir / "chunks");
  const fs::path run_path = dir / (o.array > 0 ? "run_array.sbatch" : "run.sbatch");
  write_text(run_path, run_script);
  const std::string run_id = slurm::submit(run_path);
  json results = json::array();
  if (o.array > 0)
    for (const auto& p : chunk_results) results.push_back(p.string());
  else
    results.push_back(job.results.string());
  record_job(dir, {{"id", run_id},
                   {"kind", o.array > 0 ? "array" : "run"},
                   {"script", run_path.string()},
                   {"manifest", fs::absolute(o.manifest).string()},
                   {"results", results}});
  spdlog::info("slurm: submitted {} as job {}{}", run_path.string(), run_id,
               o.array > 0 ? fmt::format(" ({} array tasks)", o.array) : "");
  if (o.array > 0) {
    const fs::path merge_path = dir / "merge.sbatch";
    write_text(merge_path, merge_script);
    const std::string merge_id = slurm::submit(merge_path, {"--dependency=afterok:" + run_id});
    record_job(dir, {{"id", merge_id},
                     {"kind", "merge"},
                     {"script", merge_path.string()},
                     {"results", json::array({(dir / "results.h5").string()})}});
    spdlog::info("slurm: submitted {} as job {}, after every array task succeeds", merge_path.string(), merge_id);
  }
  spdlog::info("slurm: watch it with `neurocohort slurm status {}`; logs in {}", dir.string(), (dir / "logs").string());
  std::cout << run_id << "\n";
  return ExitCode::Ok;
}

// ok/failed/pending counts of a results file that a run may be writing right now.
std::string progress_of(const fs::path& results) {
  if (!fs::exists(results)) return "not started";
  try {
    const auto store = io::CohortStore::open(results, io::CohortStore::Mode::ReadOnly);
    const auto counts = io::count_statuses(store.statuses());
    return fmt::format("{}/{} ok, {} failed, {} pending", counts.ok, store.scan_count(), counts.failed, counts.pending);
  } catch (const Error& e) {
    return std::string("unreadable: ") + e.what();
  }
}

ExitCode run_status(const fs::path& dir) {
  if (!fs::exists(dir / "jobs.json")) throw UsageError(dir.string() + " has no jobs.json: nothing was submitted there");
  // A running job holds its results file open for writing; reading it needs no lock.
  ::setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
  const json all = read_jobs(dir);
  for (const auto& job : all["jobs"]) {
    const std::string id = job["id"];
    std::cout << job.value("kind", "run") << " job " << id << " (submitted " << job.value("submitted", "?") << ")\n";
    const auto states = slurm::job_states(id);
    if (states.empty()) std::cout << "  state: unknown to Slurm now (finished and purged; no accounting)\n";
    for (const auto& s : states)
      std::cout << "  " << s.id << ": " << s.state << (s.elapsed.empty() ? "" : ", elapsed " + s.elapsed) << " ["
                << s.source << "]\n";
    for (const auto& r : job["results"]) {
      const fs::path path = r.get<std::string>();
      std::cout << "  " << path.filename().string() << ": " << progress_of(path) << "\n";
    }
  }
  return ExitCode::Ok;
}

}  // namespace

void add_slurm_command(CLI::App& app, Action& action) {
  auto* slurm_cmd = app.add_subcommand("slurm", "Run a cohort as Slurm batch jobs");
  slurm_cmd->require_subcommand(1);

  auto o = std::make_shared<SubmitOptions>();
  auto* submit = slurm_cmd->add_subcommand("submit", "Write the sbatch script(s) into DIR and submit them");
  submit->add_option("manifest", o->manifest, "Cohort manifest (TSV)")->required()->check(CLI::ExistingFile);
  submit->add_option("--out", o->out_dir, "Folder for scripts, logs, jobs.json and results")->required();
  submit->add_option("--nodes", o->resources.nodes, "Nodes")->check(CLI::PositiveNumber)->capture_default_str();
  submit->add_option("--gpus-per-node", o->resources.gpus_per_node, "GPUs per node (one rank each); 0: CPU job")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  submit->add_option("--cpus-per-task", o->resources.cpus_per_task, "CPUs per rank")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  submit->add_option("--time", o->resources.time, "Time limit (Slurm format)")->capture_default_str();
  submit
      ->add_option("--checkpoint-seconds", o->resources.checkpoint_seconds,
                   "Checkpoint and requeue this long before the time limit")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  submit->add_option("--partition", o->resources.partition, "Partition");
  submit->add_option("--account", o->resources.account, "Account");
  submit->add_option("--job-name", o->resources.job_name, "Job name")->capture_default_str();
  submit->add_option("--array", o->array, "Split the manifest into K chunks: a job array and a merge job")
      ->check(CLI::PositiveNumber);
  submit->add_option("--launcher", o->launcher, "srun or mpirun")
      ->check(CLI::IsMember({"srun", "mpirun"}))
      ->capture_default_str();
  submit->add_option("--model", o->model, "TorchScript model (default: the shipped one)")->check(CLI::ExistingFile);
  submit->add_option("--device", o->device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  submit->add_option("--precision", o->precision, "run's network arithmetic (default: run's auto)")
      ->check(CLI::IsMember(pipeline::precision_choices()));
  submit->add_option("--threads", o->threads, "Threads per rank (default: --cpus-per-task)");
  submit->add_flag("--dry-run", o->dry_run, "Print the script(s); submit nothing");
  submit->callback([o, &action] {
    slurm::parse_time_limit(o->resources.time);  // a malformed limit is a usage error before anything else
    action = [o] { return run_submit(*o); };
  });

  auto dir = std::make_shared<fs::path>();
  auto* status = slurm_cmd->add_subcommand("status", "State of the jobs submitted into DIR and their scan progress");
  status->add_option("dir", *dir, "The --out folder of slurm submit")->required();
  status->callback([dir, &action] { action = [dir] { return run_status(*dir); }; });
}

}  // namespace nc::cli
