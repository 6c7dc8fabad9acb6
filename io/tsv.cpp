#include "io/tsv.hpp"

#include <fstream>

#include "core/error.hpp"
#include "core/text.hpp"

namespace nc::io {
namespace {

// Tabs separate the fields, so only spaces and a CRLF's CR are trimmed.
std::string trim_field(const std::string& s) { return trim(s, " \r"); }

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields = split(line, '\t');
  for (auto& field : fields) field = trim_field(field);
  return fields;
}

}  // namespace

TsvTable read_tsv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open the file");
  TsvTable table;
  std::string line;
  std::size_t number = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++number;
    if (number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    // A NUL would cut every message that quotes the field, and no text column holds one.
    if (line.find('\0') != std::string::npos)
      throw Error(path.string() + ":" + std::to_string(number) + ": holds a NUL byte (not a text table?)");
    if (trim_field(line).empty()) continue;
    if (!have_header) {
      table.header = split_tabs(line);
      have_header = true;
    } else {
      table.rows.push_back({number, split_tabs(line)});
    }
  }
  if (in.bad()) throw Error(path.string() + ": read error");
  if (!have_header) throw Error(path.string() + ": empty file, a header line is required");
  return table;
}

}  // namespace nc::io
