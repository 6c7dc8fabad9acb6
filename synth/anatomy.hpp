#pragma once
/// \file
/// The planted anatomy of a synthetic subject and the deformation that realises it.
///
/// Model, per subject and study region r (natural log of the volume in mL):
///   log V_r = base_r + intercept + age · ln(age in years) + male · [sex = M]
///             + patient · [group = patient] + o_site + ε_subject + asym_r + ε_r
/// with o_site a site offset drawn once per site from N(0, site_sd²), and ε_subject of SD
/// subject_sd · spread_ratio^((mid age − age) / age range), right-skewed for skew > 0 (a
/// standardised sinh-arcsinh transform of a normal draw); the defaults (0, 1, 0) give no site
/// effect, one spread and normal noise.
/// where base_r is the atlas's log volume, averaged over the two hemispheres for lobes (so
/// Colin27's own asymmetries are replaced by the planted ones) and asym_r = ±asymmetry/2.
/// The global part (all but asym_r + ε_r) scales the whole head about the brain centre, so
/// every region (and the ICV) carries it exactly; the regional part is realised by smooth
/// local scaling around each region's centre, calibrated on the atlas so that the planted
/// regional effects are what the label maps show (to first order).

#include <array>
#include <cstdint>
#include <random>

#include "core/brain_regions.hpp"
#include "core/geometry.hpp"
#include "synth/atlas.hpp"

namespace nc::synth {

inline constexpr std::size_t kRegions = kBrainRegions.size();

/// Planted coefficients; defaults follow the two pediatric studies (males about 7.5 % larger,
/// patients about 8 % smaller, left frontal and temporal larger than right, right parietal
/// and occipital larger than left, brain growth with age fast early, then slowing).
struct PlantedModel {
  double intercept = -0.531;               ///< log(V/V_atlas) of a 1-year-old female control
  double age_per_ln_year = 0.17;           ///< growth: V ∝ age^0.17 (doubles from 0.5 to ~30 y)
  double male = 0.0723;                    ///< ln 1.075
  double patient = -0.0834;                ///< ln 0.92
  double subject_sd = 0.05;                ///< between-subject log-volume SD (whole brain), at the mid age
  double site_sd = 0;                      ///< SD of the per-site log-volume offsets
  double spread_ratio = 1;                 ///< subject SD at the youngest age over that at the oldest
  double skew = 0;                         ///< sinh-arcsinh ε of the subject noise (> 0: right tail)
  double region_sd = 0.02;                 ///< extra per-region log-volume SD
  /// Planted log(V_left / V_right) per lobe, split ±half between the hemispheres.
  double asymmetry_frontal = 0.04, asymmetry_temporal = 0.05;
  double asymmetry_parietal = -0.04, asymmetry_occipital = -0.05;

  /// asym_r of the model for each study region (0 for cerebellum and brainstem).
  std::array<double, kRegions> regional_asymmetry() const;
  /// base_r: log atlas volume, the hemisphere pair's mean log volume for lobes.
  static std::array<double, kRegions> base_log_volume(const Atlas& atlas);
};

/// Everything random about one subject's anatomy.
struct SubjectAnatomy {
  double global_log_volume = 0;               ///< all global terms, noise included
  std::array<double, kRegions> regional_log_volume{};  ///< asym_r + ε_r (planted, before calibration)
  Mat3 rotation = kIdentity3;                 ///< head pose about the brain centre
  Vec3 translation_mm{};
  std::array<Vec3, 3> elastic_amplitude_mm{};  ///< small smooth random warp: three sine modes
  std::array<Vec3, 3> elastic_wave_per_mm{};
  std::array<double, 3> elastic_phase{};
};

/// Draws pose and elastic warp (the volume terms are set by the caller).
void draw_pose_and_warp(std::mt19937_64& rng, SubjectAnatomy& anatomy);

/// The subject-to-atlas map: where in the atlas a subject's physical point comes from.
/// Smooth and invertible for the small effects used here.
class BackwardMap {
 public:
  /// \param local_inputs calibrated local log-volume inputs per region (see Calibration)
  BackwardMap(const Atlas& atlas, const SubjectAnatomy& anatomy, const std::array<double, kRegions>& local_inputs);
  Vec3 operator()(const Vec3& subject_mm) const;

 private:
  Vec3 centre_;
  std::array<Vec3, kRegions> region_centre_{};
  std::array<double, kRegions> shrink_{};  ///< 1 - 1/s_r
  std::array<double, kRegions> inv_two_sigma2_{};
  double inv_global_scale_ = 1;
  const SubjectAnatomy& anatomy_;
};

/// Local scaling inputs that make the label maps show planted regional log-volume effects.
/// The response of region volumes to the inputs is measured on the atlas (a gain matrix,
/// bumps overlap); the inputs for the cohort's mean effects are then refined by Newton steps
/// on the atlas itself, and each subject's deviation from the mean goes through the gain.
class Calibration {
 public:
  Calibration(const Atlas& atlas, const std::array<double, kRegions>& mean_effects);
  std::array<double, kRegions> inputs_for(const std::array<double, kRegions>& effects) const;

 private:
  std::array<double, kRegions> solve(const std::array<double, kRegions>& effects) const;
  std::array<double, kRegions * kRegions> inverse_gain_{};
  std::array<double, kRegions> mean_effects_{};
  std::array<double, kRegions> mean_inputs_{};
};

}  // namespace nc::synth
