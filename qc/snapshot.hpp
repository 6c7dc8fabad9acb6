#pragma once
/// \file
/// QC snapshots: three orthogonal slices (axial, coronal, sagittal, radiological convention)
/// through the centre of the label map, the label map overlaid on the original scan in the
/// colours of region_colour(), written as PNG through ITK's PNG IO: a full-size picture and a
/// thumbnail a third of its size for the QC page.

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/volume.hpp"
#include "io/cohort_store.hpp"
#include "io/image_io.hpp"

namespace nc::qc {

/// Tile height and width of one view in the full-size snapshot, in pixels.
inline constexpr int kSnapshotTile = 192;
/// The thumbnail is the snapshot shrunk by this factor (pixel averages).
inline constexpr int kThumbnailShrink = 3;

using Rgb = std::array<std::uint8_t, 3>;

/// The overlay colour of the region at `index` of the label table (a 12-colour qualitative
/// palette, repeated beyond 12 regions).
Rgb region_colour(std::size_t index);

/// The snapshot's pixels, row-major RGB, 3 · kSnapshotTile wide and kSnapshotTile high.
/// CT is shown in a brain window (0–80 HU), MR between the 1st and 99th percentile of the
/// brain. `region_labels` is the label table (labels outside it are drawn in grey).
struct Picture {
  int width = 0, height = 0;
  std::vector<Rgb> pixels;
};
Picture render_snapshot(const ImageVolume& image, const LabelVolume& labels, const std::vector<int>& region_labels,
                        bool hounsfield);

/// Writes `picture` as a PNG. \throws Error when the file cannot be written.
void write_png(const Picture& picture, const std::filesystem::path& path);
/// The picture shrunk by `factor` (averages of factor × factor blocks).
Picture shrink(const Picture& picture, int factor);

/// One scan to draw: its row in the results file and its original image.
struct SnapshotJob {
  std::size_t row = 0;
  std::filesystem::path image;
  bool hounsfield = false;  ///< CT: the brain window in HU
};

/// Draws every job in parallel into `out`/snapshots/<row>.png and `out`/thumbnails/<row>.png.
/// `done` is called (serialised) after each scan with its error, empty when written.
/// \returns the error per job, empty where written: one bad scan never stops the others.
std::vector<std::string> write_snapshots(const io::CohortStore& store, const std::vector<SnapshotJob>& jobs,
                                         const std::filesystem::path& out, const io::ReadLimits& limits,
                                         const std::function<void(const std::string& error)>& done);

/// The file names write_snapshots uses, relative to `out`.
std::string snapshot_name(std::size_t row);
std::string thumbnail_name(std::size_t row);

}  // namespace nc::qc
