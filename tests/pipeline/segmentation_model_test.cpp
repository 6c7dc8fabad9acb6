#include "pipeline/segmentation_model.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::pipeline {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Exports the tiny network of export_tiny_model.py with Debian's torch (a real TorchScript file).
void export_tiny(const fs::path& out, int classes, const std::string& flags = "") {
  const auto r = test::run_command("/usr/bin/python3 " NC_TEST_SOURCE_DIR "/pipeline/export_tiny_model.py " +
                                   out.string() + " " + std::to_string(classes) + " " + flags + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

std::string error_of(const fs::path& model, const std::optional<fs::path>& sidecar = std::nullopt) {
  try {
    SegmentationModel::load(model, sidecar);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(SegmentationModel, LoadsEmbeddedMetadataAndRunsForward) {
  TempDir dir;
  export_tiny(dir / "tiny.pt", 3);
  const auto model = SegmentationModel::load(dir / "tiny.pt");
  const ModelMetadata& meta = model.metadata();
  ASSERT_EQ(meta.labels.size(), 2u);
  EXPECT_EQ(meta.labels[1].name, "region_2");
  EXPECT_EQ(meta.input_spacing_mm, (std::array<double, 3>{2, 2, 2}));
  EXPECT_EQ(meta.patch_size, (std::array<std::int64_t, 3>{8, 8, 8}));

  const std::array<std::int64_t, 3> size = {4, 3, 2};
  std::vector<float> input(2 * 4 * 3 * 2);  // batch of 2
  for (std::size_t n = 0; n < input.size(); ++n) input[n] = float(n);
  std::vector<float> logits(2 * 3 * 24);
  model.forward(input, 2, size, logits);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t v = 0; v < 24; ++v)  // class c's logit is x + c
        ASSERT_FLOAT_EQ(logits[std::size_t((b * 3 + c) * 24 + v)], input[std::size_t(b * 24 + v)] + float(c));
}

// Under bf16 autocast the convolution runs on 8-bit mantissas: x + c comes back within 2^-7 of
// its size (the input and the output each rounded once), and not exactly (the inputs are chosen between bf16 values), which
// tells that the arithmetic really was bf16 and not float32 under another name.
TEST(SegmentationModel, Bf16AutocastOnTheCpuRoundsToBf16) {
  TempDir dir;
  export_tiny(dir / "tiny.pt", 3);
  const auto model = SegmentationModel::load(dir / "tiny.pt", std::nullopt, Device::Cpu, Precision::BFloat16);
  EXPECT_EQ(model.precision(), Precision::BFloat16);
  const std::array<std::int64_t, 3> size = {8, 8, 8};
  std::vector<float> input(512);
  for (std::size_t n = 0; n < input.size(); ++n) input[n] = 1.0f + float(n) / 1000.0f;
  std::vector<float> logits(3 * 512);
  model.forward(input, 1, size, logits);
  std::size_t rounded = 0;
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t v = 0; v < 512; ++v) {
      const float exact = input[v] + float(c), got = logits[c * 512 + v];
      ASSERT_NEAR(got, exact, std::abs(exact) / 128.0f) << "class " << c << ", voxel " << v;
      rounded += got != exact;
    }
  EXPECT_GT(rounded, 512u) << "logits equal float32 arithmetic: autocast did not apply";
}

TEST(SegmentationModel, Fp16AndTf32OnTheCpuAreClearErrors) {
  TempDir dir;
  export_tiny(dir / "tiny.pt", 3);
  for (const Precision precision : {Precision::Float16, Precision::TensorFloat32}) {
    const std::string name = precision_name(precision);
    try {
      SegmentationModel::load(dir / "tiny.pt", std::nullopt, Device::Cpu, precision);
      FAIL() << name << " on the CPU was accepted";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(name + " inference needs --device cuda"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(precision_named("tf32"), Precision::TensorFloat32);
}

TEST(SegmentationModel, SidecarMetadataForModelsExportedElsewhere) {
  TempDir dir;
  export_tiny(dir / "bare.pt", 3, "--no-metadata --metadata-out " + (dir / "side.json").string());
  EXPECT_NE(error_of(dir / "bare.pt").find("embeds no metadata.json"), std::string::npos);
  const auto model = SegmentationModel::load(dir / "bare.pt", dir / "side.json");
  EXPECT_EQ(model.metadata().labels.size(), 2u);
}

TEST(SegmentationModel, LabelTableThatDisagreesWithTheNetworkIsAnError) {
  TempDir dir;
  export_tiny(dir / "five.pt", 5);  // five outputs, but metadata lists two labels (three classes)
  EXPECT_NE(error_of(dir / "five.pt").find("label table and network disagree"), std::string::npos);
}

TEST(SegmentationModel, MissingOrCorruptFilesAreClearErrors) {
  TempDir dir;
  EXPECT_NE(error_of(dir / "absent.pt").find("model file not found"), std::string::npos);
  std::ofstream(dir / "junk.pt") << "not a zip archive";
  EXPECT_NE(error_of(dir / "junk.pt").find("not a loadable TorchScript model"), std::string::npos);
}

TEST(ModelMetadata, ValidationNamesTheProblem) {
  const auto problem = [](const std::string& json) {
    try {
      parse_model_metadata(json, "m.json");
    } catch (const ModelError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string base = R"("input_spacing_mm":[1,1,1],"patch_size":[8,8,8],"channels":1)";
  EXPECT_NE(problem("{" + base + "}").find("no 'labels'"), std::string::npos);
  EXPECT_NE(problem(R"({"labels":[{"id":1,"name":"a"},{"id":1,"name":"b"}],)" + base + "}").find("appears twice"),
            std::string::npos);
  EXPECT_NE(problem(R"({"labels":[{"id":0,"name":"a"}],)" + base + "}").find("start at 1"), std::string::npos);
  EXPECT_NE(problem(R"({"labels":[{"id":1,"name":"a"}],"input_spacing_mm":[1,0,1],"patch_size":[8,8,8],"channels":1})")
                .find("positive"),
            std::string::npos);
  EXPECT_NE(problem("{not json").find("invalid metadata JSON"), std::string::npos);
  EXPECT_NE(problem(R"({"labels":[{"id":1,"name":"a"}],"normalisation":"minmax",)" + base + "}").find("unknown normalisation"),
            std::string::npos);
  EXPECT_EQ(problem(R"({"labels":[{"id":1,"name":"a","hemisphere":"L"}],)" + base + "}"), "");
}

}  // namespace
}  // namespace nc::pipeline
