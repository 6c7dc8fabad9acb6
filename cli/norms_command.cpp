// `neurocohort norms build|score` and `neurocohort agree`: the population statistics of
// docs/statistics.md over results files and volumes tables.
#include <spdlog/spdlog.h>
#include <tbb/global_control.h>

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_set>

#include "cli/commands.hpp"
#include "cli/version.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "io/table_file.hpp"
#include "norms/build.hpp"
#include "norms/report.hpp"
#include "qc/flags.hpp"

namespace nc::cli {
namespace {

namespace fs = std::filesystem;
using norms::Notes;
using norms::Table;

struct BuildOptions {
  std::vector<fs::path> inputs;
  fs::path out, tsv_dir, report, compare, qc;
  std::vector<std::string> exclude;
  norms::AnalysisOptions analysis;
  norms::ModelOptions model;
  std::string family = "gaussian";
  int threads = 0;
};

struct AdaptOptions {
  fs::path reference, controls, out;
  std::string site, control_group = "control";
  std::vector<std::string> exclude;
};

struct ScoreOptions {
  fs::path input, reference, out;
  std::vector<std::string> exclude;
  double threshold = 2;
};

struct AgreeOptions {
  fs::path a, b, out = "agreement.tsv", report;
  std::vector<std::string> exclude;
  int threads = 0;
};

norms::Cohort load_and_pool(const std::vector<fs::path>& paths, const std::vector<std::string>& exclude) {
  std::vector<norms::Cohort> parts;
  for (const auto& p : paths) {
    parts.push_back(norms::load_cohort(p, {exclude}));
    const auto& c = parts.back();
    spdlog::info("norms: {}: {} scans, {} regions{}", p.string(), c.size(), c.regions.size(),
                 c.skipped_scans ? fmt::format(" ({} failed or pending scans left out)", c.skipped_scans) : "");
  }
  return norms::pool(std::move(parts));
}

void log_notes(const Notes& notes) {
  for (const auto& n : notes) spdlog::warn("{}", n);
}

std::optional<tbb::global_control> limit_threads(int threads) {
  std::optional<tbb::global_control> control;
  if (threads > 0) control.emplace(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
  return control;
}

void check_writable_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw Error(dir.string() + ": cannot create the folder");
}

// Leaves out the scans qc.tsv flags, and says how many and why (log, report notes, NORMS.h5).
norms::Cohort without_flagged(norms::Cohort cohort, const fs::path& qc_tsv, std::string& account) {
  std::vector<std::string> ids;
  std::map<std::string, std::size_t> by_flag;
  std::size_t held = 0;
  const std::unordered_set<std::string> in_cohort(cohort.scan_id.begin(), cohort.scan_id.end());
  for (const auto& [id, flags] : qc::read_flagged_scans(qc_tsv)) {
    if (!in_cohort.count(id)) continue;
    ++held;
    ids.push_back(id);
    for (const auto& name : split(flags, ',')) ++by_flag[name];
  }
  std::string reasons;
  for (const auto& [name, n] : by_flag) reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", name, n);
  account = fmt::format("{} of {} scans left out as flagged by {}{}{}", held, cohort.size(), qc_tsv.string(),
                        reasons.empty() ? "" : ": ", reasons);
  spdlog::info("norms: {}", account);
  return norms::without_scans(cohort, ids);
}

ExitCode run_build(const BuildOptions& options) {
  const auto threads = limit_threads(options.threads);
  const Stopwatch clock;
  std::string qc_account;
  const norms::Cohort cohort = options.qc.empty()
                                   ? load_and_pool(options.inputs, options.exclude)
                                   : without_flagged(load_and_pool(options.inputs, options.exclude), options.qc, qc_account);
  std::optional<norms::Cohort> compared;
  if (!options.compare.empty()) compared = norms::load_cohort(options.compare, {options.exclude});
  spdlog::info("norms: {} scans pooled, read in {:.1f} s", cohort.size(), clock.seconds());

  const auto result = norms::build_norms(cohort, compared ? &*compared : nullptr, options.analysis, options.model);
  const auto& [tables, model, reference, verdict, build_notes] = result;
  Notes notes = build_notes;
  if (!qc_account.empty()) notes.insert(notes.begin(), qc_account);
  spdlog::info("norms: statistics of {} measures in {:.1f} s", norms::measures_of(cohort).names.size(),
               clock.seconds());
  log_notes(notes);
  if (!verdict.empty()) spdlog::info("norms: {}", verdict);

  auto file = io::TableFile::create(options.out);
  std::string inputs;
  for (const auto& p : options.inputs) inputs += (inputs.empty() ? "" : " ") + p.string();
  std::vector<std::pair<std::string, std::string>> provenance = {
      {"tool_version", kVersion},
      {"git_commit", kGitCommit},
      {"inputs", inputs},
      {"reference_group", reference.size() == cohort.size() ? "all scans" : options.analysis.control_group},
      {"knots", std::to_string(options.model.knots)},
      {"model", norms::family_name(options.model.family)},
      {"calibration_folds", std::to_string(options.model.calibration.folds)},
      {"regression_scale", std::string(options.analysis.log_volume ? "ln volume" : "volume") + " ~ " +
                               (options.analysis.log_age ? "ln age" : "age")},
      {"created", now_iso8601()}};
  if (!qc_account.empty()) provenance.emplace_back("qc_exclusion", qc_account);
  for (const auto& [k, v] : provenance) file.set_attribute(k, v);
  for (const auto& t : tables)
    if (!t.rows.empty()) file.write_table("/tables/" + t.name, t.columns());
  if (model) write_normative_model(*model, file);
  if (!options.tsv_dir.empty()) {
    check_writable_folder(options.tsv_dir);
    for (const auto& t : tables)
      if (!t.rows.empty()) t.write_tsv(options.tsv_dir / (t.name + ".tsv"));
    spdlog::info("norms: tables in {}", options.tsv_dir.string());
  }
  if (!options.report.empty()) {
    norms::ReportContent content{"neurocohort normative report",
                                 &cohort,
                                 model ? &*model : nullptr,
                                 compared ? &*compared : nullptr,
                                 {},
                                 notes,
                                 provenance,
                                 verdict};
    for (const auto& t : tables) content.tables.push_back(&t);
    norms::write_report(content, options.report);
    spdlog::info("norms: report {}", options.report.string());
  }
  spdlog::info("norms: wrote {} in {:.1f} s{}", options.out.string(), clock.seconds(),
               model ? "" : " (without a normative model: see the warnings)");
  return ExitCode::Ok;
}

ExitCode run_score(const ScoreOptions& options) {
  const auto file = io::TableFile::open(options.reference);
  const auto model = norms::read_normative_model(file, options.reference);
  const auto cohort = norms::load_cohort(options.input, {options.exclude});
  Notes notes;
  const Table scores = norms::score(cohort, model, options.threshold, notes);
  log_notes(notes);
  scores.write_tsv(options.out);
  std::size_t flagged = 0;
  const std::size_t flagged_column = scores.column("flagged");
  for (const auto& row : scores.rows) flagged += std::get<std::string>(row[flagged_column]) == "yes";
  spdlog::info("norms score: {} scans × {} measures, {} values with |z| > {}; wrote {}", cohort.size(),
               model.measures.size(), flagged, options.threshold, options.out.string());
  return ExitCode::Ok;
}

// The new site's name: --site, else the one site of the controls' site column.
std::string site_of_controls(const norms::Cohort& controls, const std::vector<long>& rows, const AdaptOptions& options) {
  if (!options.site.empty()) return options.site;
  std::set<std::string> sites;
  for (long i : rows) sites.insert(controls.site[std::size_t(i)]);
  if (!controls.has_site || sites.empty() || (sites.size() == 1 && sites.begin()->empty()))
    throw UsageError(options.controls.string() + " has no site column: name the new site with --site");
  if (sites.size() > 1)
    throw UsageError(options.controls.string() + " holds " + std::to_string(sites.size()) +
                     " sites; adapt takes one site's controls at a time (or name it with --site)");
  return *sites.begin();
}

ExitCode run_adapt(const AdaptOptions& options) {
  const auto model = [&] {
    const auto file = io::TableFile::open(options.reference);
    return norms::read_normative_model(file, options.reference);
  }();
  const auto controls = norms::load_cohort(options.controls, {options.exclude});
  const auto rows = norms::reference_rows(controls, options.control_group);
  const std::string site = site_of_controls(controls, rows, options);
  Notes notes;
  const auto adapted = norms::adapt_to_site(model, controls, rows, site, notes);
  log_notes(notes);
  auto file = io::TableFile::create(options.out);
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"tool_version", kVersion},
           {"git_commit", kGitCommit},
           {"adapted_from", options.reference.string()},
           {"adapted_site", site},
           {"site_controls", options.controls.string()},
           {"created", now_iso8601()}})
    file.set_attribute(k, v);
  write_normative_model(adapted, file);
  const auto effects = norms::site_effects(adapted);
  file.write_table("/tables/site_effects", effects.columns());
  const auto& first = adapted.fits.front();
  spdlog::info("norms adapt: site {} from {} controls ({} effect on ln {} {:+.4f}, SE {:.4f}); wrote {}", site,
               first.site_n[first.site_n.size() - 1], norms::family_name(adapted.family), adapted.measures.front(),
               first.site_effect[first.site_effect.size() - 1],
               std::sqrt(first.site_variance[first.site_variance.size() - 1]), options.out.string());
  return ExitCode::Ok;
}

ExitCode run_agree(const AgreeOptions& options) {
  const auto threads = limit_threads(options.threads);
  const auto a = norms::load_cohort(options.a, {options.exclude});
  const auto b = norms::load_cohort(options.b, {options.exclude});
  Notes notes;
  const Table table = norms::agreement(a, b, notes);
  log_notes(notes);
  if (table.rows.empty()) throw Error("agree: no measure could be compared (see the warnings)");
  table.write_tsv(options.out);
  if (!options.report.empty()) {
    norms::ReportContent content{"neurocohort method agreement",
                                 &a,
                                 nullptr,
                                 &b,
                                 {&table},
                                 notes,
                                 {{"A", options.a.string()}, {"B", options.b.string()}, {"created", now_iso8601()}},
                                 {}};
    norms::write_report(content, options.report);
  }
  spdlog::info("agree: {} measures compared; wrote {}", table.rows.size(), options.out.string());
  return ExitCode::Ok;
}

std::vector<double> parse_bands(const std::string& text) {
  std::vector<double> bands;
  for (const auto& item : split(text, ',')) {
    try {
      bands.push_back(std::stod(item));
    } catch (const std::exception&) {
      throw UsageError("--age-bands: '" + item + "' is not a number of years");
    }
    if (bands.size() > 1 && !(bands.back() > bands[bands.size() - 2]))
      throw UsageError("--age-bands must increase: " + text);
  }
  return bands;
}

void add_exclude(CLI::App* cmd, std::vector<std::string>& exclude) {
  cmd->add_option("--exclude", exclude, "Numeric column of a volumes table that is a covariate, not a region");
}

}  // namespace

void add_norms_command(CLI::App& app, Action& action) {
  auto* norms_cmd = app.add_subcommand("norms", "Population statistics and normative references");
  norms_cmd->require_subcommand(1);

  auto build = std::make_shared<BuildOptions>();
  auto bands = std::make_shared<std::string>("2,6");
  auto* b = norms_cmd->add_subcommand("build", "Statistics tables and a normative model from results or volumes");
  b->add_option("inputs", build->inputs, "RESULTS.h5 files and/or volumes tables (TSV), pooled")
      ->required()
      ->check(CLI::ExistingFile);
  b->add_option("--out", build->out, "The normative reference to write (NORMS.h5)")->required();
  b->add_option("--tsv", build->tsv_dir, "Folder for the tables as TSV files");
  b->add_option("--report", build->report, "Self-contained HTML report with tables and plots");
  b->add_option("--compare", build->compare, "Other results/volumes of the same scans: agreement table and plots")
      ->check(CLI::ExistingFile);
  b->add_option("--qc", build->qc, "qc.tsv of neurocohort qc: leave out the scans it flags")
      ->check(CLI::ExistingFile);
  b->add_option("--control-group", build->analysis.control_group, "Reference group of the group column")
      ->capture_default_str();
  b->add_option("--age-bands", *bands, "Upper edges of the age bands of the descriptives (years)")
      ->capture_default_str();
  b->add_option("--knots", build->model.knots, "Knots of the normative model's age spline")
      ->check(CLI::Range(3, 7))
      ->capture_default_str();
  b->add_option("--model", build->family,
                "Normative model: gaussian (ln V ~ sex + spline(age), one spread, least squares), mixed (the same "
                "plus a random intercept per site, REML), shash (location, log-scale and skew each ~ sex + "
                "spline(age), sinh-arcsinh outcome, site random intercept, maximum likelihood)")
      ->check(CLI::IsMember({"gaussian", "mixed", "shash"}))
      ->capture_default_str();
  b->add_option("--folds", build->model.calibration.folds,
                "Cross-validation folds (by subject) of the calibration table; 0: none")
      ->check(CLI::IsMember({0, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
      ->capture_default_str();
  b->add_option("--calibration-subjects", build->model.calibration.max_subjects,
                "Cross-validate on an even sample of at most this many reference subjects")
      ->check(CLI::Range(std::size_t(10), std::size_t(10000000)))
      ->capture_default_str();
  b->add_flag("--log-volume", build->analysis.log_volume, "Regression on ln(volume): effects as ratios");
  b->add_flag("--log-age", build->analysis.log_age, "Regression on ln(age)");
  b->add_option("--alpha", build->analysis.alpha, "Significance level after Bonferroni")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  b->add_option("--threads", build->threads, "Worker threads (0: all cores)")->capture_default_str();
  add_exclude(b, build->exclude);
  b->callback([build, bands, &action] {
    build->analysis.age_bands = parse_bands(*bands);
    build->model.family = norms::family_from_name(build->family);
    action = [build] { return run_build(*build); };
  });

  auto score = std::make_shared<ScoreOptions>();
  auto* s = norms_cmd->add_subcommand("score", "z-scores and centiles of scans against a normative reference");
  s->add_option("input", score->input, "RESULTS.h5 or volumes table")->required()->check(CLI::ExistingFile);
  s->add_option("--reference", score->reference, "NORMS.h5 written by norms build")
      ->required()
      ->check(CLI::ExistingFile);
  s->add_option("--out", score->out, "SCORES.tsv to write")->required();
  s->add_option("--threshold", score->threshold, "Flag |z| above this")
      ->check(kFinite)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_exclude(s, score->exclude);
  s->callback([score, &action] { action = [score] { return run_score(*score); }; });

  auto adapt = std::make_shared<AdaptOptions>();
  auto* a = norms_cmd->add_subcommand(
      "adapt", "A reference with one more site, its effect estimated from the site's controls (no refit)");
  a->add_option("reference", adapt->reference, "NORMS.h5 built with --model mixed or shash")
      ->required()
      ->check(CLI::ExistingFile);
  a->add_option("--controls", adapt->controls, "RESULTS.h5 or volumes table of the new site's scans")
      ->required()
      ->check(CLI::ExistingFile);
  a->add_option("--out", adapt->out, "The adapted reference to write (ADAPTED.h5)")->required();
  a->add_option("--site", adapt->site, "Name of the new site (default: the controls' one site)");
  a->add_option("--control-group", adapt->control_group, "Group of the controls' group column used")
      ->capture_default_str();
  add_exclude(a, adapt->exclude);
  a->callback([adapt, &action] { action = [adapt] { return run_adapt(*adapt); }; });
}

void add_agree_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<AgreeOptions>();
  auto* cmd = app.add_subcommand("agree", "Agreement of two segmentations (or measurements) of the same scans");
  cmd->add_option("a", options->a, "RESULTS.h5 or volumes table A")->required()->check(CLI::ExistingFile);
  cmd->add_option("b", options->b, "RESULTS.h5 or volumes table B")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", options->out, "agreement.tsv to write")->capture_default_str();
  cmd->add_option("--report", options->report, "HTML report with Bland-Altman plots");
  cmd->add_option("--threads", options->threads, "Worker threads (0: all cores)")->capture_default_str();
  add_exclude(cmd, options->exclude);
  cmd->callback([options, &action] { action = [options] { return run_agree(*options); }; });
}

}  // namespace nc::cli
