#pragma once
/// \file
/// Thin RAII and column helpers over the HDF5 C API, shared by the HDF5 files neurocohort
/// writes (the cohort store, the normative reference). Internal to io/: the public headers
/// never include hdf5.h. Every failure throws StoreError with what could not be done.

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "io/cohort_store.hpp"

namespace nc::io::h5 {

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  Handle& operator=(Handle&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(closer_, o.closer_);
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0 && closer_) closer_(id_);
  }
  hid_t get() const { return id_; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

/// HDF5 prints its own error stack by default; neurocohort reports one line instead.
void silence_hdf5_errors();
hid_t check(hid_t id, const std::string& what);
void check(herr_t status, const std::string& what);

Handle text_type();  ///< variable-length UTF-8
Handle scalar_space();
/// Whether a dataspace's first dimension may grow later (the scan table's columns) or is fixed.
enum class Rows { Fixed, Extendable };
Handle simple_space(std::vector<hsize_t> dims, Rows rows);
/// \throws StoreError "not a cohort store: dataset PATH is missing" when absent
Handle open_dataset(hid_t file, const std::string& path);
Handle create_group(hid_t parent, const char* name);
/// Chunked along the first axis so that rows can be appended.
Handle row_dataset_properties(const std::vector<hsize_t>& dims, hid_t fill_type, const void* fill);

void write_text_column(hid_t parent, const std::string& name, const std::vector<std::string>& values);
void write_number_column(hid_t parent, const std::string& name, const std::vector<double>& values);
void write_int_column(hid_t parent, const std::string& name, std::size_t rows, int fill);
void write_text_attribute(hid_t object, const std::string& name, const std::string& value);
std::string read_text_attribute(hid_t object, const std::string& name);
void write_double_array_attribute(hid_t object, const char* name, const double* values, hsize_t n);
std::vector<double> read_double_array_attribute(hid_t object, const char* name, std::size_t n);

/// The dataset's dimensions (empty for a scalar).
std::vector<hsize_t> shape(hid_t dataset);
/// \throws StoreError "dataset WHAT has shape 5×3, expected 5×10 (MEANING)" unless the shape is `expected`.
void require_shape(hid_t dataset, const std::vector<hsize_t>& expected, const std::string& what,
                   const std::string& meaning = "");
/// Length of a 1-D dataset. \throws StoreError for any other rank.
hsize_t extent(hid_t dataset, const std::string& what);
/// A whole 1-D text or numeric dataset. \throws StoreError for another rank or type class.
std::vector<std::string> read_text_dataset(hid_t dataset, const std::string& what);
std::vector<double> read_number_dataset(hid_t dataset, const std::string& what);
/// Every value of a numeric dataset of any rank, row-major (the caller checks the count).
std::vector<double> read_number_array(hid_t dataset, const std::string& what);
/// A 1-D dataset as a table column named `name`: text or numbers, as stored.
TableColumn read_column(hid_t file, const std::string& path, const std::string& name);
/// Selects elements [row, row+1) × [0, cols) of a 1-D (cols == 0) or 2-D dataset.
Handle select_row(hid_t dataset, hsize_t row, hsize_t cols);
void write_row_text(hid_t file, const std::string& path, hsize_t row, const std::string& value);
void write_row_values(hid_t file, const std::string& path, hsize_t row, hid_t mem_type, const void* values,
                      hsize_t count);
/// Names of the links in a group, in name order.
std::vector<std::string> group_members(hid_t file, const char* group);

}  // namespace nc::io::h5
