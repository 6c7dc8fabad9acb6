// `neurocohort index DIR... --out manifest.tsv`: a manifest from DICOM trees (dicom/dicom_index.hpp).
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "core/clock.hpp"
#include "dicom/dicom_index.hpp"
#include "dicom/series_reference.hpp"
#include "io/image_io.hpp"

namespace nc::cli {
namespace {

struct IndexCliOptions {
  std::vector<std::filesystem::path> roots;
  std::filesystem::path out, rules, site_map, salt_file, key_out;
  std::string modality, site_tag = "InstitutionName", salt;
  bool keep_identifiers = false;
};

std::string pseudonym_key(const IndexCliOptions& o) {
  if (!o.salt_file.empty()) return dicom::read_key_file(o.salt_file);
  if (!o.salt.empty()) return o.salt;
  throw UsageError(
      "index: give the pseudonym key with --salt TEXT or --salt-file FILE (keep it: the same key gives the same "
      "scan_ids)");
}

ExitCode run_index(const IndexCliOptions& o) {
  const dicom::Pseudonymizer names(pseudonym_key(o));
  dicom::IndexOptions options;
  options.roots = o.roots;
  if (!o.rules.empty()) options.rules = dicom::read_rules(o.rules);
  if (!o.modality.empty()) options.rules.modality = o.modality == "ct" || o.modality == "CT" ? "CT" : "MR";
  options.site_tag = dicom::parse_tag(o.site_tag);
  if (!o.site_map.empty()) options.site_map = dicom::read_site_map(o.site_map);
  options.identifiers = o.keep_identifiers ? dicom::Identifiers::Kept : dicom::Identifiers::Pseudonymised;

  const Stopwatch clock;
  const auto result = dicom::index_dicom(options, names, [&](const dicom::IndexProgress& p) {
    spdlog::info("index: {}/{} headers read ({:.0f} files/s)", p.done, p.total, double(p.done) / clock.seconds());
  });
  const double seconds = clock.seconds();
  dicom::write_index(result, o.out, options.identifiers);
  if (!o.key_out.empty()) dicom::write_key_file(result, o.key_out);

  std::size_t left_out = 0, without_scan = 0;
  std::map<std::string, bool> study_has_scan;
  for (const auto& row : result.report) {
    left_out += row.decision == "left_out";
    study_has_scan[row.study] |= row.decision == "chosen";
  }
  for (const auto& [study, has] : study_has_scan) without_scan += !has;
  std::size_t external = 0;
  const auto manifest_folder = std::filesystem::absolute(o.out).parent_path();
  for (const auto& scan : result.scans) {
    const auto series = dicom::parse_series_reference(scan.image);
    external += series && !io::resolves_within(series->folder, manifest_folder);
  }
  spdlog::info("index: {} files in {:.1f} s ({:.0f} files/s); {} skipped (index_skipped.tsv)", result.files, seconds,
               double(result.files) / std::max(seconds, 1e-9), result.skipped.size());
  spdlog::info(
      "index: {} studies, {} series; {} scans in {}; {} studies without a scan ({} left out for their "
      "demographics), reasons in index_report.tsv",
      result.studies, result.series, result.scans.size(), o.out.string(), without_scan, left_out);
  if (external > 0)
    spdlog::info("index: {} scans lie outside {}: run them with --allow-external-paths", external,
                 manifest_folder.string());
  return ExitCode::Ok;
}

}  // namespace

void add_index_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<IndexCliOptions>();
  auto* cmd =
      app.add_subcommand("index", "Index DICOM trees into a manifest: one series per study, by documented rules");
  cmd->add_option("dirs", o->roots, "DICOM trees (any layout, with or without DICOMDIR)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out, "Manifest to write; index_report.tsv and index_skipped.tsv go beside it")
      ->required();
  cmd->add_option("--modality", o->modality, "Index only CT or only MR studies")
      ->check(CLI::IsMember({"CT", "MR"}, CLI::ignore_case));
  cmd->add_option("--rules", o->rules, "Selection rules that replace the defaults (key = value; docs/dicom.md)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--site-tag", o->site_tag, "Header field that names the site: a keyword or GGGG,EEEE")
      ->capture_default_str();
  cmd->add_option("--site-map", o->site_map, "TSV mapping the site field's values to site names")
      ->check(CLI::ExistingFile);
  auto* salt =
      cmd->add_option("--salt", o->salt, "Key of the pseudonyms (scan_id = keyed hash of the study and series UIDs)");
  cmd->add_option("--salt-file", o->salt_file, "File holding the pseudonym key")
      ->check(CLI::ExistingFile)
      ->excludes(salt);
  cmd->add_flag("--keep-identifiers", o->keep_identifiers,
                "Also write PatientID and the UIDs into the manifest (default: pseudonyms only)");
  cmd->add_option("--key-out", o->key_out, "Write the key linking pseudonyms to UIDs and PatientID (owner-only file)");
  cmd->callback([o, &action] { action = [o] { return run_index(*o); }; });
}

}  // namespace nc::cli
