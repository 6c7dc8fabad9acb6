#include "io/cohort_store.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <utility>

#include "core/error.hpp"
#include "io/hdf5_detail.hpp"

namespace nc::io {
namespace {

namespace fs = std::filesystem;
using namespace h5;

constexpr const char* kStatusPending = "pending";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<Region> read_regions(hid_t file) {
  const Handle labels_ds = open_dataset(file, "/regions/label");
  std::vector<int> labels(extent(labels_ds.get()));
  if (!labels.empty())
    check(H5Dread(labels_ds.get(), H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()), "read /regions/label");
  const auto names = read_text_dataset(open_dataset(file, "/regions/name").get(), "/regions/name");
  const auto hemis = read_text_dataset(open_dataset(file, "/regions/hemisphere").get(), "/regions/hemisphere");
  if (names.size() != labels.size() || hemis.size() != labels.size())
    throw StoreError("not a cohort store: /regions datasets differ in length");
  std::vector<Region> regions;
  for (std::size_t r = 0; r < labels.size(); ++r) regions.push_back({labels[r], names[r], hemis[r]});
  return regions;
}

const std::vector<std::string> kRecordColumns = {"status", "error", "icv_ml", "seconds", "host", "rank"};

}  // namespace

std::size_t TableColumn::size() const {
  return std::visit([](const auto& v) { return v.size(); }, values);
}

struct CohortStore::Impl {
  Handle file;
  fs::path path;
  std::vector<std::string> scan_ids;
  std::vector<Region> regions;
  std::vector<std::string> metric_names;
};

CohortStore::CohortStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CohortStore::CohortStore(CohortStore&&) noexcept = default;
CohortStore& CohortStore::operator=(CohortStore&&) noexcept = default;
CohortStore::~CohortStore() = default;

CohortStore CohortStore::create(const fs::path& path, const std::vector<TableColumn>& scans,
                                const std::vector<Region>& regions, const std::vector<std::string>& metric_names,
                                const Provenance& provenance) {
  silence_hdf5_errors();
  const auto id_column = std::find_if(scans.begin(), scans.end(), [](const auto& c) { return c.name == "scan_id"; });
  if (id_column == scans.end() || !std::holds_alternative<std::vector<std::string>>(id_column->values))
    throw StoreError(path.string() + ": the scan table needs a text column scan_id");
  const auto& ids = std::get<std::vector<std::string>>(id_column->values);
  for (const auto& c : scans) {
    if (c.size() != ids.size())
      throw StoreError(path.string() + ": column " + c.name + " has " + std::to_string(c.size()) + " values for " +
                       std::to_string(ids.size()) + " scans");
    if (std::find(kRecordColumns.begin(), kRecordColumns.end(), c.name) != kRecordColumns.end())
      throw StoreError(path.string() + ": column " + c.name + " is reserved for results");
  }
  std::error_code ec;
  if (fs::exists(path, ec)) throw StoreError(path.string() + ": already exists (resume it, or choose another --out)");

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = Handle(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (impl->file.get() < 0) throw StoreError(path.string() + ": cannot create the HDF5 file");
  const hid_t file = impl->file.get();

  const Handle scans_group = create_group(file, "scans");
  for (const auto& c : scans) {
    if (const auto* text = std::get_if<std::vector<std::string>>(&c.values))
      write_text_column(scans_group.get(), c.name, *text);
    else
      write_number_column(scans_group.get(), c.name, std::get<std::vector<double>>(c.values));
  }
  const std::size_t n = ids.size();
  write_text_column(scans_group.get(), "status", std::vector<std::string>(n, kStatusPending));
  write_text_column(scans_group.get(), "error", std::vector<std::string>(n));
  write_number_column(scans_group.get(), "icv_ml", std::vector<double>(n, kNaN));
  write_number_column(scans_group.get(), "seconds", std::vector<double>(n, kNaN));
  write_text_column(scans_group.get(), "host", std::vector<std::string>(n));
  write_int_column(scans_group.get(), "rank", n, -1);

  const Handle regions_group = create_group(file, "regions");
  std::vector<int> labels;
  std::vector<std::string> names, hemispheres;
  for (const auto& r : regions) {
    labels.push_back(r.label);
    names.push_back(r.name);
    hemispheres.push_back(r.hemisphere);
  }
  {
    const Handle space = simple_space({labels.size()}, false);
    Handle ds(check(H5Dcreate2(regions_group.get(), "label", H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT),
                    "create /regions/label"),
              H5Dclose);
    if (!labels.empty())
      check(H5Dwrite(ds.get(), H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()), "write /regions/label");
  }
  write_text_column(regions_group.get(), "name", names);
  write_text_column(regions_group.get(), "hemisphere", hemispheres);

  const Handle metrics_group = create_group(file, "metrics");
  for (const auto& m : metric_names) {
    const std::vector<hsize_t> dims = {n, regions.size()};
    const Handle space = simple_space(dims, true);
    const Handle dcpl = row_dataset_properties(dims, H5T_NATIVE_DOUBLE, &kNaN);
    Handle ds(check(H5Dcreate2(metrics_group.get(), m.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    "create /metrics/" + m),
              H5Dclose);
  }
  create_group(file, "labels");
  for (const auto& [key, value] : provenance) write_text_attribute(file, key, value);
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + path.string());

  impl->scan_ids = ids;
  impl->regions = regions;
  impl->metric_names = metric_names;
  return CohortStore(std::move(impl));
}

CohortStore CohortStore::open(const fs::path& path, Mode mode) {
  silence_hdf5_errors();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw StoreError(path.string() + ": file not found");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw StoreError(path.string() + ": not an HDF5 file");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const unsigned flags = mode == Mode::ReadWrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  impl->file = Handle(H5Fopen(path.c_str(), flags, H5P_DEFAULT), H5Fclose);
  if (impl->file.get() < 0) throw StoreError(path.string() + ": cannot open the HDF5 file (damaged or in use)");
  try {
    const hid_t file = impl->file.get();
    impl->scan_ids = read_text_dataset(open_dataset(file, "/scans/scan_id").get(), "/scans/scan_id");
    impl->regions = read_regions(file);
    impl->metric_names = group_members(file, "/metrics");
    for (const auto& column : kRecordColumns) open_dataset(file, "/scans/" + column);
  } catch (const StoreError& e) {
    throw StoreError(path.string() + ": " + e.what());
  }
  return CohortStore(std::move(impl));
}

std::size_t CohortStore::scan_count() const { return impl_->scan_ids.size(); }
const std::vector<std::string>& CohortStore::scan_ids() const { return impl_->scan_ids; }
const std::vector<Region>& CohortStore::regions() const { return impl_->regions; }
const std::vector<std::string>& CohortStore::metric_names() const { return impl_->metric_names; }
std::vector<std::string> CohortStore::scan_columns() const { return group_members(impl_->file.get(), "/scans"); }

std::vector<std::string> CohortStore::statuses() const { return read_text_column("status"); }

void CohortStore::write(const ScanRecord& record) {
  const hid_t file = impl_->file.get();
  if (record.row >= scan_count())
    throw StoreError(impl_->path.string() + ": row " + std::to_string(record.row) + " is out of range");
  const std::string& scan_id = impl_->scan_ids[record.row];
  const hsize_t regions = impl_->regions.size();

  // Label map first, status last: a row reads "ok" only once everything it owns is written.
  const std::string label_path = "/labels/" + scan_id;
  if (H5Lexists(file, label_path.c_str(), H5P_DEFAULT) > 0)
    check(H5Ldelete(file, label_path.c_str(), H5P_DEFAULT), "replace " + label_path);
  if (record.labels) {
    const LabelVolume& labels = *record.labels;
    const Geometry& g = labels.geometry;
    // Stored C-order as [k][j][i], the memory order of Volume, so h5py sees array[k, j, i].
    const std::vector<hsize_t> dims = {hsize_t(g.size[2]), hsize_t(g.size[1]), hsize_t(g.size[0])};
    std::vector<hsize_t> chunk(3);
    for (int d = 0; d < 3; ++d) chunk[d] = std::min<hsize_t>(dims[d], 64);
    const Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "create properties"), H5Pclose);
    check(H5Pset_chunk(dcpl.get(), 3, chunk.data()), "set chunking");
    check(H5Pset_shuffle(dcpl.get()), "set shuffle");
    check(H5Pset_deflate(dcpl.get(), 4), "set compression");
    const bool fits_in_byte =
        std::all_of(labels.voxels.begin(), labels.voxels.end(), [](std::uint16_t v) { return v < 256; });
    const Handle space = simple_space(dims, false);
    const Handle ds(check(H5Dcreate2(file, label_path.c_str(), fits_in_byte ? H5T_STD_U8LE : H5T_STD_U16LE,
                                     space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                          "create " + label_path),
                    H5Dclose);
    check(H5Dwrite(ds.get(), H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.voxels.data()),
          "write " + label_path);
    write_double_array_attribute(ds.get(), "spacing", g.spacing_mm.data(), 3);
    write_double_array_attribute(ds.get(), "origin", g.origin_mm.data(), 3);
    write_double_array_attribute(ds.get(), "direction", g.direction.data(), 9);
  }

  for (const auto& name : impl_->metric_names) {
    const auto found = record.metrics.find(name);
    const std::vector<double> values =
        found != record.metrics.end() ? found->second : std::vector<double>(regions, kNaN);
    if (values.size() != regions)
      throw StoreError(impl_->path.string() + ": metric " + name + " has " + std::to_string(values.size()) +
                       " values for " + std::to_string(regions) + " regions");
    if (regions > 0) write_row_values(file, "/metrics/" + name, record.row, H5T_NATIVE_DOUBLE, values.data(), regions);
  }
  for (const auto& [name, values] : record.metrics)
    if (std::find(impl_->metric_names.begin(), impl_->metric_names.end(), name) == impl_->metric_names.end())
      throw StoreError(impl_->path.string() + ": the store has no metric " + name);

  write_row_values(file, "/scans/icv_ml", record.row, H5T_NATIVE_DOUBLE, &record.icv_ml, 1);
  write_row_values(file, "/scans/seconds", record.row, H5T_NATIVE_DOUBLE, &record.seconds, 1);
  write_row_values(file, "/scans/rank", record.row, H5T_NATIVE_INT, &record.rank, 1);
  write_row_text(file, "/scans/host", record.row, record.host);
  write_row_text(file, "/scans/error", record.row, record.ok ? std::string() : record.error);
  write_row_text(file, "/scans/status", record.row, record.ok ? "ok" : "failed");
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + impl_->path.string());
}

void CohortStore::set_attribute(const std::string& name, const std::string& value) {
  write_text_attribute(impl_->file.get(), name, value);
  check(H5Fflush(impl_->file.get(), H5F_SCOPE_GLOBAL), "flush " + impl_->path.string());
}

std::string CohortStore::attribute(const std::string& name) const {
  const hid_t file = impl_->file.get();
  if (H5Aexists(file, name.c_str()) <= 0) throw StoreError(impl_->path.string() + ": no attribute " + name);
  return read_text_attribute(file, name);
}

std::vector<std::string> CohortStore::read_text_column(const std::string& name) const {
  const std::string path = "/scans/" + name;
  return read_text_dataset(open_dataset(impl_->file.get(), path).get(), path);
}

std::vector<double> CohortStore::read_number_column(const std::string& name) const {
  const std::string path = "/scans/" + name;
  return read_number_dataset(open_dataset(impl_->file.get(), path).get(), path);
}

std::vector<double> CohortStore::read_metric(const std::string& name) const {
  const std::string path = "/metrics/" + name;
  const Handle ds = open_dataset(impl_->file.get(), path);
  std::vector<double> values(extent(ds.get()) * impl_->regions.size());
  if (!values.empty())
    check(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read " + path);
  return values;
}

std::optional<LabelVolume> CohortStore::read_labels(const std::string& scan_id) const {
  const hid_t file = impl_->file.get();
  const std::string path = "/labels/" + scan_id;
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  const Handle ds = open_dataset(file, path);
  const Handle space(check(H5Dget_space(ds.get()), "get dataspace"), H5Sclose);
  hsize_t dims[3] = {0, 0, 0};
  if (H5Sget_simple_extent_ndims(space.get()) != 3) throw StoreError(path + " is not 3-D");
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  Geometry g;
  g.size = {std::int64_t(dims[2]), std::int64_t(dims[1]), std::int64_t(dims[0])};
  const auto spacing = read_double_array_attribute(ds.get(), "spacing", 3);
  const auto origin = read_double_array_attribute(ds.get(), "origin", 3);
  const auto direction = read_double_array_attribute(ds.get(), "direction", 9);
  std::copy(spacing.begin(), spacing.end(), g.spacing_mm.begin());
  std::copy(origin.begin(), origin.end(), g.origin_mm.begin());
  std::copy(direction.begin(), direction.end(), g.direction.begin());
  LabelVolume labels(g);
  check(H5Dread(ds.get(), H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.voxels.data()), "read " + path);
  return labels;
}

std::vector<TableColumn> CohortStore::read_scan_table() const {
  std::vector<TableColumn> columns;
  for (const auto& name : scan_columns()) {
    if (std::find(kRecordColumns.begin(), kRecordColumns.end(), name) != kRecordColumns.end()) continue;
    columns.push_back(read_column(impl_->file.get(), "/scans/" + name, name));
  }
  return columns;
}

namespace {

// Elements [row, row+1) × [0, count) of a 1-D or 2-D dataset, as numbers.
std::vector<double> read_row_values(hid_t file, const std::string& path, hsize_t row, hsize_t count) {
  const Handle ds = open_dataset(file, path);
  const Handle file_space = select_row(ds.get(), row, count);
  const Handle mem_space = simple_space({std::max<hsize_t>(count, 1)}, false);
  std::vector<double> values(std::max<hsize_t>(count, 1));
  check(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, mem_space.get(), file_space.get(), H5P_DEFAULT, values.data()),
        "read " + path);
  values.resize(count);
  return values;
}

std::string read_row_text(hid_t file, const std::string& path, hsize_t row) {
  const Handle ds = open_dataset(file, path);
  const Handle type = text_type();
  const Handle file_space = select_row(ds.get(), row, 1);
  const Handle mem_space = simple_space({1}, false);
  char* ptr = nullptr;
  check(H5Dread(ds.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, &ptr), "read " + path);
  std::string value = ptr ? ptr : "";
  H5Dvlen_reclaim(type.get(), mem_space.get(), H5P_DEFAULT, &ptr);
  return value;
}

}  // namespace

ScanRecord CohortStore::read_record(std::size_t row) const {
  if (row >= scan_count())
    throw StoreError(impl_->path.string() + ": row " + std::to_string(row) + " is out of range");
  const hid_t file = impl_->file.get();
  ScanRecord record;
  record.row = row;
  record.ok = read_row_text(file, "/scans/status", row) == "ok";
  record.error = read_row_text(file, "/scans/error", row);
  record.host = read_row_text(file, "/scans/host", row);
  record.icv_ml = read_row_values(file, "/scans/icv_ml", row, 1)[0];
  record.seconds = read_row_values(file, "/scans/seconds", row, 1)[0];
  record.rank = int(read_row_values(file, "/scans/rank", row, 1)[0]);
  for (const auto& name : impl_->metric_names)
    record.metrics[name] = read_row_values(file, "/metrics/" + name, row, impl_->regions.size());
  record.labels = read_labels(impl_->scan_ids[row]);
  return record;
}

}  // namespace nc::io
