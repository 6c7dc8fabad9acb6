#include "synth/cohort_generator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/error.hpp"
#include "io/image_io.hpp"
#include "io/tsv.hpp"
#include "jobs/manifest.hpp"
#include "kernels/resample/resample_math.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::synth {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

SynthOptions small_cohort(const fs::path& out, double oblique_fraction) {
  SynthOptions options;
  options.out_dir = out;
  options.subjects = 2;  // sub-0001 CT, sub-0002 MR
  options.seed = 5;
  options.oblique_fraction = oblique_fraction;
  return options;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// One CT (with gantry tilt) and one MR subject, written once by the ctest fixture
// `synth_small_cohort` (the real CLI: neurocohort synth --n 2 --seed 5 --oblique-fraction 1).
class SynthCohort : public ::testing::Test {
 protected:
  static fs::path out() { return NC_SYNTH_FIXTURE_DIR; }
};

TEST_F(SynthCohort, ManifestValidatesAndNamesImagesAndLabels) {
  const jobs::Manifest manifest = jobs::load_manifest(out() / "manifest.tsv");
  ASSERT_EQ(manifest.scans.size(), 2u);
  EXPECT_EQ(manifest.scans[0].modality, jobs::Modality::CT);
  EXPECT_EQ(manifest.scans[1].modality, jobs::Modality::MR);
  for (const auto& scan : manifest.scans) {
    EXPECT_GE(scan.age_years, 0.5);
    EXPECT_LE(scan.age_years, 11.0);
    ASSERT_TRUE(scan.labels.has_value());
    EXPECT_TRUE(fs::exists(out() / "masks" / (scan.scan_id + ".nii.gz")));
  }
}

TEST_F(SynthCohort, CtGridIsTheStudyProtocolWithGantryTilt) {
  const auto header = io::read_image_header(out() / "images/sub-0001.nii.gz");
  const Geometry& g = header.geometry;
  EXPECT_EQ(g.size[0], 512);
  EXPECT_EQ(g.size[1], 512);
  EXPECT_GE(g.size[2], 240);
  EXPECT_LE(g.size[2], 260);
  EXPECT_NEAR(g.spacing_mm[0], 0.45, 1e-5);
  EXPECT_NEAR(g.spacing_mm[2], 0.625, 1e-5);
  const double tilt_degrees = std::acos(std::abs(g.direction[8])) * 180.0 / M_PI;
  EXPECT_GE(tilt_degrees, 9.9);
  EXPECT_LE(tilt_degrees, 25.1);
}

TEST_F(SynthCohort, CtIntensitiesFallInTheirTissueRanges) {
  const ImageVolume ct = io::read_image(out() / "images/sub-0001.nii.gz");
  const LabelVolume brain = io::read_label_image(out() / "masks/sub-0001.nii.gz");
  const LabelVolume regions = io::read_label_image(out() / "labels/sub-0001.nii.gz");
  std::vector<float> in_brain;  // the labelled regions: parenchyma, away from the skull's partial volume
  std::int64_t bone = 0, bone_in_brain = 0;
  for (std::size_t n = 0; n < ct.voxels.size(); ++n) {
    if (regions.voxels[n]) in_brain.push_back(ct.voxels[n]);
    if (ct.voxels[n] >= 700) {
      ++bone;
      bone_in_brain += brain.voxels[n];
    }
  }
  std::sort(in_brain.begin(), in_brain.end());
  const auto pct = [&](double p) { return in_brain[std::size_t(p * double(in_brain.size() - 1))]; };
  EXPECT_GE(pct(0.5), 25.0);  // grey (40) and white (28) matter, some CSF (8)
  EXPECT_LE(pct(0.5), 42.0);
  EXPECT_GE(pct(0.01), -15.0);  // CSF minus noise
  EXPECT_LE(pct(0.95), 60.0);   // grey matter plus noise (the top percent: partial volume with the skull)
  EXPECT_GT(bone, 1'000'000);   // a skull: about a million voxels of 0.13 mm³
  EXPECT_LT(double(bone_in_brain), 0.001 * double(bone));
  EXPECT_LE(*std::max_element(ct.voxels.begin(), ct.voxels.end()), 1800.0f + 30.0f);  // bone ≤ 1800 + noise
  EXPECT_NEAR(ct.at(0, 0, 0), -1000.0f, 30.0f);  // air in the corner
}

TEST_F(SynthCohort, TrueVolumesAreCountedOnTheLabelMaps) {
  const io::TsvTable truth = io::read_tsv(out() / "true_volumes.tsv");
  ASSERT_EQ(truth.rows.size(), 2u);
  for (const auto& row : truth.rows) {
    const std::string id = row.fields[0];
    const LabelVolume labels = io::read_label_image(out() / "labels" / (id + ".nii.gz"));
    std::array<std::int64_t, kRegions + 1> counts{};
    for (auto v : labels.voxels) ++counts[v];
    for (std::size_t r = 0; r < kRegions; ++r) {
      const double expected = double(counts[r + 1]) * labels.geometry.voxel_volume_ml();
      EXPECT_NEAR(std::stod(row.fields[7 + r]), expected, 1e-3) << id << " " << kBrainRegions[r].name;
      EXPECT_GT(expected, 10.0) << id << " " << kBrainRegions[r].name;
    }
  }
}

// The tilted CT and the same subject scanned straight hold the same anatomy in physical space.
TEST_F(SynthCohort, ObliqueCtKeepsAnatomyInPhysicalSpace) {
  TempDir straight;
  SynthOptions options = small_cohort(straight.path(), 0.0);
  options.subjects = 1;
  generate_cohort(options);
  const LabelVolume tilted = io::read_label_image(out() / "labels/sub-0001.nii.gz");
  const LabelVolume plain = io::read_label_image(straight / "labels/sub-0001.nii.gz");
  ASSERT_NE(tilted.geometry.direction, plain.geometry.direction);
  const Mat3 to_plain = physical_to_index_matrix(plain.geometry);
  const kernels::GridDims dims{plain.geometry.size[0], plain.geometry.size[1], plain.geometry.size[2]};
  std::array<std::int64_t, kRegions + 1> both{}, in_tilted{}, in_plain{};
  const auto& g = tilted.geometry;
  for (std::int64_t k = 0; k < g.size[2]; k += 3)
    for (std::int64_t j = 0; j < g.size[1]; j += 3)
      for (std::int64_t i = 0; i < g.size[0]; i += 3) {
        const Vec3 p = index_to_physical(g, {double(i), double(j), double(k)});
        const Vec3 q = physical_to_index(plain.geometry, to_plain, p);
        const std::uint16_t a = tilted.at(i, j, k);
        const std::uint16_t b = kernels::sample_nearest(plain.voxels.data(), dims, q[0], q[1], q[2], std::uint16_t{0});
        ++in_tilted[a];
        ++in_plain[b];
        if (a == b) ++both[a];
      }
  for (std::size_t r = 1; r <= kRegions; ++r) {
    const double dice = 2.0 * double(both[r]) / double(in_tilted[r] + in_plain[r]);
    EXPECT_GT(dice, 0.95) << kBrainRegions[r - 1].name;  // nearest-neighbour rounding at the borders only
  }
}

TEST_F(SynthCohort, SameSeedGivesSameBytes) {
  TempDir again;
  generate_cohort(small_cohort(again.path(), 1.0));
  for (const char* file : {"manifest.tsv", "effects.tsv", "true_volumes.tsv", "images/sub-0001.nii.gz",
                           "images/sub-0002.nii.gz", "labels/sub-0001.nii.gz", "masks/sub-0002.nii.gz"})
    EXPECT_EQ(file_bytes(out() / file), file_bytes(again / file)) << file;
}

TEST(Synth, DifferentSeedsGiveDifferentSubjects) {
  TempDir a, b;
  SynthOptions options;
  options.subjects = 3;
  options.volumes_only = true;
  options.out_dir = a.path();
  generate_cohort(options);
  options.seed = 2;
  options.out_dir = b.path();
  generate_cohort(options);
  EXPECT_NE(file_bytes(a / "true_volumes.tsv"), file_bytes(b / "true_volumes.tsv"));
}

TEST(Synth, MissingTemplatesNameThePackage) {
  TempDir dir;
  SynthOptions options;
  options.out_dir = dir.path();
  options.template_dir = dir / "nowhere";
  try {
    generate_cohort(options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mricron-data"), std::string::npos) << e.what();
  }
}

// Regressing 200 subjects' true volumes on ln(age), sex and group (statsmodels) recovers the
// planted coefficients, and paired left/right differences the planted asymmetries, within
// simultaneous 95 % intervals.
TEST(Synth, PlantedModelIsRecoveredFrom200Subjects) {
  TempDir dir;
  SynthOptions options;
  options.out_dir = dir.path();
  options.subjects = 200;
  options.seed = 11;
  options.volumes_only = true;
  generate_cohort(options);
  const auto result = test::run_command("/usr/bin/python3 " NC_TEST_SOURCE_DIR "/synth/check_planted_model.py " +
                                        (dir / "true_volumes.tsv").string() + " " + (dir / "effects.tsv").string());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("0 failures"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace nc::synth
