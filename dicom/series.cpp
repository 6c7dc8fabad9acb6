#include "dicom/series.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace nc::dicom {
namespace {

using Vec = std::array<double, 3>;

double dot(const Vec& a, const Vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec cross(const Vec& a, const Vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec minus(const Vec& a, const Vec& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec scaled(const Vec& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double norm(const Vec& a) { return std::sqrt(dot(a, a)); }

// Two slices belong to one plane orientation when their cosines agree to this.
constexpr double kCosineTolerance = 1e-4;
// A step counts as regular when within this share of the median step.
constexpr double kStepTolerance = 0.05;
// Positions may leave the line through the first and last slice by this much (mm).
constexpr double kLineToleranceMm = 0.1;

std::string format_mm(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v;
  return s.str();
}

// Checks that every slice carries what stacking needs; returns the first problem.
std::string missing_tags(const std::vector<SliceHeader>& slices) {
  for (const auto& s : slices) {
    if (!s.position_mm) return "a slice has no valid ImagePositionPatient";
    if (!s.orientation) return "a slice has no valid ImageOrientationPatient";
    if (!s.pixel_spacing_mm) return "a slice has no valid PixelSpacing";
    if (s.rows <= 0 || s.columns <= 0) return "a slice has no Rows or Columns";
    if (s.frames != 1) return "multi-frame (enhanced) images are not supported; export the series as single frames";
    if (s.samples_per_pixel != 1) return "colour images (SamplesPerPixel " + std::to_string(s.samples_per_pixel) + ")";
    const auto& ps = *s.pixel_spacing_mm;
    if (!(ps[0] > 0 && ps[1] > 0)) return "non-positive PixelSpacing";
  }
  return {};
}

std::string mixed_slices(const std::vector<SliceHeader>& slices) {
  const SliceHeader& a = slices.front();
  for (const auto& s : slices) {
    if (s.rows != a.rows || s.columns != a.columns)
      return "mixed image sizes (" + std::to_string(a.columns) + "×" + std::to_string(a.rows) + " and " +
             std::to_string(s.columns) + "×" + std::to_string(s.rows) + ")";
    for (int n = 0; n < 6; ++n)
      if (std::abs((*s.orientation)[n] - (*a.orientation)[n]) > kCosineTolerance) return "mixed orientations";
    for (int n = 0; n < 2; ++n)
      if (std::abs((*s.pixel_spacing_mm)[n] - (*a.pixel_spacing_mm)[n]) > 1e-4) return "mixed pixel spacings";
    if (s.path.parent_path() != a.path.parent_path())
      return "files spread over several folders (" + a.path.parent_path().string() + ", " +
             s.path.parent_path().string() + ")";
  }
  return {};
}

// The gaps and irregular steps of positions sorted along the normal, as one reason.
std::string step_problem(const std::vector<double>& along) {
  std::vector<double> steps;
  for (std::size_t k = 1; k < along.size(); ++k) steps.push_back(along[k] - along[k - 1]);
  std::vector<double> sorted = steps;
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() / 2), sorted.end());
  const double median = sorted[sorted.size() / 2];
  if (!(median > 1e-3)) return "duplicate slice positions";
  int missing = 0, gaps = 0;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (steps[k] < 1e-3) return "duplicate slice positions (at " + format_mm(along[k]) + " mm along the normal)";
    const double ratio = steps[k] / median;
    const double whole = std::round(ratio);
    if (std::abs(ratio - 1) <= kStepTolerance) continue;
    if (whole >= 2 && std::abs(ratio - whole) <= kStepTolerance * whole) {
      ++gaps;
      missing += int(whole) - 1;
      continue;
    }
    return "uneven slice spacing (" + format_mm(steps[k]) + " mm against " + format_mm(median) + " mm)";
  }
  if (gaps > 0)
    return "missing slices: " + std::to_string(missing) + " missing in " + std::to_string(gaps) + " gap(s) of the " +
           format_mm(median) + " mm spacing";
  return {};
}

}  // namespace

std::vector<Series> group_series(std::vector<SliceHeader> headers) {
  std::map<std::pair<std::string, std::string>, Series> by_uid;
  for (auto& h : headers) {
    Series& s = by_uid[{h.study_uid, h.series_uid}];
    s.study_uid = h.study_uid;
    s.series_uid = h.series_uid;
    s.slices.push_back(std::move(h));
  }
  std::vector<Series> out;
  for (auto& [key, s] : by_uid) out.push_back(std::move(s));
  std::stable_sort(out.begin(), out.end(), [](const Series& a, const Series& b) {
    const int na = a.first().series_number.value_or(0), nb = b.first().series_number.value_or(0);
    return std::tie(a.study_uid, na, a.series_uid) < std::tie(b.study_uid, nb, b.series_uid);
  });
  return out;
}

void check_stack(Series& series) {
  auto& slices = series.slices;
  if (slices.size() < 2) {
    series.problem = "a single slice";
    return;
  }
  if (auto why = missing_tags(slices); !why.empty()) return void(series.problem = why);
  if (auto why = mixed_slices(slices); !why.empty()) return void(series.problem = why);
  const auto& o = *slices.front().orientation;
  Vec row{o[0], o[1], o[2]}, column{o[3], o[4], o[5]};
  if (!(norm(row) > 0.5 && norm(column) > 0.5)) return void(series.problem = "degenerate ImageOrientationPatient");
  row = scaled(row, 1 / norm(row));
  column = scaled(column, 1 / norm(column));
  if (std::abs(dot(row, column)) > 1e-3) return void(series.problem = "row and column directions are not orthogonal");
  const Vec normal = cross(row, column);
  std::stable_sort(slices.begin(), slices.end(), [&](const SliceHeader& a, const SliceHeader& b) {
    return dot(*a.position_mm, normal) < dot(*b.position_mm, normal);
  });
  std::vector<double> along;
  for (const auto& s : slices) along.push_back(dot(*s.position_mm, normal));
  if (auto why = step_problem(along); !why.empty()) return void(series.problem = why);

  StackGeometry& g = series.geometry;
  const std::size_t n = slices.size();
  const Vec& first = *slices.front().position_mm;
  const Vec advance = scaled(minus(*slices.back().position_mm, first), 1.0 / double(n - 1));
  g.row = row;
  g.column = column;
  g.normal = normal;
  g.first_position_mm = first;
  g.row_spacing_mm = (*slices.front().pixel_spacing_mm)[1];
  g.column_spacing_mm = (*slices.front().pixel_spacing_mm)[0];
  g.slice_spacing_mm = (along.back() - along.front()) / double(n - 1);
  g.shear_row_mm = dot(advance, row);
  g.shear_column_mm = dot(advance, column);
  g.tilt_degrees = std::atan2(std::hypot(g.shear_row_mm, g.shear_column_mm), g.slice_spacing_mm) * 180.0 / M_PI;
  for (std::size_t k = 0; k < n; ++k) {
    const double steps = (along[k] - along.front()) / g.slice_spacing_mm;
    const Vec off_line = minus(minus(*slices[k].position_mm, first), scaled(advance, steps));
    if (norm(off_line) > kLineToleranceMm)
      return void(series.problem = "slice positions do not lie on one line (" + format_mm(norm(off_line)) + " mm off)");
  }
}

double axial_obliquity_degrees(const StackGeometry& geometry) {
  return std::acos(std::min(1.0, std::abs(geometry.normal[2]))) * 180.0 / M_PI;
}

}  // namespace nc::dicom
