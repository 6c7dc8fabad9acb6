#include "qc/snapshot.hpp"

#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkPNGImageIO.h>
#include <itkRGBPixel.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>

#include "core/error.hpp"

namespace nc::qc {
namespace {

constexpr double kMarginMm = 10;
constexpr double kOverlayAlpha = 0.45;
constexpr Rgb kUnknownLabel = {160, 160, 160};

/// A view: the physical axes (LPS) along the picture's columns and rows, and the one across.
struct View {
  int column_axis;
  double column_sign;
  int row_axis;
  double row_sign;
  int slice_axis;
};
// Radiological convention: axial seen from the feet (patient's right on the left, anterior at
// the top), coronal from the front, sagittal from the patient's left (anterior on the left).
constexpr std::array<View, 3> kViews = {{{0, 1, 1, 1, 2}, {0, 1, 2, -1, 1}, {1, 1, 2, -1, 0}}};

/// Where the label map sits: its physical bounding box and its centroid.
struct Placement {
  Vec3 low{}, high{}, centroid{};
};

Placement place(const LabelVolume& labels) {
  const Geometry& g = labels.geometry;
  const auto& s = g.size;
  std::array<std::int64_t, 3> lo = {s[0], s[1], s[2]}, hi = {-1, -1, -1};
  Vec3 sum{};
  std::int64_t n = 0;
  for (std::int64_t k = 0, v = 0; k < s[2]; ++k)
    for (std::int64_t j = 0; j < s[1]; ++j)
      for (std::int64_t i = 0; i < s[0]; ++i, ++v) {
        if (labels.voxels[std::size_t(v)] == 0) continue;
        const std::array<std::int64_t, 3> at = {i, j, k};
        for (int a = 0; a < 3; ++a) {
          lo[a] = std::min(lo[a], at[a]);
          hi[a] = std::max(hi[a], at[a]);
          sum[a] += double(at[a]);
        }
        ++n;
      }
  if (n == 0) {  // nothing labelled: the whole grid
    lo = {0, 0, 0};
    hi = {s[0] - 1, s[1] - 1, s[2] - 1};
    sum = {double(s[0] - 1) / 2, double(s[1] - 1) / 2, double(s[2] - 1) / 2};
    n = 1;
  }
  Placement p;
  p.low = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
           std::numeric_limits<double>::infinity()};
  p.high = {-p.low[0], -p.low[1], -p.low[2]};
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 index = {double(corner & 1 ? hi[0] : lo[0]), double(corner & 2 ? hi[1] : lo[1]),
                        double(corner & 4 ? hi[2] : lo[2])};
    const Vec3 x = index_to_physical(g, index);
    for (int a = 0; a < 3; ++a) {
      p.low[a] = std::min(p.low[a], x[a]);
      p.high[a] = std::max(p.high[a], x[a]);
    }
  }
  p.centroid = index_to_physical(g, {sum[0] / double(n), sum[1] / double(n), sum[2] / double(n)});
  return p;
}

/// Nearest-voxel lookup of physical points in a volume; false outside its grid.
template <typename T>
class Sampler {
 public:
  explicit Sampler(const Volume<T>& volume) : volume_(volume), to_index_(physical_to_index_matrix(volume.geometry)) {}
  bool at(const Vec3& p, T& value) const {
    const Vec3 x = physical_to_index(volume_.geometry, to_index_, p);
    const auto& s = volume_.geometry.size;
    std::array<std::int64_t, 3> i{};
    for (int a = 0; a < 3; ++a) {
      i[a] = std::llround(x[a]);
      if (i[a] < 0 || i[a] >= s[a]) return false;
    }
    value = volume_.at(i[0], i[1], i[2]);
    return true;
  }

 private:
  const Volume<T>& volume_;
  Mat3 to_index_;
};

std::uint8_t blend(double grey, std::uint8_t colour) {
  return std::uint8_t(std::lround(grey * (1 - kOverlayAlpha) + colour * kOverlayAlpha));
}

}  // namespace

Rgb region_colour(std::size_t index) {
  static constexpr std::array<Rgb, 12> kPalette = {{{230, 25, 75},
                                                    {60, 180, 75},
                                                    {255, 225, 25},
                                                    {0, 130, 200},
                                                    {245, 130, 48},
                                                    {145, 30, 180},
                                                    {70, 240, 240},
                                                    {240, 50, 230},
                                                    {210, 245, 60},
                                                    {250, 190, 212},
                                                    {0, 128, 128},
                                                    {170, 110, 40}}};
  return kPalette[index % kPalette.size()];
}

Picture render_snapshot(const ImageVolume& image, const LabelVolume& labels, const std::vector<int>& region_labels,
                        bool hounsfield) {
  const Placement where = place(labels);
  double extent = 0;
  for (int a = 0; a < 3; ++a) extent = std::max(extent, where.high[a] - where.low[a] + 2 * kMarginMm);
  const double mm_per_pixel = extent / kSnapshotTile;
  const Sampler<float> grey_at(image);
  const Sampler<std::uint16_t> label_at(labels);

  constexpr int T = kSnapshotTile;
  std::vector<float> grey(std::size_t(3 * T * T), std::numeric_limits<float>::quiet_NaN());
  std::vector<std::uint16_t> label(grey.size(), 0);
  for (int view = 0; view < 3; ++view) {
    const View& v = kViews[std::size_t(view)];
    for (int row = 0; row < T; ++row)
      for (int column = 0; column < T; ++column) {
        Vec3 p = {(where.low[0] + where.high[0]) / 2, (where.low[1] + where.high[1]) / 2,
                  (where.low[2] + where.high[2]) / 2};
        p[std::size_t(v.slice_axis)] = where.centroid[std::size_t(v.slice_axis)];
        p[std::size_t(v.column_axis)] += v.column_sign * (column + 0.5 - T / 2.0) * mm_per_pixel;
        p[std::size_t(v.row_axis)] += v.row_sign * (row + 0.5 - T / 2.0) * mm_per_pixel;
        const std::size_t pixel = std::size_t(row) * 3 * T + std::size_t(view * T + column);
        grey_at.at(p, grey[pixel]);
        label_at.at(p, label[pixel]);
      }
  }

  float lo = 0, hi = 80;  // CT brain window, HU
  if (!hounsfield) {
    std::vector<float> brain;
    for (std::size_t i = 0; i < grey.size(); ++i)
      if (label[i] != 0 && std::isfinite(grey[i])) brain.push_back(grey[i]);
    if (brain.empty())
      for (float g : grey)
        if (std::isfinite(g)) brain.push_back(g);
    if (!brain.empty()) {
      std::sort(brain.begin(), brain.end());
      lo = brain[std::size_t(0.01 * double(brain.size() - 1))];
      hi = brain[std::size_t(0.99 * double(brain.size() - 1))];
    }
  }
  const double range = hi > lo ? hi - lo : 1;

  std::vector<int> region_of(65536, -1);
  for (std::size_t r = 0; r < region_labels.size(); ++r)
    if (region_labels[r] >= 0 && region_labels[r] < 65536) region_of[std::size_t(region_labels[r])] = int(r);
  Picture picture{3 * T, T, std::vector<Rgb>(grey.size())};
  for (std::size_t i = 0; i < grey.size(); ++i) {
    const double g = std::isfinite(grey[i]) ? 255 * std::clamp((grey[i] - lo) / range, 0.0, 1.0) : 0;
    if (label[i] == 0) {
      const auto level = std::uint8_t(std::lround(g));
      picture.pixels[i] = {level, level, level};
      continue;
    }
    const int r = region_of[label[i]];
    const Rgb c = r >= 0 ? region_colour(std::size_t(r)) : kUnknownLabel;
    picture.pixels[i] = {blend(g, c[0]), blend(g, c[1]), blend(g, c[2])};
  }
  return picture;
}

Picture shrink(const Picture& picture, int factor) {
  Picture small{picture.width / factor, picture.height / factor, {}};
  small.pixels.resize(std::size_t(small.width * small.height));
  for (int y = 0; y < small.height; ++y)
    for (int x = 0; x < small.width; ++x) {
      std::array<int, 3> sum{};
      for (int dy = 0; dy < factor; ++dy)
        for (int dx = 0; dx < factor; ++dx) {
          const Rgb& p = picture.pixels[std::size_t((y * factor + dy) * picture.width + x * factor + dx)];
          for (int c = 0; c < 3; ++c) sum[std::size_t(c)] += p[std::size_t(c)];
        }
      for (int c = 0; c < 3; ++c)
        small.pixels[std::size_t(y * small.width + x)][std::size_t(c)] =
            std::uint8_t(sum[std::size_t(c)] / (factor * factor));
    }
  return small;
}

void write_png(const Picture& picture, const std::filesystem::path& path) {
  using RgbImage = itk::Image<itk::RGBPixel<unsigned char>, 2>;
  auto image = RgbImage::New();
  RgbImage::RegionType region;
  region.SetSize({{itk::SizeValueType(picture.width), itk::SizeValueType(picture.height)}});
  image->SetRegions(region);
  image->Allocate();
  auto* buffer = image->GetBufferPointer();
  for (std::size_t i = 0; i < picture.pixels.size(); ++i)
    buffer[i].Set(picture.pixels[i][0], picture.pixels[i][1], picture.pixels[i][2]);
  auto writer = itk::ImageFileWriter<RgbImage>::New();
  writer->SetImageIO(itk::PNGImageIO::New());
  writer->SetFileName(path.string());
  writer->SetInput(image);
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(path.string() + ": cannot write the PNG (" + e.GetDescription() + ")", Cause::Runtime);
  }
}

std::string snapshot_name(std::size_t row) { return "snapshots/" + std::to_string(row) + ".png"; }
std::string thumbnail_name(std::size_t row) { return "thumbnails/" + std::to_string(row) + ".png"; }

std::vector<std::string> write_snapshots(const io::CohortStore& store, const std::vector<SnapshotJob>& jobs,
                                         const std::filesystem::path& out, const io::ReadLimits& limits,
                                         const std::function<void(const std::string& error)>& done) {
  for (const char* folder : {"snapshots", "thumbnails"}) {
    std::error_code ec;
    std::filesystem::create_directories(out / folder, ec);
    if (ec) throw Error((out / folder).string() + ": cannot create the folder (" + ec.message() + ")");
  }
  std::vector<int> region_labels;
  for (const auto& r : store.regions()) region_labels.push_back(r.label);
  std::vector<std::string> errors(jobs.size());
  std::mutex store_mutex, done_mutex;  // HDF5 is not thread-safe; `done` writes one line at a time
  tbb::parallel_for(std::size_t{0}, jobs.size(), [&](std::size_t j) {
    const SnapshotJob& job = jobs[j];
    try {
      std::optional<LabelVolume> labels;
      {
        const std::lock_guard lock(store_mutex);
        labels = store.read_labels(store.scan_ids()[job.row]);
      }
      if (!labels) throw Error("no stored label map");
      const Picture picture =
          render_snapshot(io::read_image(job.image, limits), *labels, region_labels, job.hounsfield);
      write_png(picture, out / snapshot_name(job.row));
      write_png(shrink(picture, kThumbnailShrink), out / thumbnail_name(job.row));
    } catch (const std::exception& e) {
      errors[j] = e.what();
    }
    const std::lock_guard lock(done_mutex);
    if (done) done(errors[j]);
  });
  return errors;
}

}  // namespace nc::qc
