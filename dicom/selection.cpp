#include "dicom/selection.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "dicom/series_reference.hpp"

namespace nc::dicom {
namespace {

constexpr const char* kCtImageStorage = "1.2.840.10008.5.1.4.1.1.2";
constexpr const char* kMrImageStorage = "1.2.840.10008.5.1.4.1.1.4";

// Upper-case words of a free-text field: letters and digits, split at anything else.
std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words(1);
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      words.back() += char(std::toupper(static_cast<unsigned char>(c)));
    else if (!words.back().empty())
      words.emplace_back();
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

bool any_word_starts_with(const std::vector<std::string>& words, const std::vector<std::string>& prefixes) {
  for (const auto& w : words)
    for (const auto& p : prefixes)
      if (!p.empty() && w.starts_with(uppercase(p))) return true;
  return false;
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v;
  return s.str();
}

std::string series_name(const Series& s) {
  const auto n = s.first().series_number;
  return "series " + (n ? std::to_string(*n) : std::string("without number"));
}

bool has(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

bool is_t1_weighted(const SliceHeader& h, const SelectionRules& rules) {
  const auto words = words_of(h.series_description);
  if (any_word_starts_with(words, rules.mr_not_t1_words)) return false;
  if (any_word_starts_with(words, rules.mr_t1_words)) return true;
  return h.repetition_time_ms && h.echo_time_ms && *h.repetition_time_ms <= rules.mr_t1_max_tr_ms &&
         *h.echo_time_ms <= rules.mr_t1_max_te_ms;
}

// The first rule a series breaks, or empty when it is a candidate.
std::string rejection(const Series& s, const SelectionRules& rules) {
  const SliceHeader& h = s.first();
  // The UIDs and the folder go into the manifest and `run` parses them back: refuse what would
  // not survive the trip (a hostile UID, a tab or newline in a folder name).
  if (!is_valid_uid(s.study_uid) || !is_valid_uid(s.series_uid))
    return "StudyInstanceUID or SeriesInstanceUID is not a valid UID (digits and dots, at most 64)";
  if (h.path.parent_path().string().find_first_of("\t\r\n") != std::string::npos)
    return "the folder name holds a tab or a line break";
  if (h.modality != "CT" && h.modality != "MR")
    return "modality " + (h.modality.empty() ? std::string("missing") : h.modality) + " is neither CT nor MR";
  if (rules.modality && h.modality != *rules.modality)
    return "modality " + h.modality + ", indexing " + *rules.modality + " only";
  for (const auto& type : rules.rejected_image_types)
    if (has(h.image_type, uppercase(type))) return "ImageType " + uppercase(type);
  if (rules.require_original_primary && !(has(h.image_type, "ORIGINAL") && has(h.image_type, "PRIMARY")))
    return "ImageType is not ORIGINAL\\PRIMARY";
  if (h.sop_class_uid != kCtImageStorage && h.sop_class_uid != kMrImageStorage)
    return "SOP class " + h.sop_class_uid + " is not a CT or MR image";
  if (!s.problem.empty()) return s.problem;
  if (int(s.slices.size()) < rules.min_slices)
    return std::to_string(s.slices.size()) + " slices, fewer than " + std::to_string(rules.min_slices);
  const StackGeometry& g = s.geometry;
  if (g.slice_spacing_mm > rules.max_slice_spacing_mm)
    return "slice spacing " + number(g.slice_spacing_mm) + " mm, over " + number(rules.max_slice_spacing_mm) + " mm";
  if (axial_obliquity_degrees(g) > rules.max_axial_obliquity_degrees)
    return "not axial (slice normal " + number(axial_obliquity_degrees(g)) + "° from the head–foot axis)";
  if (g.tilt_degrees > rules.max_tilt_degrees)
    return "gantry tilt " + number(g.tilt_degrees) + "°, over " + number(rules.max_tilt_degrees) + "°";
  if (h.modality == "MR") {
    if (rules.mr_require_3d && h.mr_acquisition_type != "3D")
      return "MR acquisition " + (h.mr_acquisition_type.empty() ? std::string("type missing") : h.mr_acquisition_type) +
             ", not 3D";
    if (!is_t1_weighted(h, rules)) return "not T1-weighted ('" + h.series_description + "')";
  }
  return {};
}

bool same_volume(const Series& a, const Series& b) {
  const auto& ga = a.geometry;
  const auto& gb = b.geometry;
  double offset = 0;
  for (int n = 0; n < 3; ++n) offset = std::max(offset, std::abs(ga.first_position_mm[n] - gb.first_position_mm[n]));
  return a.slices.size() == b.slices.size() && std::abs(ga.slice_spacing_mm - gb.slice_spacing_mm) < 1e-3 &&
         offset < 1e-3 && a.first().columns == b.first().columns && a.first().rows == b.first().rows;
}

// Why `other` lost to `chosen`, both candidates.
std::string lost_because(const Series& other, const Series& chosen, const SelectionRules& rules) {
  const bool ct = other.first().modality == "CT";
  const bool other_sharp = ct && is_sharp_reconstruction(other.first(), rules);
  const bool chosen_sharp = ct && is_sharp_reconstruction(chosen.first(), rules);
  if (other_sharp && !chosen_sharp)
    return "bone/sharp reconstruction ('" + other.first().convolution_kernel + "'); soft-tissue " +
           series_name(chosen) + " chosen";
  if (same_volume(other, chosen) && other.first().convolution_kernel == chosen.first().convolution_kernel)
    return "duplicate of " + series_name(chosen);
  if (other.geometry.slice_spacing_mm > chosen.geometry.slice_spacing_mm + 1e-3)
    return "thicker slices (" + number(other.geometry.slice_spacing_mm) + " mm) than " + series_name(chosen) + " (" +
           number(chosen.geometry.slice_spacing_mm) + " mm)";
  if (other.slices.size() < chosen.slices.size())
    return "fewer slices (" + std::to_string(other.slices.size()) + ") than " + series_name(chosen);
  return "equal to " + series_name(chosen) + ", which comes first by series number";
}

// ---- the rules file ----

bool parse_bool(const std::string& v, bool& out) {
  const std::string u = uppercase(v);
  if (u == "TRUE" || u == "YES" || u == "1") return out = true, true;
  if (u == "FALSE" || u == "NO" || u == "0") return out = false, true;
  return false;
}

bool parse_double(const std::string& v, double& out) {
  double x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(x) || x < 0) return false;
  out = x;
  return true;
}

bool parse_list(const std::string& v, std::vector<std::string>& out) {
  out.clear();
  for (const auto& item : split(v, ','))
    if (const auto t = trim(item); !t.empty()) out.push_back(uppercase(t));
  return true;
}

}  // namespace

const char* decision_name(Decision decision) {
  switch (decision) {
    case Decision::Chosen:
      return "chosen";
    case Decision::NotChosen:
      return "not_chosen";
    case Decision::Rejected:
      return "rejected";
  }
  return "rejected";
}

bool is_sharp_reconstruction(const SliceHeader& slice, const SelectionRules& rules) {
  return any_word_starts_with(words_of(slice.convolution_kernel), rules.ct_sharp_kernels) ||
         any_word_starts_with(words_of(slice.series_description), rules.ct_sharp_kernels);
}

std::vector<SeriesDecision> select_series(const std::vector<const Series*>& study, const SelectionRules& rules) {
  std::vector<SeriesDecision> decisions;
  std::vector<std::size_t> candidates;
  for (const Series* s : study) {
    std::string why = rejection(*s, rules);
    if (why.empty()) candidates.push_back(decisions.size());
    decisions.push_back({s, Decision::Rejected, std::move(why)});
  }
  if (candidates.empty()) return decisions;
  // Rank: soft tissue before sharp (CT only), thinner, more slices, lower series number.
  const auto rank = [&](std::size_t n) {
    const Series& s = *decisions[n].series;
    const bool sharp = s.first().modality == "CT" && is_sharp_reconstruction(s.first(), rules);
    return std::make_tuple(sharp, std::round(s.geometry.slice_spacing_mm * 1000), -std::ptrdiff_t(s.slices.size()),
                           s.first().series_number.value_or(0), s.series_uid);
  };
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](std::size_t a, std::size_t b) { return rank(a) < rank(b); });
  const Series& chosen = *decisions[candidates.front()].series;
  decisions[candidates.front()].decision = Decision::Chosen;
  decisions[candidates.front()].reason =
      chosen.first().modality + ", " + std::to_string(chosen.slices.size()) + " slices of " +
      number(chosen.geometry.slice_spacing_mm) + " mm" +
      (chosen.geometry.tilt_degrees > 0.1
           ? ", gantry tilt " + number(chosen.geometry.tilt_degrees) + "° (corrected on reading)"
           : "");
  for (std::size_t c = 1; c < candidates.size(); ++c) {
    auto& d = decisions[candidates[c]];
    d.decision = Decision::NotChosen;
    d.reason = lost_because(*d.series, chosen, rules);
  }
  return decisions;
}

SelectionRules read_rules(const std::filesystem::path& path, SelectionRules rules) {
  std::ifstream in(path);
  if (!in) throw UsageError(path.string() + ": cannot read the rules file");
  using Setter = std::function<bool(const std::string&)>;
  std::string modality;
  const std::map<std::string, Setter> setters = {
      {"modality",
       [&](const std::string& v) {
         const std::string u = uppercase(v);
         if (u != "CT" && u != "MR" && u != "BOTH") return false;
         rules.modality = u == "BOTH" ? std::nullopt : std::optional<std::string>(u);
         return true;
       }},
      {"rejected_image_types", [&](const std::string& v) { return parse_list(v, rules.rejected_image_types); }},
      {"require_original_primary", [&](const std::string& v) { return parse_bool(v, rules.require_original_primary); }},
      {"min_slices",
       [&](const std::string& v) {
         double x = 0;
         if (!parse_double(v, x) || x != std::floor(x) || x < 2 || x > 1e6) return false;
         rules.min_slices = int(x);
         return true;
       }},
      {"max_slice_spacing_mm", [&](const std::string& v) { return parse_double(v, rules.max_slice_spacing_mm); }},
      {"max_axial_obliquity_degrees",
       [&](const std::string& v) { return parse_double(v, rules.max_axial_obliquity_degrees); }},
      {"max_tilt_degrees", [&](const std::string& v) { return parse_double(v, rules.max_tilt_degrees); }},
      {"ct_sharp_kernels", [&](const std::string& v) { return parse_list(v, rules.ct_sharp_kernels); }},
      {"mr_require_3d", [&](const std::string& v) { return parse_bool(v, rules.mr_require_3d); }},
      {"mr_t1_words", [&](const std::string& v) { return parse_list(v, rules.mr_t1_words); }},
      {"mr_not_t1_words", [&](const std::string& v) { return parse_list(v, rules.mr_not_t1_words); }},
      {"mr_t1_max_tr_ms", [&](const std::string& v) { return parse_double(v, rules.mr_t1_max_tr_ms); }},
      {"mr_t1_max_te_ms", [&](const std::string& v) { return parse_double(v, rules.mr_t1_max_te_ms); }},
  };
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (trim(line).empty()) continue;
    const auto eq = line.find('=');
    const std::string where = path.string() + ":" + std::to_string(number) + ": ";
    if (eq == std::string::npos) throw UsageError(where + "expected 'key = value'");
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    const auto it = setters.find(key);
    if (it == setters.end()) throw UsageError(where + "unknown rule '" + key + "' (docs/dicom.md lists them)");
    if (!it->second(value)) throw UsageError(where + "invalid value '" + value + "' for " + key);
  }
  return rules;
}

}  // namespace nc::dicom
