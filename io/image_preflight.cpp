#include "io/image_preflight.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/image_io.hpp"

namespace nc::io::detail {
namespace {

namespace fs = std::filesystem;

// Headers are short; anything longer than this before the data starts is not a header.
constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 16;

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    double v = 0;
    const auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
    if (ec != std::errc() || ptr != word.data() + word.size()) return {};
    out.push_back(v);
  }
  return out;
}

// Product of the sizes times the bytes per element, or 0 when any part is unknown or absurd.
double expected_bytes(const std::vector<double>& sizes, double element_bytes) {
  if (sizes.empty() || element_bytes <= 0) return 0;
  double bytes = element_bytes;
  for (double s : sizes) {
    if (!(s >= 1) || s != double(std::int64_t(s))) return 0;
    bytes *= s;
  }
  return bytes;
}

void require_regular_file(const fs::path& image, const fs::path& file, const PreflightRules& rules,
                          const std::string& what) {
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (ec || !fs::exists(status)) throw ImageError(image.string(), what + " " + file.string() + " does not exist");
  if (!fs::is_regular_file(status))
    throw ImageError(image.string(), what + " " + file.string() +
                                         " is not a regular file (a FIFO, device or socket would block the reader)");
  if (rules.confine_to && !resolves_within(file, *rules.confine_to))
    throw ImageError(image.string(), what + " " + file.string() +
                                         " lies outside the manifest's folder (symlinks followed; use "
                                         "--allow-external-paths to accept it)");
}

// Inflates `bytes` of zlib or gzip data from `in` without keeping it, and requires a complete,
// checksummed stream of exactly `expected` bytes: ITK's MetaIO and NRRD readers accept less.
void require_complete_stream(const fs::path& image, std::ifstream& in, double expected) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) throw ImageError(image.string(), "zlib could not start");
  std::vector<unsigned char> input(std::size_t{1} << 18), output(std::size_t{1} << 20);
  double produced = 0;
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (z.avail_in == 0) {
      in.read(reinterpret_cast<char*>(input.data()), std::streamsize(input.size()));
      z.avail_in = uInt(in.gcount());
      z.next_in = input.data();
      if (z.avail_in == 0) break;
    }
    z.next_out = output.data();
    z.avail_out = uInt(output.size());
    status = inflate(&z, Z_NO_FLUSH);
    produced += double(output.size() - z.avail_out);
    if (status != Z_OK && status != Z_STREAM_END) break;
    if (produced > expected) break;
  }
  inflateEnd(&z);
  std::ostringstream why;
  if (status != Z_STREAM_END && status != Z_OK && status != Z_BUF_ERROR)
    why << "compressed voxel data is corrupt (zlib: " << (z.msg ? z.msg : "data error") << ")";
  else if (produced != expected || status != Z_STREAM_END)
    why << "compressed voxel data inflates to " << (produced > expected ? "more than " : "") << std::int64_t(produced)
        << " bytes, the header implies " << std::int64_t(expected);
  if (!why.str().empty()) throw ImageError(image.string(), why.str());
}

// The data of a header: where it is, how it is stored, how large it must be.
struct DataSpec {
  std::vector<fs::path> files;  // empty: the data follows the header in the same file
  bool compressed = false;
  double bytes = 0;  // 0: unknown, not checked
  double skip = 0;   // bytes before the data in its file; < 0: the data ends the file
  bool checkable = true;
};

void check_data(const fs::path& image, const DataSpec& spec, std::size_t header_bytes, const PreflightRules& rules) {
  for (const auto& file : spec.files) require_regular_file(image, file, rules, "data file");
  if (spec.bytes <= 0 || !spec.checkable || spec.files.size() > 1) return;
  const fs::path file = spec.files.empty() ? image : spec.files.front();
  const double start = double(spec.files.empty() ? header_bytes : 0) + std::max(spec.skip, 0.0);
  std::error_code ec;
  const double size = double(fs::file_size(file, ec));
  if (ec) throw ImageError(image.string(), "cannot read the size of " + file.string());
  if (!spec.compressed) {
    if (size - start < spec.bytes) {
      std::ostringstream why;
      why << "truncated voxel data: the header implies " << std::int64_t(spec.bytes) << " bytes, "
          << (spec.files.empty() ? "the file" : file.string()) << " holds "
          << std::int64_t(std::max(size - start, 0.0));
      throw ImageError(image.string(), why.str());
    }
    return;
  }
  std::ifstream in(file, std::ios::binary);
  in.seekg(std::streamoff(start));
  require_complete_stream(image, in, spec.bytes);
}

// The header's text, up to the line that ends it (`is_last`), and its length in bytes.
template <typename IsLast>
std::vector<std::string> header_lines(const fs::path& image, IsLast&& is_last, std::size_t& header_bytes) {
  std::ifstream in(image, std::ios::binary);
  std::string text(kMaxHeaderBytes, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(std::size_t(in.gcount()));
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto eol = text.find('\n', pos);
    const std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    if (line.find('\0') != std::string::npos) throw ImageError(image.string(), "header holds a NUL byte");
    pos = eol == std::string::npos ? text.size() : eol + 1;
    lines.push_back(trim(line));
    if (is_last(lines.back())) break;
  }
  header_bytes = pos;
  return lines;
}

void refuse_pattern(const fs::path& image, const std::string& value) {
  if (value.find('%') != std::string::npos)
    throw ImageError(image.string(), "data file '" + value +
                                         "' is a file-name pattern, which neurocohort does not read (one data file, "
                                         "or LIST)");
}

fs::path beside(const fs::path& header, const std::string& name) {
  const fs::path p(name);
  return p.is_absolute() ? p : header.parent_path() / p;
}

double metaimage_element_bytes(const std::string& type) {
  static const std::map<std::string, double> sizes = {{"met_char", 1},       {"met_uchar", 1}, {"met_short", 2},
                                                      {"met_ushort", 2},     {"met_int", 4},   {"met_uint", 4},
                                                      {"met_long", 4},       {"met_ulong", 4}, {"met_long_long", 8},
                                                      {"met_ulong_long", 8}, {"met_float", 4}, {"met_double", 8}};
  const auto it = sizes.find(lowercase(type));
  return it == sizes.end() ? 0 : it->second;
}

void preflight_metaimage(const fs::path& image, const PreflightRules& rules) {
  const auto key_of = [](const std::string& line) { return lowercase(trim(line.substr(0, line.find('=')))); };
  std::size_t header_bytes = 0;
  const auto lines = header_lines(
      image, [&](const std::string& line) { return key_of(line) == "elementdatafile"; }, header_bytes);
  std::map<std::string, std::string> fields;
  std::size_t data_line = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto eq = lines[i].find('=');
    if (eq == std::string::npos) continue;
    fields[key_of(lines[i])] = trim(lines[i].substr(eq + 1));
    if (key_of(lines[i]) == "elementdatafile") data_line = i;
  }
  if (data_line == lines.size()) throw ImageError(image.string(), "MetaImage header has no ElementDataFile");
  const std::string value = fields["elementdatafile"];
  refuse_pattern(image, value);
  DataSpec spec;
  const std::string kind = lowercase(value.substr(0, value.find(' ')));
  if (kind == "list") {
    // The data files follow, one per line, to the end of the header file.
    std::ifstream in(image, std::ios::binary);
    in.seekg(std::streamoff(header_bytes));
    for (std::string line; std::getline(in, line);)
      if (!trim(line).empty()) spec.files.push_back(beside(image, trim(line)));
    if (spec.files.empty()) throw ImageError(image.string(), "MetaImage LIST names no data files");
  } else if (kind != "local") {
    spec.files.push_back(beside(image, value));
  }
  const auto channel_count = numbers(fields["elementnumberofchannels"]);
  const double channels = channel_count.size() == 1 ? channel_count.front() : 1;
  spec.bytes = expected_bytes(numbers(fields["dimsize"]), metaimage_element_bytes(fields["elementtype"]) * channels);
  spec.compressed = lowercase(fields["compresseddata"]) == "true";
  if (fields.count("headersize")) {
    const auto skip = numbers(fields["headersize"]);
    spec.skip = skip.empty() ? 0 : skip.front();
  }
  check_data(image, spec, header_bytes, rules);
}

double nrrd_element_bytes(const std::string& type) {
  static const std::map<std::string, double> sizes = {{"signed char", 1},
                                                      {"int8", 1},
                                                      {"int8_t", 1},
                                                      {"uchar", 1},
                                                      {"unsigned char", 1},
                                                      {"uint8", 1},
                                                      {"uint8_t", 1},
                                                      {"short", 2},
                                                      {"short int", 2},
                                                      {"signed short", 2},
                                                      {"signed short int", 2},
                                                      {"int16", 2},
                                                      {"int16_t", 2},
                                                      {"ushort", 2},
                                                      {"unsigned short", 2},
                                                      {"unsigned short int", 2},
                                                      {"uint16", 2},
                                                      {"uint16_t", 2},
                                                      {"int", 4},
                                                      {"signed int", 4},
                                                      {"int32", 4},
                                                      {"int32_t", 4},
                                                      {"uint", 4},
                                                      {"unsigned int", 4},
                                                      {"uint32", 4},
                                                      {"uint32_t", 4},
                                                      {"longlong", 8},
                                                      {"long long", 8},
                                                      {"int64", 8},
                                                      {"int64_t", 8},
                                                      {"ulonglong", 8},
                                                      {"unsigned long long", 8},
                                                      {"uint64", 8},
                                                      {"uint64_t", 8},
                                                      {"float", 4},
                                                      {"double", 8}};
  const auto it = sizes.find(lowercase(type));
  return it == sizes.end() ? 0 : it->second;
}

void preflight_nrrd(const fs::path& image, const PreflightRules& rules) {
  std::size_t header_bytes = 0;
  bool first = true;
  const auto lines = header_lines(
      image,
      [&](const std::string& line) {
        const bool end = !first && line.empty();  // a blank line ends an attached header
        first = false;
        return end;
      },
      header_bytes);
  if (lines.empty() || lines.front().rfind("NRRD", 0) != 0) return;  // not NRRD: the reader will say so
  std::map<std::string, std::string> fields;
  std::vector<std::string> listed;
  bool in_list = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty() || lines[i][0] == '#') continue;
    if (in_list) {
      listed.push_back(lines[i]);
      continue;
    }
    const auto colon = lines[i].find(": ");
    if (colon == std::string::npos) continue;  // key:=value pairs and anything else
    const std::string key = lowercase(lines[i].substr(0, colon)), value = trim(lines[i].substr(colon + 2));
    fields[key == "datafile" ? "data file" : key] = value;
    if ((key == "data file" || key == "datafile") && lowercase(value.substr(0, 4)) == "list") in_list = true;
  }
  DataSpec spec;
  if (fields.count("data file")) {
    const std::string value = fields["data file"];
    refuse_pattern(image, value);
    if (in_list) {
      for (const auto& name : listed) spec.files.push_back(beside(image, name));
      if (spec.files.empty()) throw ImageError(image.string(), "NRRD data file LIST names no files");
    } else {
      spec.files.push_back(beside(image, value));
    }
  }
  const std::string encoding = lowercase(fields["encoding"]);
  spec.compressed = encoding == "gzip" || encoding == "gz";
  spec.checkable = (encoding == "raw" || spec.compressed) && !fields.count("line skip");
  spec.bytes = expected_bytes(numbers(fields["sizes"]), nrrd_element_bytes(fields["type"]));
  if (fields.count("byte skip")) {
    const auto skip = numbers(fields["byte skip"]);
    spec.skip = skip.empty() ? 0 : skip.front();
    if (spec.skip < 0 && spec.compressed) spec.checkable = false;
  }
  check_data(image, spec, header_bytes, rules);
}

void preflight_dicom_folder(const fs::path& folder, const PreflightRules& rules) {
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const auto status = fs::status(it->path(), ec);
    if (fs::is_directory(status)) continue;  // the series reader does not descend
    require_regular_file(folder, it->path(), rules, "file");
  }
  if (ec) throw ImageError(folder.string(), "cannot list the folder (" + ec.message() + ")");
}

}  // namespace
}  // namespace nc::io::detail

namespace nc::io {

bool resolves_within(const std::filesystem::path& path, const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(fs::absolute(path), ec);
  if (ec) return false;
  const fs::path root = fs::weakly_canonical(fs::absolute(folder), ec);
  if (ec) return false;
  const auto rel = real.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace nc::io

namespace nc::io::detail {

void preflight_image_files(const fs::path& path, const PreflightRules& rules) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (rules.confine_to && !resolves_within(path, *rules.confine_to))
      throw ImageError(path.string(),
                       "lies outside the manifest's folder (symlinks followed; use "
                       "--allow-external-paths to accept it)");
    return preflight_dicom_folder(path, rules);
  }
  require_regular_file(path, path, rules, "image");
  const std::string name = lowercase(path.filename().string());
  if (name.ends_with(".mhd") || name.ends_with(".mha")) return preflight_metaimage(path, rules);
  if (name.ends_with(".nrrd") || name.ends_with(".nhdr")) return preflight_nrrd(path, rules);
  // An Analyze-style NIfTI pair: the voxels are in the .img beside the .hdr.
  if (name.ends_with(".hdr") || name.ends_with(".hdr.gz")) {
    const std::string stem = path.string().substr(0, path.string().size() - (name.ends_with(".gz") ? 7 : 4));
    for (const char* ext : {".img", ".img.gz"})
      if (fs::exists(stem + ext, ec)) return require_regular_file(path, stem + ext, rules, "data file");
  }
}

}  // namespace nc::io::detail
