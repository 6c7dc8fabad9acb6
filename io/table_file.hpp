#pragma once
/// \file
/// An HDF5 file of named tables and matrices, for results other than the cohort store (the
/// normative reference NORMS.h5): each table is a group of equally long 1-D columns, text as
/// variable-length UTF-8 and numbers as float64, so h5py and pandas read them directly.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::io {

class TableFile {
 public:
  /// Creates the file, replacing an existing one.
  /// \throws StoreError when it cannot be created.
  static TableFile create(const std::filesystem::path& path);
  /// \throws StoreError when missing or not HDF5.
  static TableFile open(const std::filesystem::path& path);

  TableFile(TableFile&&) noexcept;
  TableFile& operator=(TableFile&&) noexcept;
  ~TableFile();

  /// Writes the columns under /<group>/<column>; intermediate groups are created.
  void write_table(const std::string& group, const std::vector<TableColumn>& columns);
  /// Reads every column (1-D dataset) of /<group>. \throws StoreError when the group is missing.
  std::vector<TableColumn> read_table(const std::string& group) const;
  bool has(const std::string& path) const;

  /// A float64 array of any shape, row-major.
  void write_array(const std::string& path, const std::vector<std::size_t>& shape, const std::vector<double>& values);
  std::vector<double> read_array(const std::string& path) const;

  void set_attribute(const std::string& name, const std::string& value);
  std::string attribute(const std::string& name) const;

 private:
  struct Impl;
  explicit TableFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nc::io
