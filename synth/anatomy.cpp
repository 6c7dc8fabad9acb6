#include "synth/anatomy.hpp"

#include <Eigen/Dense>
#include <tbb/parallel_for.h>

#include <cmath>

#include "core/error.hpp"
#include "synth/warp_field.hpp"

namespace nc::synth {
namespace {

Mat3 multiply(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k)
      for (int q = 0; q < 3; ++q) c[r * 3 + q] += a[r * 3 + k] * b[k * 3 + q];
  return c;
}

Mat3 rotation_xyz(double ax, double ay, double az) {
  const Mat3 rx = {1, 0, 0, 0, std::cos(ax), -std::sin(ax), 0, std::sin(ax), std::cos(ax)};
  const Mat3 ry = {std::cos(ay), 0, std::sin(ay), 0, 1, 0, -std::sin(ay), 0, std::cos(ay)};
  const Mat3 rz = {std::cos(az), -std::sin(az), 0, std::sin(az), std::cos(az), 0, 0, 0, 1};
  return multiply(rz, multiply(ry, rx));
}

constexpr double kDegree = M_PI / 180.0;
constexpr double kMaxPoseDegrees = 8.0;
constexpr double kMaxShiftMm = 5.0;
constexpr double kElasticAmplitudeMm = 1.0;
constexpr double kElasticWavelengthMm = 80.0;
// Local log-volume input used to measure the gains, applied as +step and -step. Large enough
// that boundary voxels of the smallest region (brainstem) move by more than half a voxel.
constexpr double kCalibrationStep = 0.25;
// The calibration grid is turned and finer than the atlas grid, so that its voxel centres
// fall at every fractional position in the atlas voxels, as a subject's grid does. On an
// aligned grid, nearest-neighbour counts respond to small displacements lopsidedly (a shift
// flips a voxel only once it crosses the rounding boundary) and the gains come out biased.
constexpr double kCalibrationSpacingMm = 0.9;
constexpr double kCalibrationTurnRadians = 0.12;
constexpr int kCalibrationRefinements = 2;

}  // namespace

std::array<double, kRegions> PlantedModel::regional_asymmetry() const {
  std::array<double, kRegions> asym{};
  for (std::size_t r = 0; r < kRegions; ++r) {
    const auto& region = kBrainRegions[r];
    double lobe = 0;
    if (region.lobe == "frontal") lobe = asymmetry_frontal;
    if (region.lobe == "temporal") lobe = asymmetry_temporal;
    if (region.lobe == "parietal") lobe = asymmetry_parietal;
    if (region.lobe == "occipital") lobe = asymmetry_occipital;
    asym[r] = region.hemisphere == "L" ? lobe / 2 : region.hemisphere == "R" ? -lobe / 2 : 0.0;
  }
  return asym;
}

std::array<double, kRegions> PlantedModel::base_log_volume(const Atlas& atlas) {
  std::array<double, kRegions> base{};
  for (std::size_t r = 0; r < kRegions; ++r) {
    base[r] = std::log(atlas.region_volume_ml[r]);
    for (std::size_t q = 0; q < kRegions; ++q)  // the same lobe in the other hemisphere
      if (q != r && kBrainRegions[q].lobe == kBrainRegions[r].lobe)
        base[r] = 0.5 * (std::log(atlas.region_volume_ml[r]) + std::log(atlas.region_volume_ml[q]));
  }
  return base;
}

void draw_pose_and_warp(std::mt19937_64& rng, SubjectAnatomy& anatomy) {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  anatomy.rotation = rotation_xyz(unit(rng) * kMaxPoseDegrees * kDegree, unit(rng) * kMaxPoseDegrees * kDegree,
                                  unit(rng) * kMaxPoseDegrees * kDegree);
  for (auto& t : anatomy.translation_mm) t = unit(rng) * kMaxShiftMm;
  for (std::size_t m = 0; m < anatomy.elastic_amplitude_mm.size(); ++m) {
    for (int a = 0; a < 3; ++a) {
      anatomy.elastic_amplitude_mm[m][a] = unit(rng) * kElasticAmplitudeMm;
      anatomy.elastic_wave_per_mm[m][a] = unit(rng) * 2 * M_PI / kElasticWavelengthMm;
    }
    anatomy.elastic_phase[m] = unit(rng) * M_PI;
  }
}

BackwardMap::BackwardMap(const Atlas& atlas, const SubjectAnatomy& anatomy,
                         const std::array<double, kRegions>& local_inputs)
    : centre_(atlas.brain_centre_mm), region_centre_(atlas.region_centre_mm), anatomy_(anatomy) {
  inv_global_scale_ = std::exp(-anatomy.global_log_volume / 3.0);
  for (std::size_t r = 0; r < kRegions; ++r) {
    shrink_[r] = 1.0 - std::exp(-local_inputs[r] / 3.0);
    // Each region's bump is as wide as a sphere of the region's volume.
    const double radius_mm = std::cbrt(3.0 * atlas.region_volume_ml[r] * 1000.0 / (4.0 * M_PI));
    inv_two_sigma2_[r] = 1.0 / (2.0 * radius_mm * radius_mm);

  }
}

Vec3 BackwardMap::operator()(const Vec3& y) const {
  // 1. undo the head pose (rotation about the brain centre, then shift)
  Vec3 d = {y[0] - centre_[0] - anatomy_.translation_mm[0], y[1] - centre_[1] - anatomy_.translation_mm[1],
            y[2] - centre_[2] - anatomy_.translation_mm[2]};
  Vec3 u{};
  for (int r = 0; r < 3; ++r)
    u[r] = anatomy_.rotation[0 * 3 + r] * d[0] + anatomy_.rotation[1 * 3 + r] * d[1] + anatomy_.rotation[2 * 3 + r] * d[2];
  // 2. undo the global scale
  for (double& c : u) c *= inv_global_scale_;
  // 3. undo the elastic warp, defined in atlas space so that it is the same relative to head
  //    size at every age (small: subtracting it is its inverse to first order)
  for (std::size_t m = 0; m < anatomy_.elastic_amplitude_mm.size(); ++m) {
    const auto& k = anatomy_.elastic_wave_per_mm[m];
    const double s = std::sin(k[0] * u[0] + k[1] * u[1] + k[2] * u[2] + anatomy_.elastic_phase[m]);
    for (int a = 0; a < 3; ++a) u[a] -= anatomy_.elastic_amplitude_mm[m][a] * s;
  }
  const Vec3 v = {centre_[0] + u[0], centre_[1] + u[1], centre_[2] + u[2]};
  // 4. undo the local scaling: near region r's centre, x - c_r = (v - c_r) / s_r
  Vec3 x = v;
  for (std::size_t r = 0; r < kRegions; ++r) {
    if (shrink_[r] == 0.0) continue;
    const Vec3 e = {v[0] - region_centre_[r][0], v[1] - region_centre_[r][1], v[2] - region_centre_[r][2]};
    const double w = std::exp(-(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]) * inv_two_sigma2_[r]);
    for (int a = 0; a < 3; ++a) x[a] -= w * shrink_[r] * e[a];
  }
  return x;
}

WarpField::WarpField(const Geometry& subject, const Geometry& atlas, const BackwardMap& map, double node_spacing_mm) {
  std::array<std::int64_t, 3> count{};
  for (int a = 0; a < 3; ++a) {
    step_[a] = std::max<std::int64_t>(1, std::llround(node_spacing_mm / subject.spacing_mm[a]));
    count[a] = (subject.size[a] - 1 + step_[a] - 1) / step_[a] + 1;
  }
  nodes_ = {count[0], count[1], count[2]};
  const std::size_t total = std::size_t(count[0] * count[1] * count[2]);
  x_.resize(total);
  y_.resize(total);
  z_.resize(total);
  const Mat3 to_atlas_index = physical_to_index_matrix(atlas);
  tbb::parallel_for(std::int64_t{0}, count[2], [&](std::int64_t k) {
    for (std::int64_t j = 0; j < count[1]; ++j)
      for (std::int64_t i = 0; i < count[0]; ++i) {
        const Vec3 p = index_to_physical(subject, {double(i * step_[0]), double(j * step_[1]), double(k * step_[2])});
        const Vec3 idx = physical_to_index(atlas, to_atlas_index, map(p));
        const std::size_t n = std::size_t(i + count[0] * (j + count[1] * k));
        x_[n] = float(idx[0]);
        y_[n] = float(idx[1]);
        z_[n] = float(idx[2]);
      }
  });
}

void WarpField::atlas_row(std::int64_t j, std::int64_t k, std::vector<Vec3>& row) const {
  const double lj = double(j) / double(step_[1]), lk = double(k) / double(step_[2]);
  std::vector<Vec3> nodes(std::size_t(nodes_.nx));
  for (std::int64_t n = 0; n < nodes_.nx; ++n)
    nodes[std::size_t(n)] = {kernels::sample_trilinear(x_.data(), nodes_, double(n), lj, lk, 0.0f),
                             kernels::sample_trilinear(y_.data(), nodes_, double(n), lj, lk, 0.0f),
                             kernels::sample_trilinear(z_.data(), nodes_, double(n), lj, lk, 0.0f)};
  for (std::size_t i = 0; i < row.size(); ++i) {
    const std::size_t n = i / std::size_t(step_[0]);
    const double t = double(i % std::size_t(step_[0])) / double(step_[0]);
    const Vec3& a = nodes[n];
    const Vec3& b = nodes[std::min(n + 1, nodes.size() - 1)];
    row[i] = {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
  }
}

namespace {

// Region voxel counts of the atlas labels warped onto the atlas grid by `inputs`.
std::array<double, kRegions> warped_region_counts(const Atlas& atlas, const std::array<double, kRegions>& inputs) {
  const SubjectAnatomy identity;
  const BackwardMap map(atlas, identity, inputs);
  const Geometry& a = atlas.regions.geometry;
  Geometry g = a;
  for (int axis = 0; axis < 3; ++axis) {
    g.size[axis] = std::int64_t(double(a.size[axis]) * a.spacing_mm[axis] / kCalibrationSpacingMm);
    g.spacing_mm[axis] = kCalibrationSpacingMm;
  }
  g.direction = multiply(rotation_xyz(kCalibrationTurnRadians, -kCalibrationTurnRadians, kCalibrationTurnRadians),
                         a.direction);
  const Vec3 atlas_centre =
      index_to_physical(a, {double(a.size[0] - 1) / 2, double(a.size[1] - 1) / 2, double(a.size[2] - 1) / 2});
  g.origin_mm = {0, 0, 0};
  const Vec3 half = index_to_physical(g, {double(g.size[0] - 1) / 2, double(g.size[1] - 1) / 2, double(g.size[2] - 1) / 2});
  for (int axis = 0; axis < 3; ++axis) g.origin_mm[axis] = atlas_centre[axis] - half[axis];
  const WarpField field(g, a, map);
  const kernels::GridDims dims{a.size[0], a.size[1], a.size[2]};
  std::vector<std::array<std::int64_t, kRegions>> per_slice(std::size_t(g.size[2]));
  tbb::parallel_for(std::int64_t{0}, g.size[2], [&](std::int64_t k) {
    auto& counts = per_slice[std::size_t(k)];
    counts.fill(0);
    std::vector<Vec3> row(std::size_t(g.size[0]));
    for (std::int64_t j = 0; j < g.size[1]; ++j) {
      field.atlas_row(j, k, row);
      for (const Vec3& x : row) {
        const int r = kernels::sample_nearest(atlas.regions.voxels.data(), dims, x[0], x[1], x[2], std::uint8_t{0});
        if (r > 0) ++counts[std::size_t(r - 1)];
      }
    }
  });
  std::array<double, kRegions> total{};
  for (const auto& counts : per_slice)
    for (std::size_t r = 0; r < kRegions; ++r) total[r] += double(counts[r]);
  return total;
}

}  // namespace

Calibration::Calibration(const Atlas& atlas, const std::array<double, kRegions>& mean_effects)
    : mean_effects_(mean_effects) {
  Eigen::Matrix<double, kRegions, kRegions> gain;
  for (std::size_t q = 0; q < kRegions; ++q) {
    std::array<double, kRegions> grow{}, shrink{};
    grow[q] = kCalibrationStep;
    shrink[q] = -kCalibrationStep;
    const auto up = warped_region_counts(atlas, grow);
    const auto down = warped_region_counts(atlas, shrink);
    for (std::size_t r = 0; r < kRegions; ++r)
      gain(Eigen::Index(r), Eigen::Index(q)) = std::log(up[r] / down[r]) / (2 * kCalibrationStep);
  }
  const auto lu = gain.fullPivLu();
  if (!lu.isInvertible()) throw Error("synthetic anatomy: the regional calibration is singular");
  const Eigen::Matrix<double, kRegions, kRegions> inverse = lu.inverse();
  for (std::size_t r = 0; r < kRegions; ++r)
    for (std::size_t q = 0; q < kRegions; ++q) inverse_gain_[r * kRegions + q] = inverse(Eigen::Index(r), Eigen::Index(q));

  // Newton steps on the atlas: the response is not quite linear over the mean effects.
  const auto base = warped_region_counts(atlas, {});
  mean_inputs_ = solve(mean_effects);
  for (int step = 0; step < kCalibrationRefinements; ++step) {
    const auto counts = warped_region_counts(atlas, mean_inputs_);
    std::array<double, kRegions> residual{};
    for (std::size_t r = 0; r < kRegions; ++r) residual[r] = mean_effects[r] - std::log(counts[r] / base[r]);
    const auto correction = solve(residual);
    for (std::size_t r = 0; r < kRegions; ++r) mean_inputs_[r] += correction[r];
  }
}

std::array<double, kRegions> Calibration::solve(const std::array<double, kRegions>& effects) const {
  std::array<double, kRegions> inputs{};
  for (std::size_t r = 0; r < kRegions; ++r)
    for (std::size_t q = 0; q < kRegions; ++q) inputs[r] += inverse_gain_[r * kRegions + q] * effects[q];
  return inputs;
}

std::array<double, kRegions> Calibration::inputs_for(const std::array<double, kRegions>& effects) const {
  std::array<double, kRegions> deviation{};
  for (std::size_t r = 0; r < kRegions; ++r) deviation[r] = effects[r] - mean_effects_[r];
  auto inputs = solve(deviation);
  for (std::size_t r = 0; r < kRegions; ++r) inputs[r] += mean_inputs_[r];
  return inputs;
}

}  // namespace nc::synth
