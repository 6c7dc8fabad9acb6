#include "norms/analyses.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <unordered_map>

#include "norms/statistics.hpp"

namespace nc::norms {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using Rows = std::vector<std::vector<Cell>>;

std::string format_number(double v) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, end);
}

// Runs fn(m, rows, notes) for every item in parallel and concatenates rows and notes in item
// order, so the tables do not depend on the thread count.
void for_each_item(std::size_t count, Rows& rows, Notes& notes,
                   const std::function<void(std::size_t, Rows&, Notes&)>& fn) {
  std::vector<Rows> item_rows(count);
  std::vector<Notes> item_notes(count);
  tbb::parallel_for(std::size_t(0), count, [&](std::size_t m) { fn(m, item_rows[m], item_notes[m]); });
  for (std::size_t m = 0; m < count; ++m) {
    for (auto& r : item_rows[m]) rows.push_back(std::move(r));
    for (auto& n : item_notes[m]) notes.push_back(std::move(n));
  }
}

struct Stratum {
  std::string label;
  std::vector<long> rows;
};

std::vector<long> rows_where(const Cohort& c, const std::function<bool(std::size_t)>& keep) {
  std::vector<long> rows;
  for (std::size_t i = 0; i < c.size(); ++i)
    if (keep(i)) rows.push_back(long(i));
  return rows;
}

// Sorted distinct non-empty values of a text column over some rows.
std::vector<std::string> levels(const std::vector<std::string>& column, const std::vector<long>& rows) {
  std::set<std::string> seen;
  for (long i : rows)
    if (!column[std::size_t(i)].empty()) seen.insert(column[std::size_t(i)]);
  return {seen.begin(), seen.end()};
}

std::vector<long> all_rows(const Cohort& c) {
  return rows_where(c, [](std::size_t) { return true; });
}

void add_level_strata(std::vector<Stratum>& strata, const Cohort& c, const char* name,
                      const std::vector<std::string>& column) {
  for (const auto& level : levels(column, all_rows(c)))
    strata.push_back(
        {std::string(name) + "=" + level, rows_where(c, [&](std::size_t i) { return column[i] == level; })});
}

std::vector<Stratum> sex_strata(const Cohort& c) {
  std::vector<Stratum> strata = {{"all", all_rows(c)}};
  for (const char* sex : {"F", "M"})
    strata.push_back({std::string("sex=") + sex, rows_where(c, [&](std::size_t i) { return c.sex[i] == sex; })});
  return strata;
}

std::vector<Stratum> age_band_strata(const Cohort& c, const std::vector<double>& edges) {
  std::vector<Stratum> strata;
  for (std::size_t b = 0; b <= edges.size(); ++b) {
    const double low = b == 0 ? -std::numeric_limits<double>::infinity() : edges[b - 1];
    const double high = b == edges.size() ? std::numeric_limits<double>::infinity() : edges[b];
    std::string label = b == 0              ? "age<=" + format_number(high)
                        : b == edges.size() ? "age>" + format_number(low)
                                            : format_number(low) + "<age<=" + format_number(high);
    strata.push_back({label, rows_where(c, [&](std::size_t i) { return c.age[i] > low && c.age[i] <= high; })});
  }
  return strata;
}

std::vector<double> finite_values(const Eigen::MatrixXd& values, long column, const std::vector<long>& rows) {
  std::vector<double> out;
  for (long i : rows)
    if (std::isfinite(values(i, column))) out.push_back(values(i, column));
  return out;
}

std::vector<long> finite_rows(const Eigen::MatrixXd& values, long column, const std::vector<long>& rows) {
  std::vector<long> out;
  for (long i : rows)
    if (std::isfinite(values(i, column))) out.push_back(i);
  return out;
}

Eigen::VectorXd gather(const Eigen::MatrixXd& values, long column, const std::vector<long>& rows) {
  Eigen::VectorXd out(long(rows.size()));
  for (std::size_t k = 0; k < rows.size(); ++k) out[long(k)] = values(rows[k], column);
  return out;
}

Eigen::VectorXd gather(const std::vector<double>& values, const std::vector<long>& rows) {
  Eigen::VectorXd out(long(rows.size()));
  for (std::size_t k = 0; k < rows.size(); ++k) out[long(k)] = values[std::size_t(rows[k])];
  return out;
}

bool both_sexes(const Cohort& c, const std::vector<long>& rows) { return levels(c.sex, rows).size() == 2; }

// A categorical covariate enters a model only when every scan has it and it has two levels.
bool usable_factor(bool present, const std::vector<std::string>& column, const std::vector<long>& rows) {
  if (!present) return false;
  for (long i : rows)
    if (column[std::size_t(i)].empty()) return false;
  return levels(column, rows).size() >= 2;
}

struct Design {
  Eigen::MatrixXd x;
  std::vector<std::string> terms;
};

// Builds a design from named columns evaluated per row.
class DesignBuilder {
 public:
  explicit DesignBuilder(const std::vector<long>& rows) : rows_(rows) {}
  void add(std::string term, const std::function<double(std::size_t)>& value) {
    terms_.push_back(std::move(term));
    columns_.push_back(value);
  }
  void add_factor(const std::string& name, const std::vector<std::string>& column, const std::string& reference) {
    for (const auto& level : levels(column, rows_))
      if (level != reference)
        add(name + "[" + level + "]", [&column, level](std::size_t i) { return column[i] == level ? 1.0 : 0.0; });
  }
  Design build() const {
    Design d{Eigen::MatrixXd(long(rows_.size()), long(columns_.size())), terms_};
    for (std::size_t k = 0; k < rows_.size(); ++k)
      for (std::size_t j = 0; j < columns_.size(); ++j) d.x(long(k), long(j)) = columns_[j](std::size_t(rows_[k]));
    return d;
  }

 private:
  const std::vector<long>& rows_;
  std::vector<std::string> terms_;
  std::vector<std::function<double(std::size_t)>> columns_;
};

std::string reference_level(const std::vector<std::string>& column, const std::vector<long>& rows,
                            const std::string& preferred) {
  const auto all = levels(column, rows);
  return std::find(all.begin(), all.end(), preferred) != all.end() ? preferred : all.front();
}

}  // namespace

MeasureSet measures_of(const Cohort& c) {
  MeasureSet set;
  for (const auto& r : c.regions) set.names.push_back(r.name);
  set.regions = c.regions.size();
  if (!c.has_icv) {
    set.values = c.volume_ml;
    return set;
  }
  set.names.push_back("icv");
  set.values.resize(long(c.size()), long(set.names.size()));
  set.values.leftCols(long(set.regions)) = c.volume_ml;
  for (std::size_t i = 0; i < c.size(); ++i) set.values(long(i), long(set.regions)) = c.icv_ml[i];
  return set;
}

std::vector<long> reference_rows(const Cohort& c, const std::string& control_group) {
  const auto controls = rows_where(c, [&](std::size_t i) { return c.group[i] == control_group; });
  return c.has_group && !controls.empty() ? controls : all_rows(c);
}

IcvAdjustment icv_adjustment(const Cohort& c, const AnalysisOptions& options, Notes& notes) {
  IcvAdjustment adj;
  adj.table = {"icv_adjustment", {"measure", "n", "beta", "mean_icv_ml", "r_squared"}, {}};
  adj.beta.assign(c.regions.size(), kNaN);
  adj.mean_icv.assign(c.regions.size(), kNaN);
  if (!c.has_icv) {
    notes.push_back("ICV adjustment: the inputs have no icv_ml; skipped");
    return adj;
  }
  const auto reference = reference_rows(c, options.control_group);
  Eigen::MatrixXd icv(long(c.size()), 1);
  for (std::size_t i = 0; i < c.size(); ++i) icv(long(i), 0) = c.icv_ml[i];
  for_each_item(c.regions.size(), adj.table.rows, notes, [&](std::size_t r, Rows& rows, Notes& item_notes) {
    std::vector<long> used;
    for (long i : finite_rows(c.volume_ml, long(r), reference))
      if (std::isfinite(icv(i, 0))) used.push_back(i);
    DesignBuilder design(used);
    design.add("intercept", [](std::size_t) { return 1.0; });
    design.add("icv", [&](std::size_t i) { return c.icv_ml[i]; });
    const OlsFit fit = ols(design.build().x, gather(c.volume_ml, long(r), used));
    if (!fit.ok()) {
      item_notes.push_back("ICV adjustment of " + c.regions[r].name + ": " + fit.why + "; skipped");
      return;
    }
    adj.beta[r] = fit.beta[1];
    adj.mean_icv[r] = gather(icv, 0, used).mean();
    rows.push_back({c.regions[r].name, double(fit.n), adj.beta[r], adj.mean_icv[r], fit.r_squared});
  });
  return adj;
}

Table descriptives(const Cohort& c, const MeasureSet& measures, const IcvAdjustment* adjustment,
                   const AnalysisOptions& options, Notes& notes) {
  Table table{"descriptives", {"measure", "volume", "stratum", "n", "mean", "sd", "median", "min", "max"}, {}};
  std::vector<Stratum> strata = sex_strata(c);
  for (auto& s : age_band_strata(c, options.age_bands)) strata.push_back(std::move(s));
  if (c.has_group) add_level_strata(strata, c, "group", c.group);
  if (c.has_modality) add_level_strata(strata, c, "modality", c.modality);

  const auto summary_row = [](const std::string& measure, const char* kind, const std::string& stratum,
                              const Summary& s) -> std::vector<Cell> {
    return {measure, std::string(kind), stratum, double(s.n), s.mean, s.sd, s.median, s.min, s.max};
  };
  for_each_item(measures.names.size(), table.rows, notes, [&](std::size_t m, Rows& rows, Notes& item_notes) {
    const bool adjustable = adjustment && m < measures.regions && std::isfinite(adjustment->beta[m]);
    for (const auto& stratum : strata) {
      const auto values = finite_values(measures.values, long(m), stratum.rows);
      if (values.size() < 2) {
        if (!stratum.rows.empty())
          item_notes.push_back("descriptives of " + measures.names[m] + ", " + stratum.label + ": " +
                               std::to_string(values.size()) + " scan(s); left out");
        continue;
      }
      rows.push_back(summary_row(measures.names[m], "raw", stratum.label, summarize(values)));
      if (!adjustable) continue;
      std::vector<double> adjusted;
      for (long i : finite_rows(measures.values, long(m), stratum.rows))
        if (std::isfinite(c.icv_ml[std::size_t(i)]))
          adjusted.push_back(measures.values(i, long(m)) -
                             adjustment->beta[m] * (c.icv_ml[std::size_t(i)] - adjustment->mean_icv[m]));
      if (adjusted.size() >= 2)
        rows.push_back(summary_row(measures.names[m], "icv_adjusted", stratum.label, summarize(adjusted)));
    }
  });
  return table;
}

Table regression(const Cohort& c, const MeasureSet& measures, const AnalysisOptions& options, Notes& notes) {
  Table table{"regression",
              {"measure", "term", "estimate", "std_error", "t", "p", "ci_low", "ci_high", "n", "df_resid", "r_squared",
               "adj_r_squared", "spearman_rho", "spearman_p"},
              {}};
  for_each_item(measures.names.size(), table.rows, notes, [&](std::size_t m, Rows& rows, Notes& item_notes) {
    const std::string& name = measures.names[m];
    std::vector<long> used;
    for (long i : finite_rows(measures.values, long(m), all_rows(c))) {
      const bool log_ok =
          (!options.log_volume || measures.values(i, long(m)) > 0) && (!options.log_age || c.age[std::size_t(i)] > 0);
      if (log_ok) used.push_back(i);
    }
    DesignBuilder design(used);
    design.add("intercept", [](std::size_t) { return 1.0; });
    design.add("age", [&](std::size_t i) { return options.log_age ? std::log(c.age[i]) : c.age[i]; });
    if (both_sexes(c, used))
      design.add("sex[M]", [&](std::size_t i) { return c.sex[i] == "M" ? 1.0 : 0.0; });
    else
      item_notes.push_back("regression of " + name + ": one sex only; no sex term");
    if (usable_factor(c.has_group, c.group, used))
      design.add_factor("group", c.group, reference_level(c.group, used, options.control_group));
    if (usable_factor(c.has_site, c.site, used)) design.add_factor("site", c.site, levels(c.site, used).front());
    const Design d = design.build();
    Eigen::VectorXd y = gather(measures.values, long(m), used);
    if (options.log_volume) y = y.array().log();
    const OlsFit fit = ols(d.x, y);
    if (!fit.ok()) {
      item_notes.push_back("regression of " + name + ": " + fit.why + "; skipped");
      return;
    }
    const Correlation rho = spearman(gather(measures.values, long(m), used), gather(c.age, used));
    const double t_crit = t_quantile(0.975, double(fit.df_resid));
    for (std::size_t j = 0; j < d.terms.size(); ++j) {
      const long k = long(j);
      rows.push_back({name, d.terms[j], fit.beta[k], fit.std_error[k], fit.t[k], fit.p[k],
                      fit.beta[k] - t_crit * fit.std_error[k], fit.beta[k] + t_crit * fit.std_error[k], double(fit.n),
                      double(fit.df_resid), fit.r_squared, fit.adj_r_squared, rho.ok() ? rho.r : kNaN,
                      rho.ok() ? rho.p : kNaN});
    }
  });
  return table;
}

Table asymmetry(const Cohort& c, Notes& notes) {
  Table table{"asymmetry",
              {"pair", "stratum", "left", "right", "n", "mean_left", "mean_right", "mean_difference", "sd_difference",
               "t", "df", "p", "cohen_dz", "asymmetry_index", "ai_ci_low", "ai_ci_high"},
              {}};
  std::vector<std::pair<long, long>> pairs;
  for (std::size_t l = 0; l < c.regions.size(); ++l) {
    if (c.regions[l].hemisphere != "L") continue;
    for (std::size_t r = 0; r < c.regions.size(); ++r)
      if (c.regions[r].hemisphere == "R" && c.regions[r].pair_key == c.regions[l].pair_key)
        pairs.emplace_back(long(l), long(r));
  }
  if (pairs.empty()) notes.push_back("asymmetry: no left/right region pairs; skipped");
  const auto strata = sex_strata(c);
  for_each_item(pairs.size(), table.rows, notes, [&](std::size_t k, Rows& rows, Notes& item_notes) {
    const auto [l, r] = pairs[k];
    const std::string& key = c.regions[std::size_t(l)].pair_key;
    for (const auto& stratum : strata) {
      std::vector<long> used;
      for (long i : finite_rows(c.volume_ml, l, stratum.rows))
        if (std::isfinite(c.volume_ml(i, r))) used.push_back(i);
      const Eigen::VectorXd left = gather(c.volume_ml, l, used), right = gather(c.volume_ml, r, used);
      const PairedTest test = paired_t(left, right);
      if (!test.ok()) {
        item_notes.push_back("asymmetry of " + key + ", " + stratum.label + ": " + test.why + "; left out");
        continue;
      }
      const Eigen::ArrayXd index = 2 * (left - right).array() / (left + right).array();
      const double mean = index.mean();
      const double sd = std::sqrt((index - mean).square().sum() / double(index.size() - 1));
      const double half = t_quantile(0.975, test.df) * sd / std::sqrt(double(index.size()));
      rows.push_back({key, stratum.label, c.regions[std::size_t(l)].name, c.regions[std::size_t(r)].name,
                      double(test.n), test.mean_a, test.mean_b, test.mean_difference, test.sd_difference, test.t,
                      test.df, test.p, test.cohen_dz, mean, mean - half, mean + half});
    }
  });
  return table;
}

Table group_comparison(const Cohort& c, const AnalysisOptions& options, Notes& notes) {
  Table table{"group_comparison",
              {"measure", "group", "n_control", "n_group", "mean_control", "mean_group", "difference_pct",
               "adjusted_difference_ml", "adjusted_difference_pct", "t", "p", "p_bonferroni", "significant"},
              {}};
  const auto groups = levels(c.group, all_rows(c));
  const bool has_control = std::find(groups.begin(), groups.end(), options.control_group) != groups.end();
  if (!c.has_group || !has_control || groups.size() < 2 || !c.has_icv) {
    notes.push_back("group comparison: needs a group column with '" + options.control_group +
                    "' and another group, and icv_ml; skipped");
    return table;
  }
  std::vector<std::pair<std::string, std::size_t>> items;  // (group, region)
  for (const auto& g : groups)
    if (g != options.control_group)
      for (std::size_t r = 0; r < c.regions.size(); ++r) items.emplace_back(g, r);
  const std::size_t comparisons = c.regions.size();
  for_each_item(items.size(), table.rows, notes, [&](std::size_t k, Rows& rows, Notes& item_notes) {
    const auto& [g, r] = items[k];
    std::vector<long> used;
    for (long i : finite_rows(c.volume_ml, long(r), all_rows(c))) {
      const auto& group = c.group[std::size_t(i)];
      if ((group == g || group == options.control_group) && std::isfinite(c.icv_ml[std::size_t(i)])) used.push_back(i);
    }
    DesignBuilder design(used);
    design.add("intercept", [](std::size_t) { return 1.0; });
    design.add("group", [&](std::size_t i) { return c.group[i] == g ? 1.0 : 0.0; });
    design.add("age", [&](std::size_t i) { return c.age[i]; });
    if (both_sexes(c, used)) design.add("sex[M]", [&](std::size_t i) { return c.sex[i] == "M" ? 1.0 : 0.0; });
    design.add("icv", [&](std::size_t i) { return c.icv_ml[i]; });
    const OlsFit fit = ols(design.build().x, gather(c.volume_ml, long(r), used));
    const std::string& name = c.regions[r].name;
    if (!fit.ok()) {
      item_notes.push_back("group comparison of " + name + " (" + g + "): " + fit.why + "; skipped");
      return;
    }
    double sum_control = 0, sum_group = 0;
    long n_control = 0, n_group = 0;
    for (long i : used) {
      const bool in_group = c.group[std::size_t(i)] == g;
      (in_group ? sum_group : sum_control) += c.volume_ml(i, long(r));
      ++(in_group ? n_group : n_control);
    }
    const double mean_control = sum_control / double(n_control), mean_group = sum_group / double(n_group);
    const double p_adjusted = bonferroni(fit.p[1], comparisons);
    rows.push_back({name, g, double(n_control), double(n_group), mean_control, mean_group,
                    100 * (mean_group - mean_control) / mean_control, fit.beta[1], 100 * fit.beta[1] / mean_control,
                    fit.t[1], fit.p[1], p_adjusted, yes_no(p_adjusted < options.alpha)});
  });
  return table;
}

Table dice_summary(const Cohort& c, Notes& notes) {
  Table table{"dice_summary", {"measure", "stratum", "n", "mean", "sd", "median"}, {}};
  if (!c.dice || !c.dice->array().isFinite().any()) {
    notes.push_back("Dice summary: the inputs have no Dice (no ground truth); skipped");
    return table;
  }
  std::vector<Stratum> strata = {{"all", all_rows(c)}};
  if (c.has_group) add_level_strata(strata, c, "group", c.group);
  if (c.has_modality) add_level_strata(strata, c, "modality", c.modality);
  for_each_item(c.regions.size(), table.rows, notes, [&](std::size_t r, Rows& rows, Notes&) {
    for (const auto& stratum : strata) {
      const auto values = finite_values(*c.dice, long(r), stratum.rows);
      if (values.size() < 2) continue;
      const Summary s = summarize(values);
      rows.push_back({c.regions[r].name, stratum.label, double(s.n), s.mean, s.sd, s.median});
    }
  });
  return table;
}

Table agreement(const Cohort& a, const Cohort& b, Notes& notes) {
  Table table{"agreement",
              {"measure", "n", "mean_a", "mean_b", "bias", "sd_difference", "loa_low", "loa_high", "t", "p",
               "p_bonferroni", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"},
              {}};
  std::unordered_map<std::string, long> b_row;
  for (std::size_t i = 0; i < b.size(); ++i) b_row.emplace(b.scan_id[i], long(i));
  std::vector<std::pair<long, long>> matched;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (const auto it = b_row.find(a.scan_id[i]); it != b_row.end()) matched.emplace_back(long(i), it->second);
  if (matched.size() < a.size() || matched.size() < b.size())
    notes.push_back("agreement: " + std::to_string(matched.size()) + " scans in both inputs (" +
                    std::to_string(a.size()) + " in A, " + std::to_string(b.size()) + " in B)");
  const MeasureSet ma = measures_of(a), mb = measures_of(b);
  std::vector<std::pair<long, long>> measure_pairs;
  for (std::size_t m = 0; m < ma.names.size(); ++m) {
    const auto it = std::find(mb.names.begin(), mb.names.end(), ma.names[m]);
    if (it == mb.names.end())
      notes.push_back("agreement: " + ma.names[m] + " is only in A; left out");
    else
      measure_pairs.emplace_back(long(m), long(it - mb.names.begin()));
  }
  for (const auto& name : mb.names)
    if (std::find(ma.names.begin(), ma.names.end(), name) == ma.names.end())
      notes.push_back("agreement: " + name + " is only in B; left out");
  const std::size_t comparisons = measure_pairs.size();
  for_each_item(measure_pairs.size(), table.rows, notes, [&](std::size_t k, Rows& rows, Notes& item_notes) {
    const auto [ja, jb] = measure_pairs[k];
    std::vector<double> va, vb;
    for (const auto& [ia, ib] : matched)
      if (std::isfinite(ma.values(ia, ja)) && std::isfinite(mb.values(ib, jb))) {
        va.push_back(ma.values(ia, ja));
        vb.push_back(mb.values(ib, jb));
      }
    const Eigen::VectorXd x = Eigen::Map<Eigen::VectorXd>(va.data(), long(va.size()));
    const Eigen::VectorXd y = Eigen::Map<Eigen::VectorXd>(vb.data(), long(vb.size()));
    const std::string& name = ma.names[std::size_t(ja)];
    const PairedTest test = paired_t(x, y);
    const Correlation r = pearson(x, y), rho = spearman(x, y);
    for (const std::string* why : {&test.why, &r.why, &rho.why})
      if (!why->empty()) {
        item_notes.push_back("agreement of " + name + ": " + *why + "; skipped");
        return;
      }
    rows.push_back({name, double(test.n), test.mean_a, test.mean_b, test.mean_difference, test.sd_difference,
                    test.mean_difference - 1.96 * test.sd_difference, test.mean_difference + 1.96 * test.sd_difference,
                    test.t, test.p, bonferroni(test.p, comparisons), r.r, r.p, rho.r, rho.p});
  });
  return table;
}

}  // namespace nc::norms
