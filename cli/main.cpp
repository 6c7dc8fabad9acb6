// neurocohort: the single executable. Parses the command line, runs the chosen subcommand
// and turns every error into one line on stderr and an exit code.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/version.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  using namespace nc::cli;
  CLI::App app{"neurocohort: cohort processor for pediatric brain CT and MRI"};
  app.set_version_flag("--version", std::string("neurocohort ") + kVersion + " (git " + kGitCommit + ")");
  app.require_subcommand(1);
  Action action;
  add_synth_command(app, action);
  add_check_command(app, action);
  add_index_command(app, action);
  add_convert_command(app, action);
  add_model_command(app, action);
  add_preprocess_command(app, action);
  add_run_command(app, action);
  add_bench_command(app, action);
  add_norms_command(app, action);
  add_agree_command(app, action);
  add_merge_command(app, action);
  add_qc_command(app, action);
  add_status_command(app, action);
  add_slurm_command(app, action);

  spdlog::set_pattern("[%H:%M:%S] %v");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "neurocohort: error: " << e.what() << " (see --help)\n";
    return nc::exit_status(nc::ExitCode::Usage);
  } catch (const nc::Error& e) {  // an option's value checked by a subcommand's callback
    std::cerr << "neurocohort: error: " << e.what() << '\n';
    return nc::exit_status(nc::ExitCode::Usage);
  }
  try {
    return nc::exit_status(action());
  } catch (const nc::Error& e) {
    std::cerr << "neurocohort: error: " << e.what() << '\n';
    return nc::exit_status(nc::exit_code_of(e));
  } catch (const std::exception& e) {
    std::cerr << "neurocohort: internal error: " << e.what() << '\n';
    return nc::exit_status(nc::exit_code_of(e));
  }
}
