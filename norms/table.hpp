#pragma once
/// \file
/// A result table: named columns, one row per line of output, written as TSV (numbers with
/// 17 significant digits, `n/a` for a missing value) and as HDF5 columns.

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::norms {

using Cell = std::variant<std::string, double>;

struct Table {
  std::string name;  ///< file stem: descriptives, regression, …
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;

  /// The index of the column `column_name` in `header` and in every row; header.size() when the
  /// table has no such column.
  std::size_t column(const std::string& column_name) const;
  /// Column-wise, for HDF5: a column is text when its first row is text.
  std::vector<io::TableColumn> columns() const;
  /// \throws Error when the file cannot be written.
  void write_tsv(const std::filesystem::path& path) const;
};

/// "yes"/"no" cells.
inline Cell yes_no(bool value) { return std::string(value ? "yes" : "no"); }

}  // namespace nc::norms
