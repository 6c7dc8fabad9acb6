#include "io/nifti_voxels.hpp"

#include <nifti1_io.h>
#include <spdlog/spdlog.h>
#include <tbb/parallel_for.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/huge_pages.hpp"
#include "io/deflate_codec.hpp"
#include "io/label_values.hpp"

namespace nc::io::detail {
namespace {

namespace fs = std::filesystem;

struct NiftiFree {
  void operator()(nifti_image* p) const { nifti_image_free(p); }
};
struct GzClose {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

template <typename T>
void convert(const unsigned char* raw, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

// Converts `n` stored values of `datatype` to float; returns false for unsupported types.
bool convert_to_float(int datatype, const unsigned char* raw, std::size_t n, float* out) {
  // clang-format off
  switch (datatype) {
    case NIFTI_TYPE_UINT8: convert<std::uint8_t>(raw, n, out); return true;
    case NIFTI_TYPE_INT8: convert<std::int8_t>(raw, n, out); return true;
    case NIFTI_TYPE_INT16: convert<std::int16_t>(raw, n, out); return true;
    case NIFTI_TYPE_UINT16: convert<std::uint16_t>(raw, n, out); return true;
    case NIFTI_TYPE_INT32: convert<std::int32_t>(raw, n, out); return true;
    case NIFTI_TYPE_UINT32: convert<std::uint32_t>(raw, n, out); return true;
    case NIFTI_TYPE_INT64: convert<std::int64_t>(raw, n, out); return true;
    case NIFTI_TYPE_UINT64: convert<std::uint64_t>(raw, n, out); return true;
    case NIFTI_TYPE_FLOAT32: convert<float>(raw, n, out); return true;
    case NIFTI_TYPE_FLOAT64: convert<double>(raw, n, out); return true;
    default: return false;
  }
  // clang-format on
}

// Byte-swaps (when the file's order is not ours) and converts `count` stored values to float.
void store_as_float(const fs::path& path, const nifti_image& header, unsigned char* raw, std::size_t count,
                    float* out) {
  if (header.byteorder != nifti_short_order() && header.swapsize > 1)
    nifti_swap_Nbytes(count * std::size_t(header.nbyper) / std::size_t(header.swapsize), header.swapsize, raw);
  if (!convert_to_float(header.datatype, raw, count, out))
    throw ImageError(path.string(),
                     std::string("unsupported NIfTI datatype ") + nifti_datatype_string(header.datatype));
}

}  // namespace

bool is_nifti_path(const fs::path& path) {
  std::string name = path.filename().string();
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
  const auto ext = fs::path(name).extension();
  return ext == ".nii" || ext == ".hdr" || ext == ".img";
}

namespace {

// The voxel bytes through zlib's streaming reader, chunk by chunk. The fallback for what the
// fast path declines (trailing data, damage): its errors say how many voxels were readable.
void read_voxels_streaming(const fs::path& path, const nifti_image& header, float* voxels) {
  const std::size_t n = header.nvox, bytes_per_voxel = std::size_t(header.nbyper);
  // gzopen reads plain files too, so one path serves .nii and .nii.gz.
  const std::unique_ptr<gzFile_s, GzClose> file(gzopen(header.iname, "rb"));
  if (!file) throw ImageError(path.string(), std::string("cannot open the data file ") + header.iname);
  gzbuffer(file.get(), 1 << 17);
  if (gzseek(file.get(), header.iname_offset, SEEK_SET) != header.iname_offset)
    throw ImageError(path.string(), "truncated before the voxel data");
  std::vector<unsigned char> chunk;
  constexpr std::size_t kChunkVoxels = std::size_t{1} << 20;
  for (std::size_t done = 0; done < n;) {
    const std::size_t count = std::min(kChunkVoxels, n - done);
    chunk.resize(count * bytes_per_voxel);
    const int got = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0 || std::size_t(got) != chunk.size()) {
      int zerr = Z_OK;
      const char* message = gzerror(file.get(), &zerr);
      throw ImageError(path.string(), "truncated or corrupt voxel data (" +
                                          std::to_string(done + std::size_t(std::max(got, 0)) / bytes_per_voxel) +
                                          " of " + std::to_string(n) + " voxels readable" +
                                          (zerr != Z_OK && message ? std::string(": ") + message : std::string()) +
                                          ")");
    }
    store_as_float(path, header, chunk.data(), count, voxels + done);
    done += count;
  }
  // To the end of the stream: zlib checks each gzip member's CRC and length only there, and
  // data past the voxels means the header (vox_offset, dim) does not describe the file.
  const int extra = gzread(file.get(), chunk.data(), static_cast<unsigned>(std::min<std::size_t>(chunk.size(), 4096)));
  int zerr = Z_OK;
  const char* message = gzerror(file.get(), &zerr);
  if (extra < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
    throw ImageError(path.string(),
                     std::string("corrupt compressed data (") + (message ? message : "zlib error") + ")");
  if (extra > 0)
    throw ImageError(path.string(), "holds more data than its header implies (a wrong vox_offset or dim?)");
}

// The bytes of a file in one read into a buffer of its size (an istreambuf_iterator copy went
// byte by byte and regrew its buffer two dozen times for a 60 MB CT); empty when unreadable.
std::vector<unsigned char> whole_file(const char* path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const std::streamoff size = in.tellg();
  if (size <= 0) return {};
  std::vector<unsigned char> bytes = large_vector<unsigned char>(std::size_t(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  return in.gcount() == size ? bytes : std::vector<unsigned char>();
}

// The whole data file in memory, inflated in one go when it is gzip (deflate_codec.hpp:
// libdeflate where built, 2–3× zlib's speed): member after member (neurocohort's own writer
// makes one per block) until the voxels are complete. Empty when the file is not exactly that:
// the caller then streams with zlib, which names what is wrong.
std::vector<unsigned char> read_voxel_bytes_fast(const nifti_image& header) {
  const std::size_t wanted = std::size_t(header.iname_offset) + header.nvox * std::size_t(header.nbyper);
  std::vector<unsigned char> file = whole_file(header.iname);
  const bool gzip = file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b;
  if (!gzip) return file.size() == wanted ? file : std::vector<unsigned char>();
  std::vector<unsigned char> out = large_vector<unsigned char>(wanted);
  // Exactly the voxels, and every member consumed (so every CRC was checked).
  return Inflater().gzip_members_exact(file, out) ? out : std::vector<unsigned char>();
}

// Compares what the header implies with what the file can hold, before any voxel memory is
// allocated: a 416-byte file must not cost gigabytes before its error.
void require_plausible_size(const fs::path& path, const nifti_image& header) {
  if (header.iname_offset < 0 || header.nbyper <= 0)
    throw ImageError(path.string(), "has a negative vox_offset or an unknown voxel size (" +
                                        std::to_string(header.iname_offset) + ", " + std::to_string(header.nbyper) +
                                        " bytes)");
  const double data = double(header.nvox) * double(header.nbyper), offset = double(header.iname_offset);
  std::error_code ec;
  const double size = double(fs::file_size(header.iname, ec));
  if (ec) throw ImageError(path.string(), std::string("cannot read the size of ") + header.iname);
  std::ifstream in(header.iname, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  const bool gzip = in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  char why[256];
  if (!gzip && size != offset + data) {
    std::snprintf(why, sizeof why,
                  "%s: the header implies %.0f bytes (vox_offset %.0f + %.0f of voxels), the file holds %.0f",
                  size < offset + data ? "truncated or corrupt voxel data" : "holds more data than its header implies",
                  offset + data, offset, data, size);
    throw ImageError(path.string(), why);
  }
  // Deflate cannot expand beyond 1032:1.
  constexpr double kMaxDeflateRatio = 1032;
  if (gzip && (offset + data) > size * kMaxDeflateRatio + 1024) {
    std::snprintf(why, sizeof why,
                  "truncated voxel data: the header implies %.0f bytes, more than %.0f compressed bytes can hold",
                  offset + data, size);
    throw ImageError(path.string(), why);
  }
}

// The stored dim[1..3] and pixdim[1..3] of a NIfTI-1 or NIfTI-2 header, as written: nifticlib
// (and with it ITK) silently replaces a zero or non-finite pixdim with 1 mm and a zero dim with 1.
struct RawGrid {
  double dim[3] = {0, 0, 0};
  double pixdim[3] = {0, 0, 0};
};

template <typename T>
T field_at(const unsigned char* header, std::size_t offset, bool swapped) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, header + offset, sizeof(T));
  if (swapped) std::reverse(bytes, bytes + sizeof(T));
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

std::optional<RawGrid> read_raw_grid(const fs::path& path) {
  const std::unique_ptr<gzFile_s, GzClose> file(gzopen(path.c_str(), "rb"));
  if (!file) return std::nullopt;
  unsigned char header[540] = {};
  const int got = gzread(file.get(), header, sizeof header);
  if (got < 348) return std::nullopt;
  std::int32_t size = 0;
  std::memcpy(&size, header, 4);
  const bool swapped = size != 348 && size != 540;
  if (swapped) size = field_at<std::int32_t>(header, 0, true);
  RawGrid grid;
  if (size == 348) {  // NIfTI-1: int16 dim[8] at 40, float pixdim[8] at 76
    for (int a = 0; a < 3; ++a) {
      grid.dim[a] = field_at<std::int16_t>(header, 42 + 2 * std::size_t(a), swapped);
      grid.pixdim[a] = field_at<float>(header, 80 + 4 * std::size_t(a), swapped);
    }
  } else if (size == 540 && got == 540) {  // NIfTI-2: int64 dim[8] at 16, double pixdim[8] at 104
    for (int a = 0; a < 3; ++a) {
      grid.dim[a] = double(field_at<std::int64_t>(header, 24 + 8 * std::size_t(a), swapped));
      grid.pixdim[a] = field_at<double>(header, 112 + 8 * std::size_t(a), swapped);
    }
  } else {
    return std::nullopt;
  }
  return grid;
}

}  // namespace

void validate_nifti_header(const fs::path& path) {
  if (const auto grid = read_raw_grid(path)) {
    for (int a = 0; a < 3; ++a) {
      if (!(grid->dim[a] > 0))
        throw ImageError(path.string(), "has zero size along axis " + std::to_string(a) + " (dim[" +
                                            std::to_string(a + 1) +
                                            "] = " + std::to_string(std::int64_t(grid->dim[a])) + ")");
      if (!std::isfinite(grid->pixdim[a]) || grid->pixdim[a] <= 0)
        throw ImageError(path.string(), "pixdim[" + std::to_string(a + 1) + "] is " + std::to_string(grid->pixdim[a]) +
                                            ": the header does not give the voxel size");
    }
  }
  const std::unique_ptr<nifti_image, NiftiFree> nim(nifti_image_read(path.c_str(), 0));
  if (!nim) throw ImageError(path.string(), "unreadable NIfTI header");
  if (nim->qform_code > 0 && nim->sform_code > 0) {
    float largest = 0;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) largest = std::max(largest, std::abs(nim->qto_xyz.m[r][c] - nim->sto_xyz.m[r][c]));
    if (largest > 0.5f)
      spdlog::warn("{}: qform and sform disagree (by up to {:.1f} mm); the geometry follows ITK's choice of the two",
                   path.string(), largest);
  }
}

void require_nifti_data_size(const fs::path& path) {
  const std::unique_ptr<nifti_image, NiftiFree> nim(nifti_image_read(path.c_str(), 0));
  if (!nim) throw ImageError(path.string(), "unreadable NIfTI header");
  require_plausible_size(path, *nim);
}

namespace {

// NIfTI: a zero or non-finite slope means "no scaling", and so do slope 1 with no intercept.
bool scales_values(const nifti_image& header) {
  const float slope = header.scl_slope, intercept = header.scl_inter;
  return std::isfinite(slope) && slope != 0.0f && (slope != 1.0f || (std::isfinite(intercept) && intercept != 0.0f));
}

}  // namespace

std::vector<float> read_nifti_voxels(const fs::path& path, std::int64_t expected_voxels) {
  const std::unique_ptr<nifti_image, NiftiFree> header(nifti_image_read(path.c_str(), 0));
  if (!header) throw ImageError(path.string(), "unreadable NIfTI header");
  if (static_cast<std::int64_t>(header->nvox) != expected_voxels)
    throw ImageError(path.string(), "NIfTI header holds " + std::to_string(header->nvox) + " voxels, expected " +
                                        std::to_string(expected_voxels));
  const std::size_t n = header->nvox;
  require_plausible_size(path, *header);
  std::vector<unsigned char> bytes = read_voxel_bytes_fast(*header);
  std::vector<float> voxels = large_vector<float>(n);
  if (bytes.empty()) {
    read_voxels_streaming(path, *header, voxels.data());
  } else {
    constexpr std::size_t kBlock = std::size_t{1} << 20;
    unsigned char* raw = bytes.data() + header->iname_offset;
    tbb::parallel_for(std::size_t{0}, (n + kBlock - 1) / kBlock, [&](std::size_t b) {
      const std::size_t first = b * kBlock, count = std::min(kBlock, n - first);
      store_as_float(path, *header, raw + first * std::size_t(header->nbyper), count, voxels.data() + first);
    });
  }

  std::size_t non_finite = 0, first = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(voxels[i]) && non_finite++ == 0) first = i;
  if (non_finite > 0)
    throw ImageError(path.string(), "contains " + std::to_string(non_finite) +
                                        " NaN or infinite voxels (first at voxel " + std::to_string(first) + ")");

  if (scales_values(*header)) {
    const float slope = header->scl_slope, intercept = header->scl_inter;
    const float offset = std::isfinite(intercept) ? intercept : 0.0f;
    for (float& v : voxels) v = v * slope + offset;
  }
  return voxels;
}

std::optional<std::vector<std::uint16_t>> read_nifti_labels(const fs::path& path, std::int64_t expected_voxels) {
  const std::unique_ptr<nifti_image, NiftiFree> header(nifti_image_read(path.c_str(), 0));
  if (!header) throw ImageError(path.string(), "unreadable NIfTI header");
  if (static_cast<std::int64_t>(header->nvox) != expected_voxels || scales_values(*header)) return std::nullopt;
  const int type = header->datatype;
  const bool integer = type == NIFTI_TYPE_UINT8 || type == NIFTI_TYPE_INT8 || type == NIFTI_TYPE_INT16 ||
                       type == NIFTI_TYPE_UINT16 || type == NIFTI_TYPE_INT32 || type == NIFTI_TYPE_UINT32;
  if (!integer) return std::nullopt;
  require_plausible_size(path, *header);
  std::vector<unsigned char> bytes = read_voxel_bytes_fast(*header);
  if (bytes.empty()) return std::nullopt;
  const std::size_t n = header->nvox;
  unsigned char* raw = bytes.data() + header->iname_offset;
  if (header->byteorder != nifti_short_order() && header->swapsize > 1)
    nifti_swap_Nbytes(n * std::size_t(header->nbyper) / std::size_t(header->swapsize), header->swapsize, raw);
  std::vector<std::uint16_t> labels = large_vector<std::uint16_t>(n);
  const auto convert = [&](auto zero) {
    using T = decltype(zero);
    const auto value = [raw](std::size_t i) {
      T v;
      std::memcpy(&v, raw + i * sizeof(T), sizeof(T));
      return double(v);
    };
    return to_labels(n, value, labels.data());
  };
  std::optional<NotALabel> bad;
  // clang-format off
  switch (type) {
    case NIFTI_TYPE_UINT8: bad = convert(std::uint8_t{}); break;
    case NIFTI_TYPE_INT8: bad = convert(std::int8_t{}); break;
    case NIFTI_TYPE_INT16: bad = convert(std::int16_t{}); break;
    case NIFTI_TYPE_UINT16: bad = convert(std::uint16_t{}); break;
    case NIFTI_TYPE_INT32: bad = convert(std::int32_t{}); break;
    default: bad = convert(std::uint32_t{}); break;
  }
  // clang-format on
  if (bad) throw ImageError(path.string(), not_a_label_reason(*bad));
  return labels;
}

namespace {

// Compresses one block as a complete gzip member (header, deflate stream, trailer).
std::vector<unsigned char> gzip_member(const unsigned char* data, std::size_t size, int level, const fs::path& target) {
  z_stream z{};
  constexpr int kGzipWindowBits = 15 + 16;  // +16: gzip wrapper, no file name, time stamp 0
  if (deflateInit2(&z, level, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw ImageError(target.string(), "zlib could not start compressing");
  std::vector<unsigned char> out(deflateBound(&z, uLong(size)));
  z.next_in = const_cast<unsigned char*>(data);
  z.avail_in = uInt(size);
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  const int status = deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (status != Z_STREAM_END) throw ImageError(target.string(), "zlib could not compress the data");
  return out;
}

}  // namespace

void gzip_file(const fs::path& source, const fs::path& target, int level) {
  if (!std::ifstream(source, std::ios::binary)) throw ImageError(source.string(), "cannot open for compression");
  const std::vector<unsigned char> data = whole_file(source.c_str());
  // Independent gzip members, compressed in parallel and concatenated: gzip readers (zlib's
  // gzread, Python's gzip, nibabel) read such a file as one stream.
  constexpr std::size_t kBlock = std::size_t{16} << 20;
  const std::size_t blocks = std::max<std::size_t>(1, (data.size() + kBlock - 1) / kBlock);
  std::vector<std::vector<unsigned char>> members(blocks);
  tbb::parallel_for(std::size_t{0}, blocks, [&](std::size_t b) {
    const std::size_t begin = b * kBlock;
    members[b] = gzip_member(data.data() + begin, std::min(kBlock, data.size() - begin), level, target);
  });
  std::ofstream out(target, std::ios::binary | std::ios::trunc);
  for (const auto& member : members)
    out.write(reinterpret_cast<const char*>(member.data()), std::streamsize(member.size()));
  out.close();
  if (!out) throw ImageError(target.string(), "writing the compressed file failed");
}

}  // namespace nc::io::detail
