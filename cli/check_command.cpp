// `neurocohort check MANIFEST`: validates the manifest and every image header before a long
// run, so that a cohort's bad rows and bad files are found in seconds, not hours into a job.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/image_io.hpp"
#include "jobs/manifest.hpp"

namespace nc::cli {
namespace {

struct CheckOptions {
  std::string manifest;
  bool allow_external_paths = false;
  std::int64_t max_voxels = io::ReadLimits{}.max_voxels;
};

ExitCode run_check(const CheckOptions& options) {
  const jobs::Manifest manifest =
      jobs::load_manifest(options.manifest, {.allow_external_paths = options.allow_external_paths});
  io::ReadLimits limits;
  limits.max_voxels = options.max_voxels;
  if (!options.allow_external_paths) limits.confine_to = manifest.path.parent_path();
  std::size_t bad = 0;
  for (const auto& scan : manifest.scans) {
    try {
      io::read_image_header(scan.image, limits);
      if (scan.labels) io::read_image_header(*scan.labels, limits);
    } catch (const ImageError& e) {
      ++bad;
      std::cout << scan.scan_id << "\tfailed\t" << e.what() << '\n';
    }
  }
  spdlog::info("checked {} scans: {} ok, {} with unusable images", manifest.scans.size(),
               manifest.scans.size() - bad, bad);
  return bad == 0 ? ExitCode::Ok : ExitCode::ScansFailed;
}

}  // namespace

void add_check_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<CheckOptions>();
  auto* cmd = app.add_subcommand("check", "Validate a manifest and the headers of all its images");
  cmd->add_option("manifest", options->manifest, "Manifest TSV (scan_id, image, modality, age, sex, ...)")
      ->required();
  cmd->add_flag("--allow-external-paths", options->allow_external_paths,
                "Accept image paths outside the manifest's folder");
  add_max_voxels_option(*cmd, options->max_voxels);
  cmd->callback([options, &action] { action = [options] { return run_check(*options); }; });
}

}  // namespace nc::cli
