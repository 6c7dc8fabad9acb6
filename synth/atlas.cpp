#include "synth/atlas.hpp"

#include <algorithm>
#include <cmath>
#include <deque>

#include "core/error.hpp"
#include "io/image_io.hpp"

namespace nc::synth {
namespace {

namespace fs = std::filesystem;

// Intensities of Colin27's T1 (0..255): below kHeadT1 is air; inside the brain, CSF, grey and
// white matter peak near 45, 85 and 110.
constexpr float kHeadT1 = 25.0f;
constexpr float kBoneT1 = 60.0f;
constexpr float kFatT1 = 150.0f;
constexpr float kSinusT1 = 15.0f;
constexpr int kSkullReachVoxels = 15;  // bone is sought within 15 mm of the brain

// Brainstem: unlabelled brain voxels of the midline posterior fossa, in MNI (RAS) millimetres.
constexpr double kBrainstemHalfWidthMm = 15.0;
constexpr double kBrainstemYMin = -45.0, kBrainstemYMax = -10.0;
constexpr double kBrainstemZMin = -65.0, kBrainstemZMax = -5.0;

fs::path require_template(const fs::path& dir, const char* name) {
  const fs::path path = dir / name;
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw Error(path.string() + ": Colin27/AAL template not found (install Debian's mricron-data, e.g. with "
                "scripts/install-deps.sh, or pass --templates DIR)");
  return path;
}

// Voxels connected to the volume border through values at or below `threshold`: the air
// around the head. Everything else (skull and sinuses included) is head.
std::vector<std::uint8_t> outside_air(const ImageVolume& t1, float threshold) {
  const auto& s = t1.geometry.size;
  std::vector<std::uint8_t> air(t1.voxels.size(), 0);
  std::deque<std::int64_t> queue;
  const auto push = [&](std::int64_t i, std::int64_t j, std::int64_t k) {
    const std::int64_t n = t1.geometry.linear_index(i, j, k);
    if (!air[n] && t1.voxels[n] <= threshold) {
      air[n] = 1;
      queue.push_back(n);
    }
  };
  for (std::int64_t k = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t i = 0; i < s[0]; ++i)
        if (i == 0 || j == 0 || k == 0 || i == s[0] - 1 || j == s[1] - 1 || k == s[2] - 1) push(i, j, k);
  while (!queue.empty()) {
    const std::int64_t n = queue.front();
    queue.pop_front();
    const std::int64_t i = n % s[0], j = (n / s[0]) % s[1], k = n / (s[0] * s[1]);
    if (i > 0) push(i - 1, j, k);
    if (i + 1 < s[0]) push(i + 1, j, k);
    if (j > 0) push(i, j - 1, k);
    if (j + 1 < s[1]) push(i, j + 1, k);
    if (k > 0) push(i, j, k - 1);
    if (k + 1 < s[2]) push(i, j, k + 1);
  }
  return air;
}

// City-block distance (voxels) from the brain mask, up to `limit` (farther voxels get limit+1).
std::vector<std::uint8_t> distance_from_brain(const Volume<std::uint8_t>& brain, int limit) {
  const auto& s = brain.geometry.size;
  std::vector<std::uint8_t> dist(brain.voxels.size(), std::uint8_t(limit + 1));
  std::deque<std::int64_t> queue;
  for (std::size_t n = 0; n < brain.voxels.size(); ++n)
    if (brain.voxels[n]) {
      dist[n] = 0;
      queue.push_back(std::int64_t(n));
    }
  while (!queue.empty()) {
    const std::int64_t n = queue.front();
    queue.pop_front();
    if (dist[n] >= limit) continue;
    const std::int64_t i = n % s[0], j = (n / s[0]) % s[1], k = n / (s[0] * s[1]);
    const std::int64_t neighbours[6][3] = {{i - 1, j, k}, {i + 1, j, k}, {i, j - 1, k},
                                           {i, j + 1, k}, {i, j, k - 1}, {i, j, k + 1}};
    for (const auto& nb : neighbours) {
      if (nb[0] < 0 || nb[1] < 0 || nb[2] < 0 || nb[0] >= s[0] || nb[1] >= s[1] || nb[2] >= s[2]) continue;
      const std::int64_t m = brain.geometry.linear_index(nb[0], nb[1], nb[2]);
      if (dist[m] > dist[n] + 1) {
        dist[m] = std::uint8_t(dist[n] + 1);
        queue.push_back(m);
      }
    }
  }
  return dist;
}

// Brain tissue in HU: piecewise linear through the class centres, so edges stay smooth.
float brain_hu(float t1, const TissueHu& hu) {
  if (t1 <= 50) return hu.csf;
  if (t1 <= 85) return hu.csf + (hu.grey_matter - hu.csf) * (t1 - 50) / 35;
  if (t1 <= 108) return hu.grey_matter + (hu.white_matter - hu.grey_matter) * (t1 - 85) / 23;
  return hu.white_matter;
}

float head_hu(float t1, int distance_to_brain, const TissueHu& hu) {
  if (distance_to_brain <= kSkullReachVoxels && t1 < kBoneT1)  // dark shell around the brain: bone
    return hu.bone_min + (hu.bone_max - hu.bone_min) * std::clamp((kBoneT1 - t1) / kBoneT1, 0.0f, 1.0f);
  if (t1 < kSinusT1) return hu.air;  // air inside the head: sinuses, ear canals
  if (t1 > kFatT1) return hu.fat;
  return hu.soft_tissue;
}

bool in_brainstem_box(const Vec3& lps) {
  const double x = -lps[0], y = -lps[1], z = lps[2];  // LPS to MNI's RAS
  return std::abs(x) <= kBrainstemHalfWidthMm && y >= kBrainstemYMin && y <= kBrainstemYMax && z >= kBrainstemZMin &&
         z <= kBrainstemZMax;
}

}  // namespace

int study_region_of_aal(int aal) {
  if (aal < 1 || aal > 116) return 0;
  const int side = (aal % 2 == 1) ? 0 : 1;  // AAL alternates _L (odd) and _R (even)
  const auto lobe = [side](int left_label) { return left_label + side; };
  if ((aal >= 1 && aal <= 28) || (aal >= 31 && aal <= 34) || aal == 69 || aal == 70) return lobe(1);  // frontal
  if ((aal >= 57 && aal <= 68) || aal == 35 || aal == 36) return lobe(3);                             // parietal
  if (aal >= 43 && aal <= 54) return lobe(5);                                                         // occipital
  if (aal == 29 || aal == 30 || (aal >= 37 && aal <= 42) || aal == 55 || aal == 56 || (aal >= 79 && aal <= 90))
    return lobe(7);                                                                                   // temporal
  if (aal >= 91) return 9;  // cerebellar hemispheres and vermis
  return 0;                 // basal ganglia and thalami (71..78)
}

Atlas load_atlas(const fs::path& dir, const TissueHu& hu) {
  Atlas atlas;
  atlas.t1 = io::read_image(require_template(dir, "ch2.nii.gz"));
  const ImageVolume bet = io::read_image(require_template(dir, "ch2bet.nii.gz"));
  const LabelVolume aal = io::read_label_image(require_template(dir, "aal.nii.gz"));
  const Geometry& g = atlas.t1.geometry;
  if (bet.geometry.size != g.size || aal.geometry.size != g.size)
    throw Error(dir.string() + ": ch2, ch2bet and aal are not on the same grid");

  atlas.brain = Volume<std::uint8_t>(g);
  for (std::size_t n = 0; n < bet.voxels.size(); ++n) atlas.brain.voxels[n] = bet.voxels[n] > 0;

  atlas.regions = Volume<std::uint8_t>(g);
  for (std::int64_t k = 0; k < g.size[2]; ++k)
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i) {
        const std::int64_t n = g.linear_index(i, j, k);
        if (!atlas.brain.voxels[n]) continue;
        int region = study_region_of_aal(aal.voxels[n]);
        if (aal.voxels[n] == 0 && in_brainstem_box(index_to_physical(g, {double(i), double(j), double(k)})))
          region = 10;
        atlas.regions.voxels[n] = std::uint8_t(region);
      }

  const auto air = outside_air(atlas.t1, kHeadT1);
  const auto dist = distance_from_brain(atlas.brain, kSkullReachVoxels);
  atlas.hounsfield = ImageVolume(g);
  for (std::size_t n = 0; n < atlas.t1.voxels.size(); ++n) {
    const float t1 = atlas.t1.voxels[n];
    atlas.hounsfield.voxels[n] = air[n] ? hu.air : atlas.brain.voxels[n] ? brain_hu(t1, hu) : head_hu(t1, dist[n], hu);
  }

  std::array<Vec3, kBrainRegions.size()> sums{};
  std::array<std::int64_t, kBrainRegions.size()> counts{};
  Vec3 brain_sum{};
  std::int64_t brain_count = 0;
  for (std::int64_t k = 0; k < g.size[2]; ++k)
    for (std::int64_t j = 0; j < g.size[1]; ++j)
      for (std::int64_t i = 0; i < g.size[0]; ++i) {
        const std::int64_t n = g.linear_index(i, j, k);
        if (!atlas.brain.voxels[n]) continue;
        const Vec3 p = index_to_physical(g, {double(i), double(j), double(k)});
        for (int a = 0; a < 3; ++a) brain_sum[a] += p[a];
        ++brain_count;
        if (const int r = atlas.regions.voxels[n]; r > 0) {
          for (int a = 0; a < 3; ++a) sums[r - 1][a] += p[a];
          ++counts[r - 1];
        }
      }
  for (int a = 0; a < 3; ++a) atlas.brain_centre_mm[a] = brain_sum[a] / double(brain_count);
  atlas.brain_volume_ml = double(brain_count) * g.voxel_volume_ml();
  for (std::size_t r = 0; r < kBrainRegions.size(); ++r) {
    if (counts[r] == 0) throw Error(dir.string() + ": region " + std::string(kBrainRegions[r].name) + " is empty");
    for (int a = 0; a < 3; ++a) atlas.region_centre_mm[r][a] = sums[r][a] / double(counts[r]);
    atlas.region_volume_ml[r] = double(counts[r]) * g.voxel_volume_ml();
  }
  return atlas;
}

}  // namespace nc::synth
