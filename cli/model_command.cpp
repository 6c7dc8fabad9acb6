// `neurocohort model info MODEL.pt`: what a segmentation model expects and produces, read
// from its embedded (or sidecar) metadata, after loading it through LibTorch.
#include <iostream>

#include "cli/commands.hpp"
#include "pipeline/segmentation_model.hpp"

namespace nc::cli {
namespace {

struct ModelInfoOptions {
  std::filesystem::path model;
  std::optional<std::filesystem::path> metadata;
};

ExitCode run_model_info(const ModelInfoOptions& options) {
  const auto model = pipeline::SegmentationModel::load(options.model, options.metadata);
  const auto& meta = model.metadata();
  std::cout << "model\t" << model.path().string() << '\n'
            << "input_spacing_mm\t" << meta.input_spacing_mm[0] << ' ' << meta.input_spacing_mm[1] << ' '
            << meta.input_spacing_mm[2] << '\n'
            << "patch_size\t" << meta.patch_size[0] << ' ' << meta.patch_size[1] << ' ' << meta.patch_size[2] << '\n'
            << "channels\t" << meta.channels << '\n'
            << "normalisation\t" << meta.normalisation << '\n';
  for (const auto& label : meta.labels)
    std::cout << "label\t" << label.id << '\t' << label.name << '\t' << label.hemisphere << '\n';
  return ExitCode::Ok;
}

}  // namespace

void add_model_command(CLI::App& app, Action& action) {
  auto* model = app.add_subcommand("model", "Inspect segmentation models");
  model->require_subcommand(1);
  auto options = std::make_shared<ModelInfoOptions>();
  auto* info = model->add_subcommand("info", "Load a TorchScript model and print its metadata");
  info->add_option("model", options->model, "TorchScript file (.pt)")->required();
  info->add_option("--model-metadata", options->metadata, "Sidecar metadata JSON for models exported elsewhere");
  info->callback([options, &action] { action = [options] { return run_model_info(*options); }; });
}

}  // namespace nc::cli
