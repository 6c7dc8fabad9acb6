#include "qc/page.hpp"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "qc/snapshot.hpp"

namespace nc::qc {
namespace {

const char* kStyle = R"(body{font-family:sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}table{border-collapse:collapse;font-size:0.8em}
td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:middle}th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}
td.n{text-align:right}tr.flagged td{background:#fff4f0}.flag{display:inline-block;background:#c0392b;color:#fff;
border-radius:3px;padding:0 4px;margin:1px;font-size:0.9em}.reason{min-width:30em;max-width:60em;font-size:0.9em;color:#444}
.legend span{display:inline-block;margin-right:1em}.swatch{display:inline-block;width:1em;height:1em;
vertical-align:middle;margin-right:0.3em;border:1px solid #888}img.thumb{display:block;background:#000}
.summary td{text-align:right}.notes{font-size:0.85em;color:#555})";

// Click a header to sort by it (numbers as numbers), click again to reverse.
const char* kSortScript = R"(document.querySelectorAll('table.scans th').forEach((th, column) => {
  th.addEventListener('click', () => {
    const body = th.closest('table').tBodies[0];
    const up = th.dataset.order !== 'up';
    th.dataset.order = up ? 'up' : 'down';
    const key = r => r.cells[column].dataset.v ?? r.cells[column].textContent;
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? c : -c;
    });
    rows.forEach(r => body.appendChild(r));
  });
});)";

std::string cell_text(const std::vector<norms::Cell>& row, std::size_t column, int digits) {
  if (column >= row.size()) return "";
  if (const auto* text = std::get_if<std::string>(&row[column])) return *text;
  const double v = std::get<double>(row[column]);
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "n/a";
}

std::string hex(const Rgb& c) { return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]); }

void write_summary(std::ostream& html, const PageContent& c) {
  const Assessment& a = *c.assessment;
  std::map<std::string, std::size_t> by_flag;
  std::size_t flagged = 0;
  for (const auto& flags : a.flags) {
    flagged += !flags.empty();
    for (const auto& f : flags) ++by_flag[f.name];
  }
  html << "<p>" << escape_html(c.results) << ": " << a.flags.size() << " scans, " << flagged << " flagged.</p>\n";
  html << "<table class=\"summary\"><tr><th>flag</th><th>scans</th></tr>";
  for (const auto& [name, n] : by_flag) html << "<tr><td>" << escape_html(name) << "</td><td>" << n << "</td></tr>";
  html << "</table>\n<p class=\"legend\">";
  for (std::size_t r = 0; r < c.regions.size(); ++r)
    html << "<span><span class=\"swatch\" style=\"background:" << hex(region_colour(r)) << "\"></span>"
         << escape_html(c.regions[r].name) << "</span>";
  html << "</p>\n";
  if (!c.rules.empty()) {
    html << "<p class=\"notes\">Rules (docs/qc.md):";
    for (const auto& rule : c.rules) html << " " << escape_html(rule) << ";";
    html << "</p>\n";
  }
  if (!a.notes.empty()) {
    html << "<ul class=\"notes\">";
    for (const auto& n : a.notes) html << "<li>" << escape_html(n) << "</li>";
    html << "</ul>\n";
  }
}

// Flagged scans first (more flags higher), the results file's order within each.
std::vector<std::size_t> display_order(const Assessment& a) {
  std::vector<std::size_t> order(a.flags.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return a.flags[x].size() > a.flags[y].size(); });
  return order;
}

// The first findings of a reason; qc.tsv keeps them all.
std::string shortened_reason(const std::string& reason) {
  constexpr std::size_t kShown = 3;
  std::size_t at = 0;
  for (std::size_t shown = 0; shown < kShown; ++shown) {
    at = reason.find("; ", at);
    if (at == std::string::npos) return reason;
    at += 2;
  }
  std::size_t more = 1;
  for (std::size_t p = reason.find("; ", at); p != std::string::npos; p = reason.find("; ", p + 2)) ++more;
  return reason.substr(0, at - 2) + fmt::format("; and {} more (qc.tsv)", more);
}

void write_row(std::ostream& html, const PageContent& c, std::size_t i) {
  const Assessment& a = *c.assessment;
  const auto& row = a.table.rows[i];
  const auto& t = a.table;
  html << "<tr" << (a.flags[i].empty() ? "" : " class=\"flagged\"") << "><td data-v=\"" << a.flags[i].size() << "\">";
  if (c.has_snapshot[i])
    html << "<a href=\"" << snapshot_name(i) << "\"><img class=\"thumb\" loading=\"lazy\" src=\"" << thumbnail_name(i)
         << "\" width=\"" << 3 * kSnapshotTile / kThumbnailShrink << "\" height=\"" << kSnapshotTile / kThumbnailShrink
         << "\" alt=\"snapshot\"></a>";
  else if (!c.snapshot_error[i].empty())
    html << "<span class=\"reason\">no snapshot: " << escape_html(c.snapshot_error[i]) << "</span>";
  html << "</td>";
  for (const auto& [name, digits] : std::vector<std::pair<const char*, int>>{{"scan_id", 0},
                                                                             {"status", 0},
                                                                             {"modality", 0},
                                                                             {"icv_ml", 0},
                                                                             {"mean_max_probability", 3},
                                                                             {"low_margin_fraction", 3},
                                                                             {"brain_share_of_head", 3},
                                                                             {"tissue_cnr", 2},
                                                                             {"brain_median", 0}}) {
    const std::size_t column = t.column(name);
    const std::string text = cell_text(row, column, digits);
    const bool number = row.size() > column && std::holds_alternative<double>(row[column]);
    html << "<td" << (number ? " class=\"n\"" : "") << ">" << escape_html(text) << "</td>";
  }
  html << "<td>";
  for (const auto& f : a.flags[i]) html << "<span class=\"flag\">" << escape_html(f.name) << "</span>";
  html << "</td><td class=\"reason\">";
  for (std::size_t f = 0; f < a.flags[i].size(); ++f)
    html << (f ? "<br>" : "") << "<b>" << escape_html(a.flags[i][f].name)
         << "</b>: " << escape_html(shortened_reason(a.flags[i][f].reason));
  html << "</td></tr>\n";
}

}  // namespace

void write_qc_page(const PageContent& c, const std::filesystem::path& path) {
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>neurocohort QC</title><style>"
       << kStyle << "</style></head><body>\n<h1>neurocohort quality control</h1>\n";
  write_summary(html, c);
  html << "<table class=\"scans\"><thead><tr><th>snapshot</th><th>scan</th><th>status</th><th>modality</th>"
          "<th>ICV mL</th><th>top prob.</th><th>uncertain</th><th>brain/head</th><th>CNR</th><th>median</th>"
          "<th>flags</th><th>reasons</th></tr></thead><tbody>\n";
  for (std::size_t i : display_order(*c.assessment)) write_row(html, c, i);
  html << "</tbody></table>\n<script>" << kSortScript << "</script>\n</body></html>\n";
  std::ofstream out(path, std::ios::binary);
  out << html.str();
  if (!out.flush()) throw Error(path.string() + ": cannot write the QC page", Cause::Runtime);
}

}  // namespace nc::qc
