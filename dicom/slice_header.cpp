#include "dicom/slice_header.hpp"

#include <gdcmDict.h>
#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmReader.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/text.hpp"

namespace nc::dicom {
namespace {

namespace fs = std::filesystem;

const gdcm::Tag kPixelData(0x7fe0, 0x0010);
constexpr const char* kDirectoryStorage = "1.2.840.10008.1.3.10";  // DICOMDIR

gdcm::Tag gdcm_tag(Tag t) { return gdcm::Tag(t.group, t.element); }

// The element's bytes, or empty when absent or without a value.
std::string raw_value(const gdcm::DataSet& ds, gdcm::Tag tag) {
  if (!ds.FindDataElement(tag)) return {};
  const gdcm::ByteValue* bytes = ds.GetDataElement(tag).GetByteValue();
  if (!bytes || !bytes->GetPointer()) return {};
  return std::string(bytes->GetPointer(), bytes->GetLength());
}

// Text VRs are padded with spaces (UIDs with NUL) to an even length.
std::string text_value(const gdcm::DataSet& ds, gdcm::Tag tag) {
  std::string value = raw_value(ds, tag);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.pop_back();
  std::size_t first = 0;
  while (first < value.size() && value[first] == ' ') ++first;
  return value.substr(first);
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
std::optional<std::array<double, N>> decimals(const gdcm::DataSet& ds, gdcm::Tag tag) {
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

std::optional<double> decimal(const gdcm::DataSet& ds, gdcm::Tag tag) {
  const auto v = decimals<1>(ds, tag);
  return v ? std::optional<double>((*v)[0]) : std::nullopt;
}

std::optional<int> integer_string(const gdcm::DataSet& ds, gdcm::Tag tag) {
  const auto v = decimal(ds, tag);
  if (!v || std::abs(*v) > 1e9 || *v != std::floor(*v)) return std::nullopt;
  return int(*v);
}

// An unsigned short (US), little endian: big-endian files are refused before this is read.
std::optional<int> unsigned_short(const gdcm::DataSet& ds, gdcm::Tag tag) {
  const std::string bytes = raw_value(ds, tag);
  if (bytes.size() < 2) return std::nullopt;
  return int(std::uint8_t(bytes[0])) | (int(std::uint8_t(bytes[1])) << 8);
}

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> code_strings(const gdcm::DataSet& ds, gdcm::Tag tag) {
  std::vector<std::string> out;
  for (const auto& part : split(text_value(ds, tag), '\\')) out.push_back(upper(trim(part)));
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

SliceHeader header_of(const fs::path& path, const gdcm::DataSet& ds, Tag site_tag) {
  SliceHeader h;
  h.path = path;
  h.sop_class_uid = text_value(ds, {0x0008, 0x0016});
  h.sop_uid = text_value(ds, {0x0008, 0x0018});
  h.study_uid = text_value(ds, {0x0020, 0x000d});
  h.series_uid = text_value(ds, {0x0020, 0x000e});
  h.modality = upper(text_value(ds, {0x0008, 0x0060}));
  h.image_type = code_strings(ds, {0x0008, 0x0008});
  h.series_description = text_value(ds, {0x0008, 0x103e});
  h.convolution_kernel = text_value(ds, {0x0018, 0x1210});
  h.mr_acquisition_type = upper(text_value(ds, {0x0018, 0x0023}));
  h.scanning_sequence = upper(text_value(ds, {0x0018, 0x0020}));
  h.repetition_time_ms = decimal(ds, {0x0018, 0x0080});
  h.echo_time_ms = decimal(ds, {0x0018, 0x0081});
  h.slice_thickness_mm = decimal(ds, {0x0018, 0x0050});
  h.gantry_tilt_degrees = decimal(ds, {0x0018, 0x1120});
  h.series_number = integer_string(ds, {0x0020, 0x0011});
  h.instance_number = integer_string(ds, {0x0020, 0x0013});
  h.rows = unsigned_short(ds, {0x0028, 0x0010}).value_or(0);
  h.columns = unsigned_short(ds, {0x0028, 0x0011}).value_or(0);
  h.samples_per_pixel = unsigned_short(ds, {0x0028, 0x0002}).value_or(1);
  h.bits_allocated = unsigned_short(ds, {0x0028, 0x0100}).value_or(0);
  h.frames = integer_string(ds, {0x0028, 0x0008}).value_or(1);
  h.pixel_spacing_mm = decimals<2>(ds, {0x0028, 0x0030});
  h.orientation = decimals<6>(ds, {0x0020, 0x0037});
  h.position_mm = decimals<3>(ds, {0x0020, 0x0032});
  h.patient_sex = upper(text_value(ds, {0x0010, 0x0040}));
  h.patient_age = upper(text_value(ds, {0x0010, 0x1010}));
  h.birth_date = text_value(ds, {0x0010, 0x0030});
  h.study_date = text_value(ds, {0x0008, 0x0020});
  h.site = text_value(ds, gdcm_tag(site_tag));
  h.patient_id = text_value(ds, {0x0010, 0x0020});
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
  gdcm::Tag found(0xffff, 0xffff);
  const gdcm::Dict& dict = gdcm::Global::GetInstance().GetDicts().GetPublicDict();
  dict.GetDictEntryByKeyword(t.c_str(), found);
  if (t.empty() || found == gdcm::Tag(0xffff, 0xffff))
    throw UsageError("'" + text + "' is neither a DICOM tag (GGGG,EEEE) nor a keyword of the DICOM dictionary");
  return {found.GetGroup(), found.GetElement()};
}

std::variant<SliceHeader, SkippedFile> read_slice_header(const fs::path& path, Tag site_tag) {
  gdcm::Reader reader;
  reader.SetFileName(path.string().c_str());
  // Skipping the pixel data stops the read at its element: the header only, whatever the file size.
  if (!reader.ReadUpToTag(kPixelData, {kPixelData})) return SkippedFile{path, "not a DICOM file"};
  const gdcm::File& file = reader.GetFile();
  if (file.GetHeader().GetMediaStorageAsString() == kDirectoryStorage)
    return SkippedFile{path, "a DICOMDIR directory record (the files it lists are indexed directly)"};
  const gdcm::TransferSyntax& syntax = file.GetHeader().GetDataSetTransferSyntax();
  if (syntax == gdcm::TransferSyntax::ExplicitVRBigEndian)
    return SkippedFile{path, "retired big-endian transfer syntax"};
  const gdcm::DataSet& ds = file.GetDataSet();
  SliceHeader h = header_of(path, ds, site_tag);
  if (h.series_uid.empty() || h.study_uid.empty())
    return SkippedFile{path, "no StudyInstanceUID or SeriesInstanceUID"};
  const std::uint64_t file_bytes = size_of(path), header_bytes = reader.GetStreamCurrentPosition();
  if (header_bytes >= file_bytes)
    return SkippedFile{path, "holds no pixel data (" + (h.modality.empty() ? std::string("no modality") : h.modality) + ")"};
  // Headers of a truncated file read fine: compare the file with the pixel data it announces.
  if (!syntax.IsEncapsulated()) {
    const std::uint64_t pixels = expected_pixel_bytes(h);
    const std::uint64_t available = file_bytes - header_bytes;
    if (pixels > 0 && available < pixels)
      return SkippedFile{path, "truncated: " + std::to_string(available) + " bytes after the header, the pixel data needs " +
                                   std::to_string(pixels)};
  }
  return h;
}

std::string read_series_uid(const fs::path& path) {
  gdcm::Reader reader;
  reader.SetFileName(path.string().c_str());
  if (!reader.ReadSelectedTags({gdcm::Tag(0x0020, 0x000e)})) return {};
  return text_value(reader.GetFile().GetDataSet(), gdcm::Tag(0x0020, 0x000e));
}

}  // namespace nc::dicom
