#include "io/hdf5_detail.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>

#include "core/error.hpp"

namespace nc::io::h5 {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// No table of a cohort comes near 2^28 values (a million scans × 200 regions is 2e8), and no
// column near 2^24 rows (16 million scans); a header claiming more is damage, refused before
// its buffer is allocated.
constexpr hsize_t kMaxElements = hsize_t{1} << 28;
constexpr hsize_t kMaxRows = hsize_t{1} << 24;
}  // namespace

void silence_hdf5_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

namespace {
// HDF5's messages do not say why a write failed; the system's reason does, when it is one a
// user can act on (a full disk, a quota).
std::string failure(const std::string& what) {
  const int error = errno;
  const bool actionable = error == ENOSPC || error == EDQUOT || error == EROFS || error == EACCES;
  return "HDF5: cannot " + what + (actionable ? std::string(" (") + std::strerror(error) + ")" : std::string());
}
}  // namespace

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw StoreError(failure(what), Cause::Runtime);
  return id;
}
void check(herr_t status, const std::string& what) {
  if (status < 0) throw StoreError(failure(what), Cause::Runtime);
}

Handle text_type() {
  Handle t(check(H5Tcopy(H5T_C_S1), "create string type"), H5Tclose);
  check(H5Tset_size(t.get(), H5T_VARIABLE), "set string size");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "set UTF-8");
  return t;
}

Handle scalar_space() { return Handle(check(H5Screate(H5S_SCALAR), "create dataspace"), H5Sclose); }

Handle simple_space(std::vector<hsize_t> dims, Rows rows) {
  std::vector<hsize_t> max = dims;
  if (rows == Rows::Extendable) max[0] = H5S_UNLIMITED;
  return Handle(check(H5Screate_simple(int(dims.size()), dims.data(), max.data()), "create dataspace"), H5Sclose);
}

Handle open_dataset(hid_t file, const std::string& path) {
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0)
    throw StoreError("not a cohort store: dataset " + path + " is missing");
  return Handle(check(H5Dopen2(file, path.c_str(), H5P_DEFAULT), "open " + path), H5Dclose);
}

Handle create_group(hid_t parent, const char* name) {
  return Handle(check(H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      std::string("create group ") + name),
                H5Gclose);
}

Handle row_dataset_properties(const std::vector<hsize_t>& dims, hid_t fill_type, const void* fill) {
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "create properties"), H5Pclose);
  std::vector<hsize_t> chunk = dims;
  chunk[0] = std::clamp<hsize_t>(dims[0], 1, 1024);
  for (std::size_t d = 1; d < chunk.size(); ++d) chunk[d] = std::max<hsize_t>(dims[d], 1);
  check(H5Pset_chunk(dcpl.get(), int(chunk.size()), chunk.data()), "set chunking");
  if (fill) check(H5Pset_fill_value(dcpl.get(), fill_type, fill), "set fill value");
  // Checksummed chunks: a flipped byte in a results file reads as an error, never as a value.
  // (HDF5 filters cannot apply to variable-length text, whose chunks hold only heap references.)
  if (H5Tis_variable_str(fill_type) <= 0) check(H5Pset_fletcher32(dcpl.get()), "set checksums");
  return dcpl;
}

void write_text_column(hid_t parent, const std::string& name, const std::vector<std::string>& values) {
  const Handle type = text_type();
  const Handle space = simple_space({values.size()}, Rows::Extendable);
  const Handle dcpl = row_dataset_properties({values.size()}, type.get(), nullptr);
  Handle ds(check(H5Dcreate2(parent, name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  "create column " + name),
            H5Dclose);
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!values.empty())
    check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "write column " + name);
}

void write_number_column(hid_t parent, const std::string& name, const std::vector<double>& values) {
  const Handle space = simple_space({values.size()}, Rows::Extendable);
  const Handle dcpl = row_dataset_properties({values.size()}, H5T_NATIVE_DOUBLE, &kNaN);
  Handle ds(check(H5Dcreate2(parent, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  "create column " + name),
            H5Dclose);
  if (!values.empty())
    check(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write column " + name);
}

void write_int_column(hid_t parent, const std::string& name, std::size_t rows, int fill) {
  const Handle space = simple_space({rows}, Rows::Extendable);
  const Handle dcpl = row_dataset_properties({rows}, H5T_NATIVE_INT, &fill);
  Handle ds(check(H5Dcreate2(parent, name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  "create column " + name),
            H5Dclose);
}

void write_text_attribute(hid_t object, const std::string& name, const std::string& value) {
  if (H5Aexists(object, name.c_str()) > 0) check(H5Adelete(object, name.c_str()), "replace attribute " + name);
  const Handle type = text_type();
  const Handle space = scalar_space();
  Handle attr(check(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "create attribute " + name),
              H5Aclose);
  const char* ptr = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &ptr), "write attribute " + name);
}

void write_double_array_attribute(hid_t object, const char* name, const double* values, hsize_t n) {
  const Handle space = simple_space({n}, Rows::Fixed);
  Handle attr(check(H5Acreate2(object, name, H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    std::string("create attribute ") + name),
              H5Aclose);
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, values), std::string("write attribute ") + name);
}

std::vector<double> read_double_array_attribute(hid_t object, const char* name, std::size_t n) {
  Handle attr(check(H5Aopen(object, name, H5P_DEFAULT), std::string("open attribute ") + name), H5Aclose);
  const Handle space(check(H5Aget_space(attr.get()), std::string("get dataspace of ") + name), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != hssize_t(n))
    throw StoreError(std::string("attribute ") + name + " does not hold " + std::to_string(n) + " values");
  std::vector<double> values(n);
  check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, values.data()), std::string("read attribute ") + name);
  return values;
}

std::vector<hsize_t> shape(hid_t dataset) {
  const Handle space(check(H5Dget_space(dataset), "get dataspace"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw StoreError("HDF5: cannot read a dataspace");
  std::vector<hsize_t> dims(std::size_t(rank), 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

std::string shape_text(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return "a scalar";
  std::string text;
  for (std::size_t d = 0; d < dims.size(); ++d) text += (d ? "×" : "") + std::to_string(dims[d]);
  return text;
}

void require_shape(hid_t dataset, const std::vector<hsize_t>& expected, const std::string& what,
                   const std::string& meaning) {
  double elements = 1;
  for (hsize_t d : expected) elements *= double(d);
  if (elements > double(kMaxElements))
    throw StoreError("dataset " + what + " would hold " + std::to_string(std::int64_t(elements)) + " values");
  const auto dims = shape(dataset);
  if (dims != expected)
    throw StoreError("dataset " + what + " has shape " + shape_text(dims) + ", expected " + shape_text(expected) +
                     (meaning.empty() ? "" : " (" + meaning + ")"));
}

hsize_t extent(hid_t dataset, const std::string& what) {
  const auto dims = shape(dataset);
  if (dims.size() != 1)
    throw StoreError("dataset " + what + " has shape " + shape_text(dims) + ", expected one dimension");
  if (dims[0] > kMaxRows) throw StoreError("dataset " + what + " claims " + std::to_string(dims[0]) + " values");
  return dims[0];
}

std::vector<std::string> read_text_dataset(hid_t dataset, const std::string& what) {
  const hsize_t n = extent(dataset, what);
  const Handle stored(check(H5Dget_type(dataset), "get type of " + what), H5Tclose);
  if (H5Tget_class(stored.get()) != H5T_STRING) throw StoreError("dataset " + what + " is not text");
  const Handle type = text_type();
  std::vector<char*> ptrs(n, nullptr);
  if (n > 0) check(H5Dread(dataset, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "read " + what);
  std::vector<std::string> values;
  values.reserve(n);
  for (char* p : ptrs) values.emplace_back(p ? p : "");
  if (n > 0) {
    const Handle space(check(H5Dget_space(dataset), "get dataspace"), H5Sclose);
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, ptrs.data());
  }
  return values;
}

Handle select_row(hid_t dataset, hsize_t row, hsize_t cols) {
  Handle space(check(H5Dget_space(dataset), "get dataspace"), H5Sclose);
  const hsize_t start[2] = {row, 0};
  const hsize_t count[2] = {1, cols};
  check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), "select row");
  return space;
}

void write_row_text(hid_t file, const std::string& path, hsize_t row, const std::string& value) {
  const Handle ds = open_dataset(file, path);
  const Handle type = text_type();
  const Handle file_space = select_row(ds.get(), row, 1);
  const Handle mem_space = simple_space({1}, Rows::Fixed);
  const char* ptr = value.c_str();
  check(H5Dwrite(ds.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, &ptr), "write " + path);
}

void write_row_values(hid_t file, const std::string& path, hsize_t row, hid_t mem_type, const void* values,
                      hsize_t count) {
  const Handle ds = open_dataset(file, path);
  const Handle file_space = select_row(ds.get(), row, count);
  const Handle mem_space = simple_space({count}, Rows::Fixed);
  check(H5Dwrite(ds.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, values), "write " + path);
}

std::vector<std::string> group_members(hid_t file, const char* group) {
  Handle g(check(H5Gopen2(file, group, H5P_DEFAULT), std::string("open group ") + group), H5Gclose);
  H5G_info_t info;
  check(H5Gget_info(g.get(), &info), "list group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) throw StoreError(std::string("HDF5: cannot read the names in group ") + group);
    std::string name(static_cast<std::size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

std::string read_text_attribute(hid_t object, const std::string& name) {
  Handle attr(check(H5Aopen(object, name.c_str(), H5P_DEFAULT), "open attribute " + name), H5Aclose);
  // One text value, or H5Aread would write an array's pointers past `ptr`.
  const Handle stored(check(H5Aget_type(attr.get()), "get type of attribute " + name), H5Tclose);
  const Handle stored_space(check(H5Aget_space(attr.get()), "get dataspace of attribute " + name), H5Sclose);
  if (H5Tget_class(stored.get()) != H5T_STRING || H5Sget_simple_extent_npoints(stored_space.get()) != 1)
    throw StoreError("attribute " + name + " is not one text value");
  const Handle type = text_type();
  char* ptr = nullptr;
  check(H5Aread(attr.get(), type.get(), &ptr), "read attribute " + name);
  std::string value = ptr ? ptr : "";
  const Handle space = scalar_space();
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, &ptr);
  return value;
}

std::vector<double> read_number_dataset(hid_t dataset, const std::string& what) {
  const hsize_t n = extent(dataset, what);
  const Handle stored(check(H5Dget_type(dataset), "get type of " + what), H5Tclose);
  const H5T_class_t type_class = H5Tget_class(stored.get());
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) throw StoreError("dataset " + what + " is not numeric");
  std::vector<double> values(n);
  if (!values.empty())
    check(H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read " + what);
  return values;
}

std::vector<double> read_number_array(hid_t dataset, const std::string& what) {
  double points = 1;
  for (hsize_t d : shape(dataset)) points *= double(d);
  if (points > double(kMaxElements))
    throw StoreError("dataset " + what + " claims " + std::to_string(points) + " values");
  std::vector<double> values(static_cast<std::size_t>(points));
  if (!values.empty())
    check(H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read " + what);
  return values;
}

TableColumn read_column(hid_t file, const std::string& path, const std::string& name) {
  const Handle ds = open_dataset(file, path);
  const Handle type(check(H5Dget_type(ds.get()), "get type of " + path), H5Tclose);
  if (H5Tget_class(type.get()) == H5T_STRING) return {name, read_text_dataset(ds.get(), path)};
  return {name, read_number_dataset(ds.get(), path)};
}

}  // namespace nc::io::h5
