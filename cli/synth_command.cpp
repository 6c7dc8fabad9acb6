// `neurocohort synth`: writes a synthetic pediatric cohort (see synth/cohort_generator.hpp).
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "synth/cohort_generator.hpp"

namespace nc::cli {
namespace {

struct SynthCliOptions {
  synth::SynthOptions synth;
  std::string modality = "both";
  std::string format = "nifti";
};

ExitCode run_synth(SynthCliOptions options) {
  options.synth.modality = options.modality == "ct"   ? synth::ModalityChoice::CT
                           : options.modality == "mr" ? synth::ModalityChoice::MR
                                                      : synth::ModalityChoice::Both;
  options.synth.format = options.format == "dicom" ? synth::ImageFormat::Dicom : synth::ImageFormat::Nifti;
  spdlog::info("synth: {} subjects ({}), seed {}, into {}", options.synth.subjects, options.modality,
               options.synth.seed, options.synth.out_dir.string());
  // Volumes-only runs are fast and long: report every 50th subject there.
  const int every = options.synth.volumes_only ? 50 : 1;
  synth::generate_cohort(options.synth, [every](const synth::SynthProgress& p) {
    if (p.done % every == 0 || p.done == p.total)
      spdlog::info("synth: {}/{} {} {} ({:.1f} s)", p.done, p.total, p.scan_id, p.modality, p.seconds);
  });
  spdlog::info("synth: wrote {} in {}", options.synth.volumes_only ? "effects.tsv, sites.tsv and true_volumes.tsv" : "manifest.tsv, effects.tsv, sites.tsv, true_volumes.tsv and the images",
               options.synth.out_dir.string());
  return ExitCode::Ok;
}

}  // namespace

void add_synth_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<SynthCliOptions>();
  auto* cmd = app.add_subcommand("synth", "Write a synthetic pediatric head CT/MR cohort built from Colin27 and AAL");
  cmd->add_option("--out", options->synth.out_dir, "Output folder")->required();
  cmd->add_option("--n", options->synth.subjects, "Number of subjects")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--seed", options->synth.seed, "Random seed (same seed, same bytes)")->capture_default_str();
  cmd->add_option("--modality", options->modality, "ct, mr, or both (subjects alternate CT and MR)")
      ->check(CLI::IsMember({"ct", "mr", "both"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->add_option("--oblique-fraction", options->synth.oblique_fraction,
                  "Share of CT scans acquired with a gantry tilt (oblique direction cosines)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--format", options->format,
                  "nifti, or dicom: also the same scans as a PACS-like DICOM tree in dicom/ (dicom_truth.tsv)")
      ->check(CLI::IsMember({"nifti", "dicom"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->add_option("--sites", options->synth.sites, "Number of sites (A, B, C, …) the subjects come from")
      ->check(CLI::Range(1, 26))
      ->capture_default_str();
  cmd->add_option("--site-sd", options->synth.model.site_sd,
                  "SD of the planted per-site offsets of ln(volume) (sites.tsv has them)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--spread-ratio", options->synth.model.spread_ratio,
                  "Between-subject SD at the youngest age over that at the oldest")
      ->check(CLI::Range(0.1, 10.0))
      ->capture_default_str();
  cmd->add_option("--skew", options->synth.model.skew, "Sinh-arcsinh skew of the subject noise (> 0: right tail)")
      ->check(CLI::Range(-2.0, 2.0))
      ->capture_default_str();
  cmd->add_flag("--volumes-only", options->synth.volumes_only,
                "Write only effects.tsv and true_volumes.tsv (label maps counted on a coarse grid, no images)");
  cmd->add_option("--volumes-grid-mm", options->synth.volumes_grid_mm, "Grid of --volumes-only, in mm")
      ->check(CLI::Range(0.5, 4.0))
      ->capture_default_str();
  cmd->add_option("--templates", options->synth.template_dir, "Folder with ch2.nii.gz, ch2bet.nii.gz, aal.nii.gz")
      ->capture_default_str();
  cmd->callback([options, &action] { action = [options] { return run_synth(*options); }; });
}

}  // namespace nc::cli
