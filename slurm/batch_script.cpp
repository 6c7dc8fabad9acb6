#include "slurm/batch_script.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "slurm/time_limit.hpp"

namespace nc::slurm {
namespace {

namespace fs = std::filesystem;

// Control characters shown as \xNN, so that an error message never carries a raw newline.
std::string printable(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

// Single-quoted for bash.
std::string quote(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('\'');
  for (char ch : s) {
    if (ch == '\'')
      out.append("'\\''");
    else
      out.push_back(ch);
  }
  out.push_back('\'');
  return out;
}

// Whether an option takes one Slurm name or a comma-separated list of them (--partition).
enum class Names { One, List };

// Slurm's own rule for job, partition and account names: letters, digits, '.', '_' and '-'
// (a partition list also takes ','). Nothing else may reach an #SBATCH line: a newline there
// would start a shell command, a space another sbatch option.
void require_slurm_name(const std::string& option, const std::string& value, Names names) {
  const bool list = names == Names::List;
  const bool valid =
      !value.empty() && value.size() <= 200 && std::isalnum(static_cast<unsigned char>(value[0])) &&
      std::all_of(value.begin(), value.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || (list && c == ',');
      });
  if (!valid)
    throw UsageError(option + " '" + printable(value) + "': a Slurm name is letters, digits, '.', '_' and '-'" +
                     (list ? " (',' between partitions)" : "") + ", beginning with a letter or digit");
}

// Paths reach #SBATCH lines unquoted (sbatch does not parse shell quoting there), so they may
// hold no blank, quote, backslash, control character or '%' (sbatch's file name patterns).
void require_directive_path(const fs::path& path) {
  const std::string text = path.string();
  const auto bad = std::find_if(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == ' ' || c == '"' || c == '\'' || c == '\\' || c == '%' || c == '#';
  });
  if (bad != text.end())
    throw UsageError("--out '" + printable(text) + "': an sbatch directive cannot carry the character '" +
                     printable(std::string(1, *bad)) + "'; choose a folder without it");
}

void validate(const JobResources& r, const std::string& job_name, const fs::path& log_dir) {
  require_slurm_name("--job-name", job_name, Names::One);
  if (!r.partition.empty()) require_slurm_name("--partition", r.partition, Names::List);
  if (!r.account.empty()) require_slurm_name("--account", r.account, Names::One);
  parse_time_limit(r.time);
  require_directive_path(log_dir);
}

void write_header(std::ostream& out, const JobResources& r, const std::string& job_name, const fs::path& log_dir,
                  const std::string& log_pattern) {
  validate(r, job_name, log_dir);
  out << "#SBATCH --job-name=" << job_name << "\n"
      << "#SBATCH --nodes=" << r.nodes << "\n";
  if (r.gpus_per_node > 0)
    out << "#SBATCH --ntasks-per-node=" << r.gpus_per_node << "    # one rank per GPU\n"
        << "#SBATCH --gpus-per-node=" << r.gpus_per_node << "\n";
  else
    out << "#SBATCH --ntasks-per-node=1\n";
  out << "#SBATCH --cpus-per-task=" << r.cpus_per_task << "     # reading, preprocessing and CPU inference threads\n"
      << "#SBATCH --time=" << r.time << "\n";
  if (!r.partition.empty()) out << "#SBATCH --partition=" << r.partition << "\n";
  if (!r.account.empty()) out << "#SBATCH --account=" << r.account << "\n";
  out << "#SBATCH --output=" << (log_dir / log_pattern).string() << "\n"
      << "#SBATCH --open-mode=append    # a requeued job continues the same log\n";
}

std::string join_args(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    out.push_back(' ');
    out.append(quote(a));
  }
  return out;
}

}  // namespace

std::string chunk_name(int chunk) {
  char name[32];
  std::snprintf(name, sizeof name, "chunk_%03d", chunk);
  return name;
}

std::string render_run_script(const JobResources& r, const RunJob& job, const fs::path& log_dir) {
  const bool array = job.array_tasks > 0;
  std::ostringstream out;
  out << "#!/bin/bash\n"
      << "# neurocohort: " << (array ? "one chunk of the cohort per array task" : "the whole cohort in one job")
      << ", written by `neurocohort slurm submit` on " << now_iso8601() << ".\n"
      << "# Resubmitting this script by hand is safe: the run resumes where it stopped.\n";
  write_header(out, r, r.job_name, log_dir, array ? "%x-%A_%a.out" : "%x-%j.out");
  if (array) out << "#SBATCH --array=0-" << job.array_tasks - 1 << "\n";
  out << "#SBATCH --signal=B:USR1@" << r.checkpoint_seconds << "   # warn this shell before the time limit\n"
      << "#SBATCH --requeue\n\n"
      << "set -u\n";
  std::string manifest = quote(job.manifest.string()), results = quote(job.results.string());
  if (array) {
    out << "chunk=$(printf 'chunk_%03d' \"$SLURM_ARRAY_TASK_ID\")\n";
    const auto with_chunk = [](const fs::path& p) {
      const std::string text = p.string();
      const auto at = text.find("%a");
      std::string quoted = quote(text.substr(0, at));
      quoted.append("\"$chunk\"");
      quoted.append(quote(text.substr(at + 2)));
      return quoted;
    };
    manifest = with_chunk(job.manifest);
    results = with_chunk(job.results);
  }
  const std::string launcher = job.launcher == Launcher::Srun ? "srun --kill-on-bad-exit=1 " : "mpirun ";
  out << "\n# Slurm sends USR1 to this shell " << r.checkpoint_seconds
      << " s before the time limit. The run, told in turn, stops\n"
      << "# taking new scans, finishes and saves those in flight, and exits with 138 (128 + USR1).\n"
      << "checkpoint() {\n  echo \"neurocohort: time limit near: checkpointing\"\n"
      << "  kill -USR1 \"$run_pid\" 2>/dev/null\n}\ntrap checkpoint USR1\n\n"
      << launcher << quote(job.neurocohort.string()) << " run " << manifest << " --out " << results << " --resume"
      << (array ? " --allow-external-paths" : "") << join_args(job.run_args) << " &\n"
      << "run_pid=$!\n"
      << "# wait returns early when the trapped signal arrives: wait again until the run has exited.\n"
      << "while true; do\n  wait \"$run_pid\"\n  status=$?\n  kill -0 \"$run_pid\" 2>/dev/null || break\ndone\n\n"
      << "case \"$status\" in\n"
      << "  0) echo \"neurocohort: every scan done\" ;;\n"
      << "  1) echo \"neurocohort: done; some scans failed (named in the log and the results file)\"; status=0 ;;\n"
      << "  138)\n"
      << "    echo \"neurocohort: requeueing job ${SLURM_JOB_ID} to finish the remaining scans\"\n"
      << "    scontrol requeue \"${SLURM_JOB_ID}\" && exit 0 ;;\n"
      << "esac\n"
      << "exit \"$status\"\n";
  return out.str();
}

std::string render_merge_script(const JobResources& r, const fs::path& neurocohort,
                                const std::vector<fs::path>& chunk_results, const fs::path& merged,
                                const fs::path& log_dir) {
  JobResources merge = r;
  merge.nodes = 1;
  merge.gpus_per_node = 0;
  merge.cpus_per_task = 1;
  merge.time = "01:00:00";
  std::ostringstream out;
  out << "#!/bin/bash\n"
      << "# neurocohort: merge the array's results files into one, written by `neurocohort slurm submit` on "
      << now_iso8601() << ".\n"
      << "# Submitted with --dependency=afterok on the array: it runs once every chunk has finished.\n";
  write_header(out, merge, r.job_name + "-merge", log_dir, "%x-%j.out");
  out << "\nset -eu\n" << quote(neurocohort.string()) << " merge";
  for (const auto& p : chunk_results) out << " \\\n  " << quote(p.string());
  out << " \\\n  --out " << quote(merged.string()) << "\n";
  return out.str();
}

std::vector<fs::path> split_manifest(const jobs::Manifest& manifest, int chunks, const fs::path& dir) {
  const std::size_t scans = manifest.scans.size();
  if (chunks < 1 || std::size_t(chunks) > scans)
    throw UsageError("--array " + std::to_string(chunks) + ": the manifest has " + std::to_string(scans) +
                     " scans, so at most " + std::to_string(scans) + " chunks");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create the folder (" + ec.message() + ")");
  const auto column = [&](const char* name) -> long {
    for (std::size_t j = 0; j < manifest.columns.size(); ++j)
      if (manifest.columns[j] == name) return long(j);
    return -1;
  };
  const long image = column("image"), labels = column("labels");
  std::vector<fs::path> paths;
  std::vector<std::ofstream> outs;
  for (int c = 0; c < chunks; ++c) {
    paths.push_back(dir / (chunk_name(c) + ".tsv"));
    outs.emplace_back(paths.back());
    if (!outs.back()) throw Error(paths.back().string() + ": cannot write", Cause::Runtime);
    for (std::size_t j = 0; j < manifest.columns.size(); ++j) outs.back() << (j ? "\t" : "") << manifest.columns[j];
    outs.back() << '\n';
  }
  for (std::size_t i = 0; i < scans; ++i) {
    std::ofstream& out = outs[i % std::size_t(chunks)];
    std::vector<std::string> values = manifest.values[i];
    values[std::size_t(image)] = manifest.scans[i].image.string();
    if (labels >= 0 && manifest.scans[i].labels) values[std::size_t(labels)] = manifest.scans[i].labels->string();
    for (std::size_t j = 0; j < values.size(); ++j) out << (j ? "\t" : "") << values[j];
    out << '\n';
  }
  for (std::size_t c = 0; c < outs.size(); ++c)
    if (!outs[c].flush()) throw Error(paths[c].string() + ": write error");
  return paths;
}

}  // namespace nc::slurm
