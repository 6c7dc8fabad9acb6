#include "norms/report.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <unordered_map>

#include "core/error.hpp"
#include "core/text.hpp"

namespace nc::norms {
namespace {

namespace fs = std::filesystem;

const char* kStyle = R"(body{font-family:sans-serif;margin:2em;max-width:1300px;color:#222}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.8em;margin:0.5em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f3f3f3}
td:first-child,td:nth-child(2){text-align:left}.plots{display:flex;flex-wrap:wrap;gap:8px}
.plot{width:420px}.notes{font-size:0.85em;color:#555}
dl.notes{display:grid;grid-template-columns:max-content auto;gap:0 1em}dl.notes dd{margin:0})";

std::string display(const Cell& cell) {
  if (const auto* text = std::get_if<std::string>(&cell)) return escape_html(*text);
  const double v = std::get<double>(cell);
  if (std::isnan(v)) return "n/a";
  std::ostringstream out;
  out << std::setprecision(4) << v;
  return out.str();
}

std::string html_table(const Table& table) {
  std::ostringstream out;
  out << "<h2>" << escape_html(table.name) << "</h2>\n<table><tr>";
  for (const auto& h : table.header) out << "<th>" << escape_html(h) << "</th>";
  out << "</tr>\n";
  for (const auto& row : table.rows) {
    out << "<tr>";
    for (const auto& cell : row) out << "<td>" << display(cell) << "</td>";
    out << "</tr>\n";
  }
  out << "</table>\n";
  return out.str();
}

// gnuplot's inline data block: one "x y [...]" line per point.
void data_block(std::ostream& script, const std::string& name, const std::vector<std::vector<double>>& points) {
  script << '$' << name << " << EOD\n";
  for (const auto& p : points) {
    for (std::size_t j = 0; j < p.size(); ++j) script << (j ? " " : "") << std::setprecision(8) << p[j];
    script << '\n';
  }
  script << "EOD\n";
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\\\"") : ch == '_' ? std::string("\\\\_") : std::string(1, ch);
  return out + "\"";
}

// Every k-th row, so that at most kMaxPlottedScans remain.
std::vector<std::size_t> even_sample(std::size_t n) {
  const std::size_t step = n <= kMaxPlottedScans ? 1 : (n + kMaxPlottedScans - 1) / kMaxPlottedScans;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; i += step) rows.push_back(i);
  return rows;
}

class Plotter {
 public:
  explicit Plotter(fs::path dir) : dir_(std::move(dir)) {}
  // Starts a plot and returns its id; the caller writes data blocks and the plot command.
  std::ostream& begin(const std::string& id) {
    ids_.push_back(id);
    script_ << "reset session\nset terminal svg size 420,320 dynamic font 'sans,10' background rgb 'white'\n"
            << "set grid lc rgb '#dddddd'\nset key top left box opaque\nset output '" << (dir_ / (id + ".svg")).string()
            << "'\n";
    return script_;
  }
  // Runs gnuplot once for every plot; returns the SVG text per id.
  std::unordered_map<std::string, std::string> render() const {
    const fs::path script_path = dir_ / "plots.gp", log_path = dir_ / "gnuplot.log";
    {
      std::ofstream out(script_path);
      out << script_.str() << "unset output\n";
    }
    const std::string command = "gnuplot '" + script_path.string() + "' > '" + log_path.string() + "' 2>&1";
    const int status = std::system(command.c_str());
    if (status != 0) {
      std::ifstream log(log_path);
      std::string first_line;
      std::getline(log, first_line);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        throw Error("the report needs gnuplot on PATH (Debian: gnuplot-nox)");
      throw Error("gnuplot failed drawing the report's plots: " + first_line);
    }
    std::unordered_map<std::string, std::string> svgs;
    for (const auto& id : ids_) {
      std::ifstream in(dir_ / (id + ".svg"));
      std::stringstream text;
      text << in.rdbuf();
      const std::string svg = text.str();
      const auto start = svg.find("<svg");
      if (start == std::string::npos) throw Error("gnuplot wrote no SVG for plot " + id);
      svgs[id] = svg.substr(start);  // drop the XML prolog: the SVG is inlined in HTML
    }
    return svgs;
  }

 private:
  fs::path dir_;
  std::ostringstream script_;
  std::vector<std::string> ids_;
};

const char* kFemaleColour = "#d95f02";
const char* kMaleColour = "#1b6ac9";

void plot_volume_against_age(Plotter& plotter, const std::string& id, const Cohort& c, const MeasureSet& measures,
                             std::size_t m, const NormativeModel* model) {
  std::ostream& s = plotter.begin(id);
  std::vector<std::vector<double>> female, male;
  for (std::size_t i : even_sample(c.size())) {
    const double v = measures.values(long(i), long(m));
    if (std::isfinite(v)) (c.sex[i] == "M" ? male : female).push_back({c.age[i], v});
  }
  data_block(s, "F", female);
  data_block(s, "M", male);
  s << "set title " << quoted(measures.names[m]) << "\nset xlabel 'age (years)'\nset ylabel 'volume (mL)'\n";
  std::string plot = "plot $F using 1:2 with points pt 7 ps 0.35 lc rgb '" + std::string(kFemaleColour) +
                     "' title 'F', $M using 1:2 with points pt 7 ps 0.35 lc rgb '" + kMaleColour + "' title 'M'";
  const auto k = model ? std::find(model->measures.begin(), model->measures.end(), measures.names[m])
                       : std::vector<std::string>::const_iterator();
  if (model && k != model->measures.end()) {
    const std::size_t index = std::size_t(k - model->measures.begin());
    for (const bool is_male : {false, true}) {
      std::vector<std::vector<double>> curve;
      const double low = model->fits[index].age_min, high = model->fits[index].age_max;
      for (int step = 0; step <= 100; ++step) {
        const double age = low + (high - low) * step / 100.0;
        const Shash p = model->predict(index, age, is_male, -1);  // a site at the mean (a new one)
        curve.push_back({age, std::exp(p.at_z(0)), std::exp(p.at_z(-1.96)), std::exp(p.at_z(1.96))});
      }
      const std::string name = is_male ? "curveM" : "curveF";
      const std::string colour = is_male ? kMaleColour : kFemaleColour;
      data_block(s, name, curve);
      plot += ", $" + name + " using 1:3:4 with filledcurves fs transparent solid 0.15 noborder lc rgb '" + colour +
              "' notitle, $" + name + " using 1:2 with lines lw 2 lc rgb '" + colour + "' title '" +
              (is_male ? "M" : "F") + " median'";
    }
  }
  s << plot << "\n";
}

// Observed against expected share of held-out scans below each centile, one line per model.
void plot_calibration(Plotter& plotter, const Table& coverage) {
  std::ostream& s = plotter.begin("calibration");
  std::map<std::string, std::vector<std::vector<double>>> lines;
  const std::size_t model = coverage.column("model"), expected = coverage.column("expected"),
                    observed = coverage.column("observed");
  for (const auto& row : coverage.rows)
    lines[std::get<std::string>(row[model])].push_back(
        {100 * std::get<double>(row[expected]), 100 * std::get<double>(row[observed])});
  std::string plot = "plot x with lines dt 2 lc rgb '#888888' title 'ideal'";
  for (const auto& [name, points] : lines) {
    data_block(s, "c_" + name, points);
    plot += ", $c_" + name + " using 1:2 with lines lw 2 title " + quoted(name);
  }
  s << "set title 'calibration (held out)'\nset xlabel 'centile'\nset ylabel 'observed % below'\n"
    << "set xrange [0:100]\nset yrange [0:100]\n" << plot << "\n";
}

void plot_asymmetry(Plotter& plotter, const Table& asymmetry) {
  std::ostream& s = plotter.begin("asymmetry");
  std::vector<std::string> pairs;
  std::vector<std::vector<double>> all, female, male;
  const std::size_t pair_column = asymmetry.column("pair"), stratum_column = asymmetry.column("stratum"),
                    index = asymmetry.column("asymmetry_index"), low = asymmetry.column("ai_ci_low"),
                    high = asymmetry.column("ai_ci_high");
  for (const auto& row : asymmetry.rows) {
    const auto& pair = std::get<std::string>(row[pair_column]);
    const auto& stratum = std::get<std::string>(row[stratum_column]);
    if (std::find(pairs.begin(), pairs.end(), pair) == pairs.end()) pairs.push_back(pair);
    const double x = double(std::find(pairs.begin(), pairs.end(), pair) - pairs.begin());
    const double offset = stratum == "all" ? 0 : stratum == "sex=F" ? -0.2 : 0.2;
    auto& series = stratum == "all" ? all : stratum == "sex=F" ? female : male;
    series.push_back(
        {x + offset, std::get<double>(row[index]), std::get<double>(row[low]), std::get<double>(row[high])});
  }
  data_block(s, "all", all);
  data_block(s, "F", female);
  data_block(s, "M", male);
  s << "set title 'asymmetry index 2(L-R)/(L+R), 95% CI'\nset xtics (";
  for (std::size_t k = 0; k < pairs.size(); ++k) s << (k ? ", " : "") << quoted(pairs[k]) << ' ' << k;
  s << ")\nset xrange [-0.6:" << double(pairs.size()) - 0.4
    << "]\nset key below horizontal\nset arrow from graph 0, first 0 "
    << "to graph 1, first 0 nohead lc rgb '#888888'\n"
    << "plot $all using 1:2:3:4 with yerrorbars pt 7 lc rgb '#333333' title 'all', $F using 1:2:3:4 with yerrorbars "
    << "pt 7 lc rgb '" << kFemaleColour << "' title 'F', $M using 1:2:3:4 with yerrorbars pt 7 lc rgb '" << kMaleColour
    << "' title 'M'\n";
}

void plot_bland_altman(Plotter& plotter, const std::string& id, const std::string& measure,
                       const std::vector<std::pair<double, double>>& pairs, const Table& agreement,
                       const std::vector<Cell>& agreement_row) {
  std::ostream& s = plotter.begin(id);
  std::vector<std::vector<double>> points;
  for (const auto& [a, b] : pairs) points.push_back({(a + b) / 2, a - b});
  data_block(s, "D", points);
  const auto number = [&](const char* column) { return std::get<double>(agreement_row[agreement.column(column)]); };
  const double bias = number("bias"), low = number("loa_low"), high = number("loa_high");
  s << "set title " << quoted("Bland-Altman: " + measure) << "\nset xlabel 'mean of A and B (mL)'\n"
    << "set ylabel 'A - B (mL)'\nset key below horizontal\n"
    << "plot $D using 1:2 with points pt 7 ps 0.4 lc rgb '#7570b3' title 'scans', " << bias
    << " with lines lw 2 lc rgb '#1b9e77' title 'bias', " << low
    << " with lines dt 2 lc rgb '#e7298a' title '95% LoA', " << high << " with lines dt 2 lc rgb '#e7298a' notitle\n";
}

std::string composition(const Cohort& c) {
  std::map<std::string, int> by_sex, by_group, by_modality;
  double age_min = 1e9, age_max = -1e9;
  for (std::size_t i = 0; i < c.size(); ++i) {
    ++by_sex[c.sex[i]];
    if (c.has_group) ++by_group[c.group[i]];
    if (c.has_modality) ++by_modality[c.modality[i]];
    age_min = std::min(age_min, c.age[i]);
    age_max = std::max(age_max, c.age[i]);
  }
  std::ostringstream out;
  const auto counts = [&](const char* what, const std::map<std::string, int>& m) {
    if (m.empty()) return;
    out << "<li>" << what << ": ";
    bool first = true;
    for (const auto& [k, n] : m) {
      out << (first ? "" : ", ") << escape_html(k) << " " << n;
      first = false;
    }
    out << "</li>";
  };
  out << "<ul><li>" << c.size() << " scans measured (" << c.skipped_scans << " failed or pending left out), "
      << c.regions.size() << " regions</li><li>age " << std::setprecision(3) << age_min << " to " << age_max
      << " years</li>";
  counts("sex", by_sex);
  counts("group", by_group);
  counts("modality", by_modality);
  out << "</ul>\n";
  return out.str();
}

// Scans of both cohorts, matched by scan_id, with both volumes finite.
std::vector<std::pair<double, double>> matched_volumes(const Cohort& a, const MeasureSet& ma, std::size_t m,
                                                       const Cohort& b, const MeasureSet& mb, std::size_t mb_index) {
  std::unordered_map<std::string, std::size_t> b_row;
  for (std::size_t i = 0; i < b.size(); ++i) b_row.emplace(b.scan_id[i], i);
  std::vector<std::pair<double, double>> pairs;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto it = b_row.find(a.scan_id[i]);
    if (it == b_row.end()) continue;
    const double va = ma.values(long(i), long(m)), vb = mb.values(long(it->second), long(mb_index));
    if (std::isfinite(va) && std::isfinite(vb)) pairs.emplace_back(va, vb);
  }
  return pairs;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "neurocohort-report-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw Error("cannot create a temporary folder for the report's plots");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

void write_report(const ReportContent& content, const fs::path& out) {
  const Cohort& c = *content.cohort;
  const MeasureSet measures = measures_of(c);
  TempDir temp;
  Plotter plotter(temp.path);
  std::vector<std::string> age_plots, agreement_plots;
  for (std::size_t m = 0; m < measures.names.size(); ++m) {
    age_plots.push_back("age" + std::to_string(m));
    plot_volume_against_age(plotter, age_plots.back(), c, measures, m, content.model);
  }
  const Table* asymmetry_table = nullptr;
  const Table* agreement_table = nullptr;
  const Table* coverage_table = nullptr;
  for (const Table* t : content.tables) {
    if (t->name == "asymmetry" && !t->rows.empty()) asymmetry_table = t;
    if (t->name == "coverage" && !t->rows.empty()) coverage_table = t;
    if (t->name == "agreement" && !t->rows.empty()) agreement_table = t;
  }
  if (asymmetry_table) plot_asymmetry(plotter, *asymmetry_table);
  if (coverage_table) plot_calibration(plotter, *coverage_table);
  if (agreement_table && content.compared) {
    const MeasureSet compared = measures_of(*content.compared);
    const std::size_t measure_column = agreement_table->column("measure");
    for (const auto& row : agreement_table->rows) {
      const auto& name = std::get<std::string>(row[measure_column]);
      const auto ia = std::find(measures.names.begin(), measures.names.end(), name);
      const auto ib = std::find(compared.names.begin(), compared.names.end(), name);
      if (ia == measures.names.end() || ib == compared.names.end()) continue;
      agreement_plots.push_back("agree" + std::to_string(agreement_plots.size()));
      plot_bland_altman(plotter, agreement_plots.back(), name,
                        matched_volumes(c, measures, std::size_t(ia - measures.names.begin()), *content.compared,
                                        compared, std::size_t(ib - compared.names.begin())),
                        *agreement_table, row);
    }
  }
  const auto svgs = plotter.render();
  const auto plots = [&](const std::vector<std::string>& ids) {
    std::string html = "<div class=\"plots\">";
    for (const auto& id : ids) html += "<div class=\"plot\">" + svgs.at(id) + "</div>\n";
    return html + "</div>\n";
  };

  std::ofstream html(out);
  if (!html) throw Error(out.string() + ": cannot write the report", Cause::Runtime);
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << escape_html(content.title)
       << "</title><style>" << kStyle << "</style></head><body>\n<h1>" << escape_html(content.title) << "</h1>\n"
       << composition(c);
  if (!content.provenance.empty()) {
    html << "<dl class=\"notes\">";
    for (const auto& [k, v] : content.provenance)
      html << "<dt>" << escape_html(k) << "</dt><dd>" << escape_html(v) << "</dd>";
    html << "</dl>\n";
  }
  html << "<h2>Volume against age</h2>\n<p>Points: scans (at most " << kMaxPlottedScans
       << " per plot). Lines: the normative median by sex; bands: its 2.5th to 97.5th centiles"
       << (content.model ? " (" + family_name(content.model->family) + " model, at a site of mean effect)" : "")
       << ".</p>\n"
       << plots(age_plots);
  if (coverage_table)
    html << "<h2>Calibration</h2>\n<p>Cross-validated, whole subjects held out: the share of held-out scans "
            "below each centile, averaged over the measures. "
         << escape_html(content.verdict) << ".</p>\n"
         << plots({"calibration"});
  if (asymmetry_table) html << "<h2>Asymmetry</h2>\n" << plots({"asymmetry"});
  if (!agreement_plots.empty()) html << "<h2>Agreement (Bland-Altman)</h2>\n" << plots(agreement_plots);
  for (const Table* t : content.tables)  // coverage is the calibration plot
    if (!t->rows.empty() && t != coverage_table) html << html_table(*t);
  if (!content.notes.empty()) {
    html << "<h2>Notes</h2>\n<ul class=\"notes\">";
    for (const auto& n : content.notes) html << "<li>" << escape_html(n) << "</li>";
    html << "</ul>\n";
  }
  html << "</body></html>\n";
  if (!html) throw Error(out.string() + ": write error");
}

}  // namespace nc::norms
