#include "norms/table.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace nc::norms {

std::size_t Table::column(const std::string& column_name) const {
  return std::size_t(std::find(header.begin(), header.end(), column_name) - header.begin());
}

std::vector<io::TableColumn> Table::columns() const {
  std::vector<io::TableColumn> out;
  for (std::size_t j = 0; j < header.size(); ++j) {
    const bool text = !rows.empty() && std::holds_alternative<std::string>(rows.front()[j]);
    if (text) {
      std::vector<std::string> values;
      for (const auto& row : rows) values.push_back(std::get<std::string>(row[j]));
      out.push_back({header[j], std::move(values)});
    } else {
      std::vector<double> values;
      for (const auto& row : rows) values.push_back(std::get<double>(row[j]));
      out.push_back({header[j], std::move(values)});
    }
  }
  return out;
}

namespace {

void write_cell(std::ostream& out, const Cell& cell) {
  if (const auto* text = std::get_if<std::string>(&cell)) {
    out << *text;
    return;
  }
  const double v = std::get<double>(cell);
  if (std::isnan(v)) {
    out << "n/a";
    return;
  }
  char buffer[40];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general, 17);
  out.write(buffer, end - buffer);
}

}  // namespace

void Table::write_tsv(const std::filesystem::path& path) const {
  std::ofstream out(path);
  if (!out) throw Error(path.string() + ": cannot create the table (" + std::strerror(errno) + ")");
  for (std::size_t j = 0; j < header.size(); ++j) out << (j ? "\t" : "") << header[j];
  out << '\n';
  for (const auto& row : rows) {
    for (std::size_t j = 0; j < row.size(); ++j) {
      if (j) out << '\t';
      write_cell(out, row[j]);
    }
    out << '\n';
  }
  out.flush();
  // A write that fails after the file opened is the machine's failure (a full disk), not the input's.
  if (!out) throw Error(path.string() + ": cannot write the table (" + std::strerror(errno) + ")", Cause::Runtime);
}

}  // namespace nc::norms
