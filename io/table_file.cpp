#include "io/table_file.hpp"

#include "core/error.hpp"
#include "io/hdf5_detail.hpp"

namespace nc::io {

using namespace h5;

struct TableFile::Impl {
  Handle file;
  std::filesystem::path path;
};

TableFile::TableFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TableFile::TableFile(TableFile&&) noexcept = default;
TableFile& TableFile::operator=(TableFile&&) noexcept = default;
TableFile::~TableFile() = default;

TableFile TableFile::create(const std::filesystem::path& path) {
  silence_hdf5_errors();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (impl->file.get() < 0) throw StoreError(path.string() + ": cannot create the HDF5 file");
  return TableFile(std::move(impl));
}

TableFile TableFile::open(const std::filesystem::path& path) {
  silence_hdf5_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw StoreError(path.string() + ": file not found");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw StoreError(path.string() + ": not an HDF5 file");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (impl->file.get() < 0) throw StoreError(path.string() + ": cannot open the HDF5 file");
  return TableFile(std::move(impl));
}

namespace {

// Creates the group and its missing parents ("a/b/c").
Handle make_groups(hid_t file, const std::string& path) {
  Handle lcpl(check(H5Pcreate(H5P_LINK_CREATE), "create properties"), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl.get(), 1), "set intermediate groups");
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0)
    return Handle(check(H5Gopen2(file, path.c_str(), H5P_DEFAULT), "open group " + path), H5Gclose);
  return Handle(check(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), "create group " + path),
                H5Gclose);
}

}  // namespace

void TableFile::write_table(const std::string& group, const std::vector<TableColumn>& columns) {
  const Handle g = make_groups(impl_->file.get(), group);
  for (const auto& c : columns) {
    if (const auto* text = std::get_if<std::vector<std::string>>(&c.values))
      write_text_column(g.get(), c.name, *text);
    else
      write_number_column(g.get(), c.name, std::get<std::vector<double>>(c.values));
  }
}

std::vector<TableColumn> TableFile::read_table(const std::string& group) const {
  const hid_t file = impl_->file.get();
  if (!has(group)) throw StoreError(impl_->path.string() + ": no table " + group);
  std::vector<TableColumn> columns;
  for (const auto& name : group_members(file, group.c_str())) {
    const std::string path = group + "/" + name;
    // A table's columns are its 1-D datasets; arrays beside them (read_array) are not columns.
    if (shape(open_dataset(file, path).get()).size() != 1) continue;
    columns.push_back(read_column(file, path, name));
  }
  return columns;
}

bool TableFile::has(const std::string& path) const {
  return H5Lexists(impl_->file.get(), path.c_str(), H5P_DEFAULT) > 0;
}

void TableFile::write_array(const std::string& path, const std::vector<std::size_t>& shape,
                            const std::vector<double>& values) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) make_groups(impl_->file.get(), path.substr(0, slash));
  const std::vector<hsize_t> dims(shape.begin(), shape.end());
  const Handle space = simple_space(dims, Rows::Fixed);
  const Handle ds(check(H5Dcreate2(impl_->file.get(), path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT,
                                   H5P_DEFAULT, H5P_DEFAULT),
                        "create " + path),
                  H5Dclose);
  if (!values.empty())
    check(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write " + path);
}

std::vector<double> TableFile::read_array(const std::string& path) const {
  const Handle ds = open_dataset(impl_->file.get(), path);
  return read_number_array(ds.get(), path);
}

void TableFile::set_attribute(const std::string& name, const std::string& value) {
  write_text_attribute(impl_->file.get(), name, value);
}

std::string TableFile::attribute(const std::string& name) const {
  if (H5Aexists(impl_->file.get(), name.c_str()) <= 0)
    throw StoreError(impl_->path.string() + ": no attribute " + name);
  return read_text_attribute(impl_->file.get(), name);
}

}  // namespace nc::io
