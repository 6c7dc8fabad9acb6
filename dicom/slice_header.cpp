#include "dicom/slice_header.hpp"

#include <dcmtk/config/osconfig.h>  // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/text.hpp"
#include "dicom/dcmtk_setup.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

DcmTagKey key(Tag t) { return DcmTagKey(t.group, t.element); }

// A text element's value (all of it, backslashes included) without padding; empty when absent.
std::string text_value(DcmItem& ds, const DcmTagKey& tag) {
  OFString value;
  if (ds.findAndGetOFStringArray(tag, value).bad()) return {};
  std::string text(value.c_str(), value.length());
  // Text values are padded with spaces (UIDs with NUL) to an even length.
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return trim(text, " ");
}

std::optional<double> parse_decimal(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || end != t.data() + t.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

// A multi-valued decimal string (DS) with exactly N finite values.
template <std::size_t N>
std::optional<std::array<double, N>> decimals(DcmItem& ds, const DcmTagKey& tag) {
  const std::string text = text_value(ds, tag);
  if (text.empty()) return std::nullopt;
  const auto parts = split(text, '\\');
  if (parts.size() != N) return std::nullopt;
  std::array<double, N> out{};
  for (std::size_t n = 0; n < N; ++n) {
    const auto v = parse_decimal(parts[n]);
    if (!v) return std::nullopt;
    out[n] = *v;
  }
  return out;
}

std::optional<double> decimal(DcmItem& ds, const DcmTagKey& tag) {
  const auto v = decimals<1>(ds, tag);
  return v ? std::optional<double>((*v)[0]) : std::nullopt;
}

std::optional<int> integer_string(DcmItem& ds, const DcmTagKey& tag) {
  const auto v = decimal(ds, tag);
  if (!v || std::abs(*v) > 1e9 || *v != std::floor(*v)) return std::nullopt;
  return int(*v);
}

// An unsigned short (US); DCMTK checks the VR and the value's length.
std::optional<int> unsigned_short(DcmItem& ds, const DcmTagKey& tag) {
  Uint16 value = 0;
  if (ds.findAndGetUint16(tag, value).bad()) return std::nullopt;
  return int(value);
}

std::vector<std::string> code_strings(DcmItem& ds, const DcmTagKey& tag) {
  std::vector<std::string> out;
  for (const auto& part : split(text_value(ds, tag), '\\')) out.push_back(uppercase(trim(part)));
  return out;
}

std::uintmax_t size_of(const fs::path& path) {
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  return ec ? 0 : bytes;
}

// The pixel data a plain (not encapsulated) transfer syntax implies, or 0 when unknown.
std::uint64_t expected_pixel_bytes(const SliceHeader& h) {
  if (h.rows <= 0 || h.columns <= 0 || h.bits_allocated <= 0 || h.frames <= 0) return 0;
  return std::uint64_t(h.rows) * std::uint64_t(h.columns) * std::uint64_t(h.frames) *
         std::uint64_t(std::max(h.samples_per_pixel, 1)) * std::uint64_t(h.bits_allocated) / 8;
}

SliceHeader header_of(const fs::path& path, DcmItem& ds, Tag site_tag) {
  SliceHeader h;
  h.path = path;
  h.sop_class_uid = text_value(ds, DcmTagKey(0x0008, 0x0016));
  h.sop_uid = text_value(ds, DcmTagKey(0x0008, 0x0018));
  h.study_uid = text_value(ds, DcmTagKey(0x0020, 0x000d));
  h.series_uid = text_value(ds, DcmTagKey(0x0020, 0x000e));
  h.modality = uppercase(text_value(ds, DcmTagKey(0x0008, 0x0060)));
  h.image_type = code_strings(ds, DcmTagKey(0x0008, 0x0008));
  h.series_description = text_value(ds, DcmTagKey(0x0008, 0x103e));
  h.convolution_kernel = text_value(ds, DcmTagKey(0x0018, 0x1210));
  h.mr_acquisition_type = uppercase(text_value(ds, DcmTagKey(0x0018, 0x0023)));
  h.scanning_sequence = uppercase(text_value(ds, DcmTagKey(0x0018, 0x0020)));
  h.repetition_time_ms = decimal(ds, DcmTagKey(0x0018, 0x0080));
  h.echo_time_ms = decimal(ds, DcmTagKey(0x0018, 0x0081));
  h.slice_thickness_mm = decimal(ds, DcmTagKey(0x0018, 0x0050));
  h.gantry_tilt_degrees = decimal(ds, DcmTagKey(0x0018, 0x1120));
  h.series_number = integer_string(ds, DcmTagKey(0x0020, 0x0011));
  h.instance_number = integer_string(ds, DcmTagKey(0x0020, 0x0013));
  h.rows = unsigned_short(ds, DcmTagKey(0x0028, 0x0010)).value_or(0);
  h.columns = unsigned_short(ds, DcmTagKey(0x0028, 0x0011)).value_or(0);
  h.samples_per_pixel = unsigned_short(ds, DcmTagKey(0x0028, 0x0002)).value_or(1);
  h.bits_allocated = unsigned_short(ds, DcmTagKey(0x0028, 0x0100)).value_or(0);
  h.frames = integer_string(ds, DcmTagKey(0x0028, 0x0008)).value_or(1);
  h.pixel_spacing_mm = decimals<2>(ds, DcmTagKey(0x0028, 0x0030));
  h.orientation = decimals<6>(ds, DcmTagKey(0x0020, 0x0037));
  h.position_mm = decimals<3>(ds, DcmTagKey(0x0020, 0x0032));
  h.patient_sex = uppercase(text_value(ds, DcmTagKey(0x0010, 0x0040)));
  h.patient_age = uppercase(text_value(ds, DcmTagKey(0x0010, 0x1010)));
  h.birth_date = text_value(ds, DcmTagKey(0x0010, 0x0030));
  h.study_date = text_value(ds, DcmTagKey(0x0008, 0x0020));
  h.site = text_value(ds, key(site_tag));
  h.patient_id = text_value(ds, DcmTagKey(0x0010, 0x0020));
  return h;
}

}  // namespace

Tag parse_tag(const std::string& text) {
  std::string t = trim(text);
  if (t.size() >= 2 && t.front() == '(' && t.back() == ')') t = t.substr(1, t.size() - 2);
  if (t.size() == 9 && t[4] == ',') {
    unsigned group = 0, element = 0;
    const auto g = std::from_chars(t.data(), t.data() + 4, group, 16);
    const auto e = std::from_chars(t.data() + 5, t.data() + 9, element, 16);
    if (g.ec == std::errc() && g.ptr == t.data() + 4 && e.ec == std::errc() && e.ptr == t.data() + 9)
      return {std::uint16_t(group), std::uint16_t(element)};
  }
  if (!t.empty()) {
    const DcmDataDictionary& dictionary = dcmDataDict.rdlock();
    const DcmDictEntry* entry = dictionary.findEntry(t.c_str());
    const Tag found = entry ? Tag{entry->getGroup(), entry->getElement()} : Tag{};
    dcmDataDict.rdunlock();
    if (entry) return found;
  }
  throw UsageError("'" + text + "' is neither a DICOM tag (GGGG,EEEE) nor a keyword of the DICOM dictionary");
}

std::variant<SliceHeader, SkippedFile> read_slice_header(const fs::path& path, Tag site_tag) {
  initialise_dcmtk();
  DcmFileFormat file;
  // Part 10 files only (preamble, "DICM", meta header), read up to the pixel data, never into it.
  const OFCondition read =
      file.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_fileOnly, DCM_PixelData);
  if (read.bad()) return SkippedFile{path, std::string("not a DICOM file (") + read.text() + ")"};
  OFString storage;
  file.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, storage);
  if (storage == UID_MediaStorageDirectoryStorage)
    return SkippedFile{path, "a DICOMDIR directory record (the files it lists are indexed directly)"};
  DcmDataset& ds = *file.getDataset();
  const DcmXfer syntax(ds.getOriginalXfer());
  if (syntax.isBigEndian()) return SkippedFile{path, "retired big-endian transfer syntax"};
  SliceHeader h = header_of(path, ds, site_tag);
  if (h.series_uid.empty() || h.study_uid.empty()) return SkippedFile{path, "no StudyInstanceUID or SeriesInstanceUID"};
  // The header's encoded size (explicit lengths: never more than the file holds) against the file:
  // what remains after the pixel data element's own header (12 bytes in explicit VR, 8 in
  // implicit) must hold the pixel data the header announces.
  const std::uint64_t file_bytes = size_of(path);
  // (The meta header's length includes the 128-byte preamble and "DICM".)
  const std::uint64_t header_bytes =
      file.getMetaInfo()->calcElementLength(EXS_LittleEndianExplicit, EET_ExplicitLength) +
      ds.calcElementLength(ds.getOriginalXfer(), EET_ExplicitLength) + (syntax.isExplicitVR() ? 12 : 8);
  if (header_bytes > file_bytes)
    return SkippedFile{path,
                       "holds no pixel data (" + (h.modality.empty() ? std::string("no modality") : h.modality) + ")"};
  if (!syntax.isEncapsulated()) {
    const std::uint64_t pixels = expected_pixel_bytes(h);
    const std::uint64_t available = file_bytes - header_bytes;
    if (pixels > 0 && available < pixels)
      return SkippedFile{path, "truncated: " + std::to_string(available) +
                                   " bytes after the header, the pixel data needs " + std::to_string(pixels)};
  }
  return h;
}

std::string read_series_uid(const fs::path& path) {
  initialise_dcmtk();
  DcmFileFormat file;
  if (file.loadFileUntilTag(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_fileOnly,
                            DcmTagKey(0x0020, 0x000f))
          .bad())
    return {};
  return text_value(*file.getDataset(), DCM_SeriesInstanceUID);
}

}  // namespace nc::dicom
