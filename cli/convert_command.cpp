// `neurocohort convert IMAGE --out FILE.nii.gz`: writes what `run` reads from an image (a DICOM
// series "<folder>#<SeriesInstanceUID>" included) as NIfTI, voxels and geometry as read.
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "io/image_io.hpp"

namespace nc::cli {
namespace {

struct ConvertOptions {
  std::filesystem::path image, out;
  std::int64_t max_voxels = io::ReadLimits{}.max_voxels;
};

ExitCode run_convert(const ConvertOptions& o) {
  io::ReadLimits limits;
  limits.max_voxels = o.max_voxels;
  const ImageVolume volume = io::read_image(o.image, limits);
  io::write_nifti(volume, o.out);
  const auto& g = volume.geometry;
  spdlog::info("convert: {}×{}×{} at {:.4g}×{:.4g}×{:.4g} mm into {}", g.size[0], g.size[1], g.size[2], g.spacing_mm[0],
               g.spacing_mm[1], g.spacing_mm[2], o.out.string());
  return ExitCode::Ok;
}

}  // namespace

void add_convert_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "Write an image as run reads it (a DICOM series included) to NIfTI");
  cmd->add_option("image", o->image, "Image file, DICOM folder, or <folder>#<SeriesInstanceUID>")->required();
  cmd->add_option("--out", o->out, "NIfTI file to write (.nii or .nii.gz)")->required();
  add_max_voxels_option(*cmd, o->max_voxels);
  cmd->callback([o, &action] { action = [o] { return run_convert(*o); }; });
}

}  // namespace nc::cli
