#include "slurm/slurm_client.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"

extern char** environ;

namespace nc::slurm {
namespace {

namespace fs = std::filesystem;

std::string read_and_remove(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  fs::remove(path, ec);
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (auto trimmed = trim(line); !trimmed.empty()) lines.push_back(std::move(trimmed));
  return lines;
}

// "JobState=RUNNING" → "RUNNING" from scontrol's one-line output.
std::string scontrol_field(const std::string& line, const std::string& key) {
  const auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return {};
  const auto start = at + key.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

}  // namespace

std::optional<fs::path> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  for (const auto& dir : split(path, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

ProgramOutput run_program(const std::vector<std::string>& argv) {
  if (!find_on_path(argv.front()))
    throw Error(argv.front() + " is not on PATH: run this on a Slurm login node (or install slurm-client)");
  // Output goes to temporary files: no pipe can fill up and block the child.
  char out_name[] = "/tmp/neurocohort-slurm-out-XXXXXX";
  char err_name[] = "/tmp/neurocohort-slurm-err-XXXXXX";
  const int out_fd = ::mkstemp(out_name), err_fd = ::mkstemp(err_name);
  if (out_fd < 0 || err_fd < 0) throw Error("cannot create temporary files for " + argv.front());
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_fd);
  ::close(err_fd);
  if (spawned != 0) throw Error("cannot start " + argv.front());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ProgramOutput result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_and_remove(out_name);
  result.err = read_and_remove(err_name);
  return result;
}

std::string submit(const fs::path& script, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(script.string());
  const ProgramOutput result = run_program(argv);
  if (result.exit_code != 0) {
    // Every line sbatch printed, without its "sbatch: error: " prefixes, on one line.
    std::string message;
    for (auto line : lines_of(result.err)) {
      if (line.rfind("sbatch: error: ", 0) == 0) line.erase(0, 15);
      message += (message.empty() ? "" : "; ") + line;
    }
    throw Error("sbatch refused " + script.filename().string() + ": " +
                (message.empty() ? "exit code " + std::to_string(result.exit_code) : message));
  }
  // --parsable prints "id" or "id;cluster".
  const std::string id = split(trim(result.out), ';').front();
  if (id.empty()) throw Error("sbatch printed no job id for " + script.string());
  return id;
}

std::vector<JobState> job_states(const std::string& job_id) {
  std::vector<JobState> states;
  const auto queued = run_program({"squeue", "-h", "-j", job_id, "-o", "%i|%T|%M"});
  if (queued.exit_code == 0)
    for (const auto& line : lines_of(queued.out))
      if (const auto f = split(line, '|'); f.size() == 3) states.push_back({f[0], f[1], f[2], "squeue"});
  if (!states.empty()) return states;

  if (find_on_path("sacct")) {
    const auto accounted = run_program({"sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State,Elapsed"});
    if (accounted.exit_code == 0)
      for (const auto& line : lines_of(accounted.out))
        if (const auto f = split(line, '|'); f.size() == 3) states.push_back({f[0], f[1], f[2], "sacct"});
    if (!states.empty()) return states;
  }

  const auto shown = run_program({"scontrol", "-o", "show", "job", job_id});
  if (shown.exit_code == 0)
    for (const auto& line : lines_of(shown.out)) {
      std::string id = scontrol_field(" " + line, "JobId");
      if (const auto task = scontrol_field(" " + line, "ArrayTaskId"); !task.empty())
        id = scontrol_field(" " + line, "ArrayJobId") + "_" + task;
      states.push_back({id, scontrol_field(" " + line, "JobState"), scontrol_field(" " + line, "RunTime"), "scontrol"});
    }
  return states;
}

}  // namespace nc::slurm
