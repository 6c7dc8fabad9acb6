// Images crafted by a hostile (or unlucky) user. Each case once crashed the process inside ITK,
// hung it, read a file outside the cohort, allocated gigabytes before its error, or stored a
// corrupt scan as `ok`; each must now be one ImageError naming the file and the reason.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/image_io.hpp"
#include "tests/support/itk_write.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/volumes.hpp"

namespace nc::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string reason_for(const fs::path& path, const ReadLimits& limits = {}) {
  try {
    read_image(path, limits);
  } catch (const ImageError& e) {
    EXPECT_EQ(e.path(), path.string());
    return e.reason();
  }
  return "";
}

std::string header_reason_for(const fs::path& path, const ReadLimits& limits = {}) {
  try {
    read_image_header(path, limits);
  } catch (const ImageError& e) {
    return e.reason();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

ReadLimits confined_to(const fs::path& folder) {
  ReadLimits limits;
  limits.confine_to = folder;
  return limits;
}

const std::string kMetaHeader =
    "ObjectType = Image\nNDims = 3\nDimSize = 8 8 8\nElementSpacing = 1 1 1\n"
    "ElementType = MET_SHORT\n";

// Regression: this header reached a printf-style format inside ITK's MetaIO and crashed the
// process (SIGSEGV); `check` called it ok.
TEST(HostileImage, MetaImageFileNamePatternIsRefusedBeforeItk) {
  TempDir dir;
  write_text(dir / "p.mhd", kMetaHeader + "ElementDataFile = /proc/self/%s 1 100 1\n");
  EXPECT_TRUE(contains(header_reason_for(dir / "p.mhd"), "file-name pattern")) << header_reason_for(dir / "p.mhd");
  EXPECT_TRUE(contains(reason_for(dir / "p.mhd"), "file-name pattern"));
  write_text(dir / "q.nhdr",
             "NRRD0004\ntype: short\ndimension: 3\nsizes: 8 8 8\nendian: little\nencoding: raw\n"
             "data file: slice%03d.raw 1 8 1 2\n");
  EXPECT_TRUE(contains(header_reason_for(dir / "q.nhdr"), "file-name pattern"));
}

// Regression: a raw file shorter than the header implies read as an `ok` scan.
TEST(HostileImage, TruncatedDetachedRawDataIsRefused) {
  TempDir dir;
  write_text(dir / "t.mhd", kMetaHeader + "ElementDataFile = t.raw\n");
  write_text(dir / "t.raw", std::string(500, '\1'));
  EXPECT_TRUE(contains(reason_for(dir / "t.mhd"), "truncated voxel data: the header implies 1024 bytes"))
      << reason_for(dir / "t.mhd");
  write_text(dir / "t.raw", std::string(1024, '\1'));
  EXPECT_EQ(reason_for(dir / "t.mhd"), "");
  write_text(dir / "n.nhdr",
             "NRRD0004\ntype: short\ndimension: 3\nsizes: 8 8 8\nendian: little\nencoding: raw\ndata file: t.raw\n");
  EXPECT_EQ(reason_for(dir / "n.nhdr"), "");
  fs::resize_file(dir / "t.raw", 1000);
  EXPECT_TRUE(contains(reason_for(dir / "n.nhdr"), "truncated voxel data"));
}

// Regression: garbage in the compressed data of an MHA read as an `ok` scan (ITK printed
// "data not read completely" and went on).
TEST(HostileImage, CorruptCompressedMetaImageIsRefused) {
  TempDir dir;
  test::register_test_io();
  auto writer = itk::ImageFileWriter<itk::Image<float, 3>>::New();
  writer->SetFileName((dir / "c.mha").string());
  writer->SetInput(test::to_itk(test::indexed_volume({32, 32, 32})));
  writer->SetUseCompression(true);
  writer->Update();
  ASSERT_EQ(reason_for(dir / "c.mha"), "");
  const auto size = fs::file_size(dir / "c.mha");
  std::fstream f(dir / "c.mha", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(size - size / 3));
  f.write("garbage-garbage-garbage", 23);
  f.close();
  EXPECT_TRUE(contains(reason_for(dir / "c.mha"), "compressed voxel data")) << reason_for(dir / "c.mha");
  fs::resize_file(dir / "c.mha", size - 40);
  EXPECT_TRUE(contains(reason_for(dir / "c.mha"), "compressed voxel data")) << reason_for(dir / "c.mha");
}

// Regression: bytes flipped in the middle of a .nii.gz (gzip -t: CRC error) gave an ICV of
// 3329 mL instead of 1500 and exit 0: the reader stopped before the gzip trailer.
TEST(HostileImage, FlippedBytesInNiftiGzipAreACrcError) {
  TempDir dir;
  ImageVolume v = test::indexed_volume({64, 64, 64});
  for (std::size_t n = 0; n < v.voxels.size(); ++n) v.voxels[n] = float((n * 2654435761u) % 3000);
  write_nifti(v, dir / "v.nii.gz");
  ASSERT_EQ(reason_for(dir / "v.nii.gz"), "");
  const auto size = fs::file_size(dir / "v.nii.gz");
  int refused = 0;
  for (const double where : {0.3, 0.5, 0.7, 0.9}) {  // several places: any flip must be caught
    fs::copy_file(dir / "v.nii.gz", dir / "f.nii.gz", fs::copy_options::overwrite_existing);
    std::fstream f(dir / "f.nii.gz", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(double(size) * where));
    char byte = 0;
    f.read(&byte, 1);
    f.seekp(std::streamoff(double(size) * where));
    byte = char(byte ^ 0x5a);
    f.write(&byte, 1);
    f.close();
    refused += !reason_for(dir / "f.nii.gz").empty();
  }
  EXPECT_EQ(refused, 4);
}

// Regression: a vox_offset pointing past the real start shifted every voxel; trailing data and
// a header that promises more than the file holds are refused as well.
TEST(HostileImage, NiftiDataMustBeExactlyWhatTheHeaderImplies) {
  TempDir dir;
  write_nifti(test::indexed_volume({16, 16, 16}), dir / "v.nii");
  fs::copy_file(dir / "v.nii", dir / "off.nii");
  {
    std::fstream f(dir / "off.nii", std::ios::in | std::ios::out | std::ios::binary);
    const float vox_offset = 400;
    f.seekp(108);
    f.write(reinterpret_cast<const char*>(&vox_offset), 4);
  }
  EXPECT_TRUE(contains(reason_for(dir / "off.nii"), "truncated or corrupt voxel data")) << reason_for(dir / "off.nii");
  fs::copy_file(dir / "v.nii", dir / "long.nii");
  std::ofstream(dir / "long.nii", std::ios::app | std::ios::binary) << std::string(64, 'x');
  EXPECT_TRUE(contains(reason_for(dir / "long.nii"), "more data than its header implies"));
  EXPECT_TRUE(contains(header_reason_for(dir / "long.nii"), "more data than its header implies"));
}

// Regression: a 416-byte .nii claiming 1000³ int16 voxels took 4.1 GB before its error.
TEST(HostileImage, SmallFileClaimingHugeDataFailsBeforeAllocating) {
  TempDir dir;
  write_nifti(Volume<std::int16_t>(test::cube(4)), dir / "s.nii");
  {
    std::fstream f(dir / "s.nii", std::ios::in | std::ios::out | std::ios::binary);
    const std::int16_t dims[3] = {1000, 1000, 1000};
    f.seekp(42);
    f.write(reinterpret_cast<const char*>(dims), sizeof dims);
  }
  ReadLimits generous;
  generous.max_voxels = std::int64_t{2} << 30;
  EXPECT_TRUE(contains(reason_for(dir / "s.nii", generous), "the header implies 2000000352 bytes"))
      << reason_for(dir / "s.nii", generous);
  // The same claim in a gzip stream of a few hundred bytes: no deflate stream expands that far.
  write_nifti(Volume<std::int16_t>(test::cube(4)), dir / "g.nii");
  {
    std::fstream f(dir / "g.nii", std::ios::in | std::ios::out | std::ios::binary);
    const std::int16_t dims[3] = {1000, 1000, 1000};
    f.seekp(42);
    f.write(reinterpret_cast<const char*>(dims), sizeof dims);
  }
  ASSERT_EQ(std::system(("gzip -kf " + (dir / "g.nii").string()).c_str()), 0);
  EXPECT_TRUE(contains(reason_for(dir / "g.nii.gz", generous), "more than")) << reason_for(dir / "g.nii.gz", generous);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  EXPECT_LT(usage.ru_maxrss, 512 * 1024) << "peak resident KiB";
}

// Regression: ITK turns pixdim 0 or NaN into 1 mm; a micrometre voxel read as a real scan.
TEST(HostileImage, VoxelSizeMustBeStatedAndPlausible) {
  TempDir dir;
  for (const float pixdim : {0.0f, std::nanf(""), -1.0f, 1e-6f}) {
    write_nifti(test::indexed_volume({8, 8, 8}), dir / "p.nii");
    std::fstream f(dir / "p.nii", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(76 + 2 * 4);  // pixdim[2]
    f.write(reinterpret_cast<const char*>(&pixdim), 4);
    f.close();
    const std::string reason = header_reason_for(dir / "p.nii");
    EXPECT_TRUE(contains(reason, "pixdim[2]") || contains(reason, "invalid voxel spacing")) << pixdim << ": " << reason;
    EXPECT_FALSE(contains(reason, "constant")) << reason;
  }
}

TEST(HostileImage, ZeroDimensionIsNamedAsSuch) {
  TempDir dir;
  write_nifti(test::indexed_volume({4, 4, 4}), dir / "z.nii");
  std::fstream f(dir / "z.nii", std::ios::in | std::ios::out | std::ios::binary);
  const std::int16_t zero = 0;
  f.seekp(44);  // dim[2]
  f.write(reinterpret_cast<const char*>(&zero), 2);
  f.close();
  const std::string reason = header_reason_for(dir / "z.nii");
  EXPECT_TRUE(contains(reason, "zero size") || contains(reason, "unreadable")) << reason;
  EXPECT_FALSE(contains(reason, "single slice")) << reason;
}

// Regression: a qform and an sform 10 mm apart were used without a word.
TEST(HostileImage, ContradictoryQformAndSformAreReported) {
  TempDir dir;
  write_nifti(test::indexed_volume({8, 8, 8}), dir / "q.nii");
  {
    std::fstream f(dir / "q.nii", std::ios::in | std::ios::out | std::ios::binary);
    const std::int16_t codes[2] = {1, 1};  // qform_code, sform_code at 252
    f.seekp(252);
    f.write(reinterpret_cast<const char*>(codes), sizeof codes);
    float srow_x[4] = {};
    f.seekg(280);
    f.read(reinterpret_cast<char*>(srow_x), sizeof srow_x);
    srow_x[3] += 10.0f;  // the sform's x offset, 10 mm from the qform's
    f.seekp(280);
    f.write(reinterpret_cast<const char*>(srow_x), sizeof srow_x);
  }
  std::ostringstream log;
  const auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  EXPECT_EQ(header_reason_for(dir / "q.nii"), "");
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_TRUE(contains(log.str(), "qform and sform disagree (by up to 10.0 mm)")) << log.str();
}

// Regression: detached data files named any file on the machine, without --allow-external-paths.
TEST(HostileImage, DetachedDataFilesObeyTheManifestFolder) {
  TempDir outside, dir;
  fs::create_directories(dir / "cohort");
  write_text(outside / "secret.raw", std::string(1024, '\7'));
  const auto limits = confined_to(dir / "cohort");
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"abs.mhd", kMetaHeader + "ElementDataFile = " + (outside / "secret.raw").string() + "\n"},
      {"rel.mhd", kMetaHeader + "ElementDataFile = ../../" + outside.path().filename().string() + "/secret.raw\n"},
      {"list.mhd", kMetaHeader + "ElementDataFile = LIST\n" + (outside / "secret.raw").string() + "\n"},
      {"n.nhdr", "NRRD0004\ntype: short\ndimension: 3\nsizes: 8 8 8\nendian: little\nencoding: raw\ndata file: " +
                     (outside / "secret.raw").string() + "\n"},
  };
  for (const auto& [name, text] : headers) {
    write_text(dir / "cohort" / name, text);
    EXPECT_TRUE(contains(header_reason_for(dir / "cohort" / name, limits), "outside the manifest's folder"))
        << name << ": " << header_reason_for(dir / "cohort" / name, limits);
    EXPECT_EQ(header_reason_for(dir / "cohort" / name), "") << name << " is fine when paths may leave the folder";
  }
  write_text(dir / "cohort" / "dev.mhd", kMetaHeader + "ElementDataFile = /dev/zero\n");
  EXPECT_TRUE(contains(header_reason_for(dir / "cohort" / "dev.mhd"), "not a regular file"));
}

// Regression: the containment check was lexical, so a symlink inside the folder escaped it.
TEST(HostileImage, SymlinksAreResolvedBeforeTheFolderRule) {
  TempDir outside, dir;
  write_nifti(test::indexed_volume({8, 8, 8}), outside / "real.nii");
  fs::create_symlink(outside / "real.nii", dir / "link.nii");
  EXPECT_TRUE(contains(header_reason_for(dir / "link.nii", confined_to(dir.path())), "outside the manifest's folder"));
  EXPECT_EQ(header_reason_for(dir / "link.nii"), "");
  fs::copy_file(outside / "real.nii", dir / "inside.nii");
  fs::create_symlink(dir / "inside.nii", dir / "inner_link.nii");
  EXPECT_EQ(header_reason_for(dir / "inner_link.nii", confined_to(dir.path())), "");
}

// Regression: a FIFO hung `check` and `run` forever, single-process and under MPI.
TEST(HostileImage, FifoIsRefusedWithoutOpeningIt) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe.nii").c_str(), 0600), 0);
  EXPECT_TRUE(contains(header_reason_for(dir / "pipe.nii"), "not a regular file"));
  EXPECT_TRUE(contains(reason_for(dir / "pipe.nii"), "not a regular file"));
  // a DICOM series folder holding one
  fs::create_directories(dir / "series");
  ASSERT_EQ(::mkfifo((dir / "series" / "IM0001").c_str(), 0600), 0);
  EXPECT_TRUE(contains(header_reason_for(dir / "series"), "not a regular file"));
}

}  // namespace
}  // namespace nc::io
