#include "synth/cohort_generator.hpp"

#include <tbb/parallel_for.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>

#include "core/error.hpp"
#include "io/image_io.hpp"
#include "norms/shash.hpp"
#include "synth/pacs_tree.hpp"
#include "synth/splitmix.hpp"
#include "synth/warp_field.hpp"

namespace nc::synth {
namespace {

namespace fs = std::filesystem;

constexpr double kMinAgeYears = 0.5, kMaxAgeYears = 11.0;
constexpr double kMaleShare = 0.55, kPatientShare = 1.0 / 3.0;
constexpr int kMaxSites = 26;  // named A … Z

// CT: 512 × 512 × ~250 at 0.45 × 0.45 × 0.625 mm, noise about 5 HU, some with gantry tilt.
constexpr std::int64_t kCtInPlane = 512;
constexpr std::int64_t kCtSlicesMin = 240, kCtSlicesMax = 260;
constexpr double kCtInPlaneMm = 0.45, kCtSliceMm = 0.625;
constexpr double kCtNoiseHu = 5.0;
constexpr double kMinTiltDegrees = 10.0, kMaxTiltDegrees = 25.0;
// MR: 1 mm T1 on the atlas field of view, smooth bias field, Gaussian noise; stored ×4 as int16.
constexpr double kMrScale = 4.0;
constexpr double kMrNoise = 12.0;          // about 3 % of white matter (about 440)
constexpr double kMrBiasAmplitude = 0.15;  // ±15 % over the head
constexpr double kMrBiasWavelengthMm = 250.0;

struct Subject {
  std::string scan_id;
  bool ct = true;
  double age_years = 1;
  bool male = true;
  bool patient = false;
  std::string site;
  SubjectAnatomy anatomy;
  double tilt_degrees = 0;
  std::int64_t ct_slices = 250;
  Vec3 bias_wave_per_mm{};
  double bias_phase = 0;
};

// Standard normal deviates drawn once per subject; each voxel picks one by a hash of its
// index, which is far cheaper than a Box-Muller transform per voxel of a 65-million-voxel CT.
class NoiseTable {
 public:
  explicit NoiseTable(std::uint64_t stream) : stream_(stream), values_(kSize) {
    std::mt19937_64 rng(stream);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : values_) v = normal(rng);
  }
  float at(std::uint64_t voxel) const { return values_[splitmix(stream_ ^ voxel) & (kSize - 1)]; }

 private:
  static constexpr std::size_t kSize = std::size_t{1} << 16;  // 256 kB: stays in cache
  std::uint64_t stream_;
  std::vector<float> values_;
};

std::string scan_id_of(int index) {
  std::ostringstream id;
  id << "sub-" << std::setw(4) << std::setfill('0') << index + 1;
  return id.str();
}

// The planted offset of each site: its own random stream, so that the subjects' draws do not
// depend on the site settings.
std::vector<double> draw_site_offsets(const SynthOptions& options) {
  std::mt19937_64 rng(splitmix(options.seed ^ 0x517E0FF5E7ULL));
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> offsets;
  for (int g = 0; g < options.sites; ++g) offsets.push_back(options.model.site_sd * normal(rng) + 0.0);  // no "-0"
  return offsets;
}

std::string site_name(int index) { return std::string(1, char('A' + index)); }

// The subject noise of anatomy.hpp: SD subject_sd · spread_ratio^((mid − age)/range), and a
// sinh-arcsinh transform of the normal draw, standardised to mean 0 and SD 1, when skewed.
double subject_noise(const PlantedModel& model, double age_years, double normal_draw) {
  const double mid = 0.5 * (kMinAgeYears + kMaxAgeYears), range = kMaxAgeYears - kMinAgeYears;
  const double sd = model.subject_sd * std::pow(model.spread_ratio, (mid - age_years) / range);
  if (model.skew == 0) return sd * normal_draw;
  const norms::Shash skewed{0, 1, model.skew, 1};
  return sd * (skewed.at_z(normal_draw) - skewed.mean()) / std::sqrt(skewed.variance());
}

// `offsets`: regional log-volume offsets that move the atlas onto base_r (see anatomy.hpp).
Subject draw_subject(const SynthOptions& options, int index, const std::array<double, kRegions>& offsets,
                     const std::vector<double>& site_offsets) {
  const PlantedModel& model = options.model;
  std::mt19937_64 rng(splitmix(options.seed * 1000003ULL + std::uint64_t(index)));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  Subject s;
  s.scan_id = scan_id_of(index);
  s.ct = options.modality == ModalityChoice::CT || (options.modality == ModalityChoice::Both && index % 2 == 0);
  s.age_years = kMinAgeYears + (kMaxAgeYears - kMinAgeYears) * uniform(rng);
  s.male = uniform(rng) < kMaleShare;
  s.patient = uniform(rng) < kPatientShare;
  const int site = int(uniform(rng) * options.sites) % options.sites;
  s.site = site_name(site);
  s.anatomy.global_log_volume = model.intercept + model.age_per_ln_year * std::log(s.age_years) +
                                (s.male ? model.male : 0.0) + (s.patient ? model.patient : 0.0) +
                                site_offsets[std::size_t(site)] + subject_noise(model, s.age_years, normal(rng));
  const auto asym = model.regional_asymmetry();
  for (std::size_t r = 0; r < kRegions; ++r)
    s.anatomy.regional_log_volume[r] = offsets[r] + asym[r] + model.region_sd * normal(rng);
  draw_pose_and_warp(rng, s.anatomy);
  s.tilt_degrees = uniform(rng) < options.oblique_fraction
                       ? kMinTiltDegrees + (kMaxTiltDegrees - kMinTiltDegrees) * uniform(rng)
                       : 0.0;
  s.ct_slices = kCtSlicesMin + std::int64_t(uniform(rng) * double(kCtSlicesMax - kCtSlicesMin + 1));
  for (auto& w : s.bias_wave_per_mm) w = (uniform(rng) * 2 - 1) * 2 * M_PI / kMrBiasWavelengthMm;
  s.bias_phase = uniform(rng) * 2 * M_PI;
  return s;
}

// A grid of `size` voxels of `spacing`, with direction `direction`, centred on `centre`.
Geometry centred_grid(std::array<std::int64_t, 3> size, Vec3 spacing, const Mat3& direction, const Vec3& centre) {
  Geometry g;
  g.size = size;
  g.spacing_mm = spacing;
  g.direction = direction;
  const Vec3 half = index_to_physical(g, {double(size[0] - 1) / 2, double(size[1] - 1) / 2, double(size[2] - 1) / 2});
  for (int a = 0; a < 3; ++a) g.origin_mm[a] = centre[a] - half[a];  // origin is 0 here, so half is the offset
  return g;
}

Geometry subject_grid(const Subject& s, const Atlas& atlas) {
  if (!s.ct) {
    const Geometry& a = atlas.t1.geometry;
    const Vec3 centre = index_to_physical(a, {double(a.size[0] - 1) / 2, double(a.size[1] - 1) / 2,
                                              double(a.size[2] - 1) / 2});
    return centred_grid(a.size, {1, 1, 1}, a.direction, centre);
  }
  // Gantry tilt: the slice planes turn about the left-right axis.
  const double t = s.tilt_degrees * M_PI / 180.0;
  const Mat3 tilt = {1, 0, 0, 0, std::cos(t), -std::sin(t), 0, std::sin(t), std::cos(t)};
  return centred_grid({kCtInPlane, kCtInPlane, s.ct_slices}, {kCtInPlaneMm, kCtInPlaneMm, kCtSliceMm}, tilt,
                      atlas.brain_centre_mm);
}

// The same tilted CT as a scanner stores it: slice planes turned by the tilt, but stacked along
// the table (head–foot) axis, so that each slice is shifted in-plane against the one before.
Geometry sheared_ct_grid(const Subject& s, const Atlas& atlas) {
  const double t = s.tilt_degrees * M_PI / 180.0;
  const Mat3 columns = {1, 0, 0, 0, std::cos(t), 0, 0, -std::sin(t), 1};
  return centred_grid({kCtInPlane, kCtInPlane, s.ct_slices}, {kCtInPlaneMm, kCtInPlaneMm, kCtSliceMm / std::cos(t)},
                      columns, atlas.brain_centre_mm);
}

struct SubjectImages {
  Volume<std::int16_t> image;
  Volume<std::uint8_t> labels;
  Volume<std::uint8_t> brain;
};

struct SubjectVolumes {
  double icv_ml = 0;
  std::array<double, kRegions> region_ml{};
};

// Counts labels 1..kRegions and brain voxels; volumes in mL.
SubjectVolumes count_volumes(const Volume<std::uint8_t>& labels, const Volume<std::uint8_t>& brain) {
  std::array<std::int64_t, kRegions + 1> counts{};
  for (const auto v : labels.voxels) ++counts[v];
  std::int64_t brain_voxels = 0;
  for (const auto v : brain.voxels) brain_voxels += v;
  const double voxel_ml = labels.geometry.voxel_volume_ml();
  SubjectVolumes out{double(brain_voxels) * voxel_ml, {}};
  for (std::size_t r = 0; r < kRegions; ++r) out.region_ml[r] = double(counts[r + 1]) * voxel_ml;
  return out;
}

// The label map and brain mask alone, by nearest-neighbour lookup.
void render_labels(const Atlas& atlas, const WarpField& field, Volume<std::uint8_t>& labels, Volume<std::uint8_t>& brain) {
  const Geometry& grid = labels.geometry;
  const Geometry& ag = atlas.t1.geometry;
  const kernels::GridDims dims{ag.size[0], ag.size[1], ag.size[2]};
  tbb::parallel_for(std::int64_t{0}, grid.size[2], [&](std::int64_t k) {
    std::vector<Vec3> row(std::size_t(grid.size[0]));
    for (std::int64_t j = 0; j < grid.size[1]; ++j) {
      field.atlas_row(j, k, row);
      for (std::int64_t i = 0; i < grid.size[0]; ++i) {
        const std::size_t n = std::size_t(grid.linear_index(i, j, k));
        const Vec3& x = row[std::size_t(i)];
        labels.voxels[n] = kernels::sample_nearest(atlas.regions.voxels.data(), dims, x[0], x[1], x[2], std::uint8_t{0});
        brain.voxels[n] = kernels::sample_nearest(atlas.brain.voxels.data(), dims, x[0], x[1], x[2], std::uint8_t{0});
      }
    }
  });
}

SubjectImages render(const Subject& s, const Atlas& atlas, const Geometry& grid, const WarpField& field,
                     const NoiseTable& noise_table) {
  SubjectImages out{Volume<std::int16_t>(grid), Volume<std::uint8_t>(grid), Volume<std::uint8_t>(grid)};
  const Geometry& ag = atlas.t1.geometry;
  const kernels::GridDims dims{ag.size[0], ag.size[1], ag.size[2]};
  const float* source = s.ct ? atlas.hounsfield.voxels.data() : atlas.t1.voxels.data();
  const float outside = s.ct ? -1000.0f : 0.0f;
  tbb::parallel_for(std::int64_t{0}, grid.size[2], [&](std::int64_t k) {
    std::vector<Vec3> row(std::size_t(grid.size[0]));
    for (std::int64_t j = 0; j < grid.size[1]; ++j) {
      field.atlas_row(j, k, row);
      for (std::int64_t i = 0; i < grid.size[0]; ++i) {
        const std::int64_t n = grid.linear_index(i, j, k);
        const Vec3& x = row[std::size_t(i)];
        const double value = kernels::sample_trilinear(source, dims, x[0], x[1], x[2], outside);
        const double noise = noise_table.at(std::uint64_t(n));
        double stored;
        if (s.ct) {
          stored = std::clamp(value + kCtNoiseHu * noise, -1024.0, 3071.0);
        } else {
          const Vec3 p = index_to_physical(grid, {double(i), double(j), double(k)});
          const double bias = 1.0 + kMrBiasAmplitude * std::sin(s.bias_wave_per_mm[0] * p[0] + s.bias_wave_per_mm[1] * p[1] +
                                                                s.bias_wave_per_mm[2] * p[2] + s.bias_phase);
          stored = std::clamp(value * kMrScale * bias + kMrNoise * noise, 0.0, 32767.0);
        }
        out.image.voxels[std::size_t(n)] = std::int16_t(std::lround(stored));
      }
    }
  });
  render_labels(atlas, field, out.labels, out.brain);
  return out;
}

std::string fixed(double v, int digits = 6) {
  std::ostringstream s;
  s << std::setprecision(digits) << std::fixed << v;
  return s.str();
}

std::ofstream open_output(const fs::path& path) {
  std::ofstream out(path);
  if (!out) throw Error(path.string() + ": cannot write", Cause::Runtime);
  return out;
}

void write_site_offsets(const fs::path& path, const std::vector<double>& offsets) {
  auto out = open_output(path);
  out << "site\toffset_log\n";
  for (std::size_t g = 0; g < offsets.size(); ++g) out << site_name(int(g)) << '\t' << fixed(offsets[g], 8) << '\n';
}

void write_effects(const fs::path& path, const PlantedModel& model, const Atlas& atlas) {
  auto out = open_output(path);
  out << "region\tlabel\themisphere\tatlas_volume_ml\tbase_log_ml\tintercept\tage_per_ln_year\tmale\tpatient\t"
         "asymmetry_log\tsubject_sd\tregion_sd\n";
  const auto asym = model.regional_asymmetry();
  const auto base = PlantedModel::base_log_volume(atlas);
  for (std::size_t r = 0; r < kRegions; ++r) {
    const auto& region = kBrainRegions[r];
    out << region.name << '\t' << region.label << '\t' << region.hemisphere << '\t'
        << fixed(atlas.region_volume_ml[r], 3) << '\t' << fixed(base[r]) << '\t' << fixed(model.intercept) << '\t' << fixed(model.age_per_ln_year)
        << '\t' << fixed(model.male) << '\t' << fixed(model.patient) << '\t' << fixed(asym[r]) << '\t'
        << fixed(model.subject_sd) << '\t' << fixed(model.region_sd) << '\n';
  }
  // The ICV follows the global terms only.
  out << "icv\t0\t-\t" << fixed(atlas.brain_volume_ml, 3) << '\t' << fixed(std::log(atlas.brain_volume_ml)) << '\t'
      << fixed(model.intercept) << '\t'
      << fixed(model.age_per_ln_year) << '\t' << fixed(model.male) << '\t' << fixed(model.patient) << '\t'
      << fixed(0.0) << '\t' << fixed(model.subject_sd) << '\t' << fixed(0.0) << '\n';
}

// The isotropic grid over the atlas field of view used in volumes-only mode.
Geometry volumes_grid(const Atlas& atlas, double grid_mm) {
  const Geometry& ag = atlas.t1.geometry;
  std::array<std::int64_t, 3> size{};
  for (int a = 0; a < 3; ++a) size[a] = std::int64_t(std::ceil(double(ag.size[a]) * ag.spacing_mm[a] / grid_mm));
  const Vec3 centre =
      index_to_physical(ag, {double(ag.size[0] - 1) / 2, double(ag.size[1] - 1) / 2, double(ag.size[2] - 1) / 2});
  return centred_grid(size, {grid_mm, grid_mm, grid_mm}, ag.direction, centre);
}

void create_folder(const fs::path& folder) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw Error(folder.string() + ": cannot create folder: " + ec.message());
}

}  // namespace

void generate_cohort(const SynthOptions& options, const std::function<void(const SynthProgress&)>& progress) {
  if (options.subjects < 1) throw UsageError("synth: --n must be at least 1");
  if (options.sites < 1 || options.sites > kMaxSites) throw UsageError("synth: --sites must be 1 to 26");
  if (!(options.volumes_grid_mm >= 0.5 && options.volumes_grid_mm <= 4.0))
    throw UsageError("synth: the volumes grid must be between 0.5 and 4 mm");
  create_folder(options.out_dir);
  if (!options.volumes_only)
    for (const char* sub : {"images", "labels", "masks"}) create_folder(options.out_dir / sub);
  const Atlas atlas = load_atlas(options.template_dir);
  // Regional offsets that move the atlas onto base_r, plus the planted asymmetry: the cohort's
  // mean regional effects, which the calibration refines on the atlas.
  std::array<double, kRegions> atlas_offsets{}, mean_effects{};
  const auto base = PlantedModel::base_log_volume(atlas);
  const auto asym = options.model.regional_asymmetry();
  for (std::size_t r = 0; r < kRegions; ++r) {
    atlas_offsets[r] = base[r] - std::log(atlas.region_volume_ml[r]);
    mean_effects[r] = atlas_offsets[r] + asym[r];
  }
  const Calibration calibration(atlas, mean_effects);
  write_effects(options.out_dir / "effects.tsv", options.model, atlas);
  const auto site_offsets = draw_site_offsets(options);
  write_site_offsets(options.out_dir / "sites.tsv", site_offsets);

  std::ofstream manifest;
  if (!options.volumes_only) {
    manifest = open_output(options.out_dir / "manifest.tsv");
    manifest << "scan_id\timage\tmodality\tage\tsex\tgroup\tsite\tlabels\n";
  }
  std::optional<PacsTree> pacs;
  if (options.format == ImageFormat::Dicom && !options.volumes_only) pacs.emplace(options.out_dir, options.seed);
  auto truth = open_output(options.out_dir / "true_volumes.tsv");
  truth << "scan_id\tmodality\tage\tsex\tgroup\tsite\ticv_ml";
  for (const auto& region : kBrainRegions) truth << '\t' << region.name;
  truth << '\n';

  for (int index = 0; index < options.subjects; ++index) {
    const auto start = std::chrono::steady_clock::now();
    const Subject s = draw_subject(options, index, atlas_offsets, site_offsets);
    const BackwardMap map(atlas, s.anatomy, calibration.inputs_for(s.anatomy.regional_log_volume));
    const char* modality = s.ct ? "CT" : "MR";
    const char* sex = s.male ? "M" : "F";
    const char* group = s.patient ? "patient" : "control";
    SubjectVolumes volumes;
    if (options.volumes_only) {
      const Geometry grid = volumes_grid(atlas, options.volumes_grid_mm);
      Volume<std::uint8_t> labels(grid), brain(grid);
      render_labels(atlas, WarpField(grid, atlas.t1.geometry, map), labels, brain);
      volumes = count_volumes(labels, brain);
    } else {
      const Geometry grid = subject_grid(s, atlas);
      const WarpField field(grid, atlas.t1.geometry, map);
      const NoiseTable noise(splitmix(options.seed ^ (0xC0FFEEULL + std::uint64_t(index))));
      const SubjectImages images = render(s, atlas, grid, field, noise);
      const std::string file = s.scan_id + ".nii.gz";
      io::write_nifti(images.image, options.out_dir / "images" / file);
      io::write_nifti(images.labels, options.out_dir / "labels" / file);
      io::write_nifti(images.brain, options.out_dir / "masks" / file);
      volumes = count_volumes(images.labels, images.brain);
      if (pacs) {
        const PacsSubject subject{index, s.scan_id, sex, s.site, s.age_years, s.ct, s.tilt_degrees};
        if (s.ct && s.tilt_degrees > 0) {
          const Geometry sheared = sheared_ct_grid(s, atlas);
          pacs->add_study(subject, render(s, atlas, sheared, WarpField(sheared, atlas.t1.geometry, map), noise).image);
        } else {
          pacs->add_study(subject, images.image);
        }
      }
      manifest << s.scan_id << "\timages/" << file << '\t' << modality << '\t' << fixed(s.age_years, 3) << '\t'
               << sex << '\t' << group << '\t' << s.site << "\tlabels/" << file << '\n';
    }
    truth << s.scan_id << '\t' << modality << '\t' << fixed(s.age_years, 3) << '\t' << sex << '\t' << group << '\t'
          << s.site << '\t' << fixed(volumes.icv_ml, 4);
    for (const double ml : volumes.region_ml) truth << '\t' << fixed(ml, 4);
    truth << '\n';
    if (progress)
      progress({index + 1, options.subjects, s.scan_id, modality,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()});
  }
  if (pacs) pacs->add_junk();
  manifest.flush();
  truth.flush();
  if (!truth || (!options.volumes_only && !manifest))
    throw Error(options.out_dir.string() + ": writing the tables failed");
}

}  // namespace nc::synth
