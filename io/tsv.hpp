#pragma once
/// \file
/// Tab-separated tables (BIDS participants.tsv style): a header line, then one row per line.

#include <filesystem>
#include <string>
#include <vector>

namespace nc::io {

struct TsvRow {
  std::size_t line = 0;  ///< 1-based line number in the file, for error messages
  std::vector<std::string> fields;
};

struct TsvTable {
  std::vector<std::string> header;
  std::vector<TsvRow> rows;  ///< as read: a row may have more or fewer fields than the header
};

/// Reads a TSV file. Tolerates a UTF-8 byte-order mark, CRLF line ends and blank lines;
/// trims spaces around fields. Checking field counts is left to the caller, which can then
/// report every bad line at once.
/// \throws Error when the file cannot be read or has no header line.
TsvTable read_tsv(const std::filesystem::path& path);

}  // namespace nc::io
