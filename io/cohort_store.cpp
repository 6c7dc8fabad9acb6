#include "io/cohort_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <utility>

#include "core/error.hpp"
#include "io/hdf5_detail.hpp"
#include "io/label_chunks.hpp"

namespace nc::io {
namespace {

namespace fs = std::filesystem;
using namespace h5;

constexpr const char* kStatusPending = "pending";
constexpr ScanStatus kStatuses[] = {ScanStatus::Pending, ScanStatus::Ok, ScanStatus::Failed};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Writes a map's stored chunks as they are: the workers already filtered them exactly as the
// dataset's pipeline would (io/label_chunks.hpp), so the single writer only copies bytes.
void write_stored_chunks(hid_t ds, const StoredLabels& stored, const std::string& what) {
  if (stored.chunks.size() != label_chunk_count(stored.geometry))
    throw StoreError(what + ": " + std::to_string(stored.chunks.size()) + " chunks for a grid of " +
                     std::to_string(label_chunk_count(stored.geometry)));
  for (std::size_t c = 0; c < stored.chunks.size(); ++c) {
    const auto offset = label_chunk_offset(stored.geometry, c);
    const hsize_t at[3] = {offset[0], offset[1], offset[2]};
    check(H5Dwrite_chunk(ds, H5P_DEFAULT, 0, at, stored.chunks[c].size(), stored.chunks[c].data()), what);
  }
}

// True when the dataset's chunks are in neurocohort's stored form (every neurocohort writer
// makes them so; a file written by another tool may filter differently).
bool holds_stored_form(hid_t ds, const Geometry& grid) {
  const Handle type(check(H5Dget_type(ds), "get type of a label map"), H5Tclose);
  if (H5Tequal(type.get(), H5T_STD_U8LE) <= 0 && H5Tequal(type.get(), H5T_STD_U16LE) <= 0) return false;
  const Handle dcpl(check(H5Dget_create_plist(ds), "get dataset properties"), H5Pclose);
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED || H5Pget_nfilters(dcpl.get()) != 3) return false;
  const H5Z_filter_t expected[3] = {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE, H5Z_FILTER_FLETCHER32};
  for (unsigned f = 0; f < 3; ++f) {
    unsigned flags = 0, config = 0;
    std::size_t values = 1;
    unsigned level = 0;
    if (H5Pget_filter2(dcpl.get(), f, &flags, &values, &level, 0, nullptr, &config) != expected[f]) return false;
  }
  hsize_t chunk[3] = {0, 0, 0};
  if (H5Pget_chunk(dcpl.get(), 3, chunk) != 3) return false;
  const auto want = label_chunk_dims(grid);
  return chunk[0] == want[0] && chunk[1] == want[1] && chunk[2] == want[2];
}

// The grid of a stored label map: its [k][j][i] dims and its geometry attributes.
Geometry label_grid(hid_t ds, const std::string& where) {
  const auto dims = shape(ds);
  if (dims.size() != 3) throw StoreError(where + " is not 3-D");
  if (double(dims[0]) * double(dims[1]) * double(dims[2]) > double(kMaxLabelVoxels) ||
      std::find(dims.begin(), dims.end(), hsize_t{0}) != dims.end())
    throw StoreError(where + " claims " + std::to_string(dims[2]) + "×" + std::to_string(dims[1]) + "×" +
                     std::to_string(dims[0]) + " voxels");
  Geometry g;
  g.size = {std::int64_t(dims[2]), std::int64_t(dims[1]), std::int64_t(dims[0])};
  const auto spacing = read_double_array_attribute(ds, "spacing", 3);
  const auto origin = read_double_array_attribute(ds, "origin", 3);
  const auto direction = read_double_array_attribute(ds, "direction", 9);
  std::copy(spacing.begin(), spacing.end(), g.spacing_mm.begin());
  std::copy(origin.begin(), origin.end(), g.origin_mm.begin());
  std::copy(direction.begin(), direction.end(), g.direction.begin());
  return g;
}

// The stored chunks of a label map, copied raw; nullopt when a chunk is missing or filtered
// otherwise (the caller then decodes through HDF5 and re-encodes).
std::optional<StoredLabels> read_stored_chunks(hid_t ds, const Geometry& grid, bool one_byte) {
  if (!holds_stored_form(ds, grid)) return std::nullopt;
  StoredLabels stored;
  stored.geometry = grid;
  stored.one_byte = one_byte;
  stored.chunks.resize(label_chunk_count(grid));
  for (std::size_t c = 0; c < stored.chunks.size(); ++c) {
    const auto offset = label_chunk_offset(grid, c);
    const hsize_t at[3] = {offset[0], offset[1], offset[2]};
    hsize_t size = 0;
    if (H5Dget_chunk_storage_size(ds, at, &size) < 0 || size == 0) return std::nullopt;
    stored.chunks[c].resize(size);
    std::uint32_t mask = 0;
    check(H5Dread_chunk(ds, H5P_DEFAULT, at, &mask, stored.chunks[c].data()), "read a label chunk");
    if (mask != 0) return std::nullopt;
  }
  return stored;
}

std::vector<Region> read_regions(hid_t file) {
  // Labels are 16-bit, so no table has more regions than that: checked before anything is read.
  constexpr hsize_t kMaxRegions = 65536;
  if (extent(open_dataset(file, "/regions/label").get(), "/regions/label") > kMaxRegions)
    throw StoreError("/regions/label holds more regions than 16-bit labels can name");
  const auto labels = read_number_dataset(open_dataset(file, "/regions/label").get(), "/regions/label");
  const auto names = read_text_dataset(open_dataset(file, "/regions/name").get(), "/regions/name");
  // Another writer may leave the hemisphere out: empty (not recorded) then.
  const auto hemis = H5Lexists(file, "/regions/hemisphere", H5P_DEFAULT) > 0
                         ? read_text_dataset(open_dataset(file, "/regions/hemisphere").get(), "/regions/hemisphere")
                         : std::vector<std::string>(labels.size());
  if (names.size() != labels.size() || hemis.size() != labels.size())
    throw StoreError("not a cohort store: /regions datasets differ in length");
  std::vector<Region> regions;
  std::set<std::string> seen;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    if (!(labels[r] >= 0 && labels[r] <= 65535) || labels[r] != std::floor(labels[r]))
      throw StoreError("/regions/label " + std::to_string(r) + " is not a label in [0, 65535]");
    if (names[r].empty()) throw StoreError("/regions/name " + std::to_string(r) + " is empty");
    if (!seen.insert(names[r] + "\t" + hemis[r]).second)
      throw StoreError("/regions: region " + names[r] + " (" + hemis[r] + ") appears twice");
    regions.push_back({int(labels[r]), names[r], hemis[r]});
  }
  return regions;
}

// Every dataset a reader indexes by row or region has exactly the extent the tables imply, so
// that no later read can run past a buffer or pair a value with another scan.
void validate_layout(hid_t file, std::size_t scans, std::size_t regions, const std::vector<std::string>& metrics) {
  for (const auto& column : group_members(file, "/scans")) {
    const std::string path = "/scans/" + column;
    require_shape(open_dataset(file, path).get(), {scans}, path, "one value per scan");
  }
  for (const auto& metric : metrics) {
    const std::string path = "/metrics/" + metric;
    require_shape(open_dataset(file, path).get(), {scans, regions}, path, "scans × regions");
  }
}

// The QC measures of an existing store, told apart by rank and checked against the tables' extents.
QcLayout read_qc_layout(hid_t file, std::size_t scans, std::size_t regions) {
  QcLayout layout;
  if (H5Lexists(file, "/qc", H5P_DEFAULT) <= 0) return layout;
  for (const auto& name : group_members(file, "/qc")) {
    const std::string path = "/qc/" + name;
    const Handle ds = open_dataset(file, path);
    if (shape(ds.get()).size() == 2) {
      require_shape(ds.get(), {scans, regions}, path, "scans × regions");
      layout.per_region.push_back(name);
    } else {
      require_shape(ds.get(), {scans}, path, "one value per scan");
      layout.per_scan.push_back(name);
    }
  }
  return layout;
}

// A float64 [dims] dataset of NaN rows, written row by row as scans finish.
void create_row_dataset(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
                        const std::string& what) {
  const Handle space = simple_space(dims, Rows::Extendable);
  const Handle dcpl = row_dataset_properties(dims, H5T_NATIVE_DOUBLE, &kNaN);
  Handle ds(check(H5Dcreate2(group, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  "create " + what),
            H5Dclose);
}

// The stages of an existing store's /timing, its datasets checked against the scan count.
std::vector<std::string> read_stage_names(hid_t file, std::size_t scans) {
  if (H5Lexists(file, "/timing", H5P_DEFAULT) <= 0) return {};
  auto names = read_text_dataset(open_dataset(file, "/timing/stages").get(), "/timing/stages");
  for (const char* name : {"/timing/started_at", "/timing/finished_at"})
    require_shape(open_dataset(file, name).get(), {scans}, name, "one value per scan");
  require_shape(open_dataset(file, "/timing/stage_seconds").get(), {scans, names.size()}, "/timing/stage_seconds",
                "scans × stages");
  return names;
}

const std::vector<std::string> kRecordColumns = {"status", "error", "icv_ml", "seconds", "host", "rank"};

}  // namespace

bool QcLayout::operator==(const QcLayout& other) const {
  const auto sorted = [](std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
  };
  return sorted(per_scan) == sorted(other.per_scan) && sorted(per_region) == sorted(other.per_region);
}

std::size_t TableColumn::size() const {
  return std::visit([](const auto& v) { return v.size(); }, values);
}

namespace {

// A POSIX record lock on the results file, held by the process that writes it. Independent
// of HDF5's own flock (which HDF5_USE_FILE_LOCKING=FALSE, common on cluster filesystems,
// turns off), so that --overwrite can tell a live writer from a stale file.
class WriterLock {
 public:
  WriterLock() = default;
  explicit WriterLock(const fs::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CLOEXEC)) {
    if (fd_ < 0) throw StoreError(path.string() + ": cannot open for locking (" + std::strerror(errno) + ")");
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    if (::fcntl(fd_, F_SETLK, &lock) != 0) {
      ::close(fd_);
      fd_ = -1;
      throw StoreError(path.string() + ": another process is writing this results file");
    }
    struct stat st {};
    ::fstat(fd_, &st);
    device_ = st.st_dev;
    inode_ = st.st_ino;
  }
  WriterLock(WriterLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)), device_(o.device_), inode_(o.inode_) {}
  WriterLock& operator=(WriterLock&& o) noexcept {
    std::swap(fd_, o.fd_);
    device_ = o.device_;
    inode_ = o.inode_;
    return *this;
  }
  ~WriterLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool held() const { return fd_ >= 0; }
  /// False when `path` no longer names the file this lock is on (removed, or replaced).
  bool still_names(const fs::path& path) const {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_;
  }

 private:
  int fd_ = -1;
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace

std::optional<long> CohortStore::writer_of(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  const bool asked = ::fcntl(fd, F_GETLK, &lock) == 0;
  ::close(fd);
  if (!asked || lock.l_type == F_UNLCK) return std::nullopt;
  return long(lock.l_pid);
}

struct CohortStore::Impl {
  Handle file;
  fs::path path;
  WriterLock lock;  ///< held in read-write mode
  std::vector<std::string> scan_ids;
  std::vector<Region> regions;
  std::vector<std::string> metric_names;
  QcLayout qc;
  std::vector<std::string> stage_names;
};

CohortStore::CohortStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CohortStore::CohortStore(CohortStore&&) noexcept = default;
CohortStore& CohortStore::operator=(CohortStore&&) noexcept = default;
CohortStore::~CohortStore() = default;

CohortStore CohortStore::create(const fs::path& path, const std::vector<TableColumn>& scans,
                                const std::vector<Region>& regions, const std::vector<std::string>& metric_names,
                                const Provenance& provenance, const QcLayout& qc,
                                const std::vector<std::string>& stage_names) {
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
    const Handle space = simple_space({labels.size()}, Rows::Fixed);
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
  for (const auto& m : metric_names) create_row_dataset(metrics_group.get(), m, {n, regions.size()}, "/metrics/" + m);
  const Handle qc_group = create_group(file, "qc");
  for (const auto& m : qc.per_scan) create_row_dataset(qc_group.get(), m, {n}, "/qc/" + m);
  for (const auto& m : qc.per_region) create_row_dataset(qc_group.get(), m, {n, regions.size()}, "/qc/" + m);
  if (!stage_names.empty()) {
    const Handle timing_group = create_group(file, "timing");
    write_text_column(timing_group.get(), "stages", stage_names);
    create_row_dataset(timing_group.get(), "started_at", {n}, "/timing/started_at");
    create_row_dataset(timing_group.get(), "finished_at", {n}, "/timing/finished_at");
    create_row_dataset(timing_group.get(), "stage_seconds", {n, stage_names.size()}, "/timing/stage_seconds");
  }
  create_group(file, "labels");
  for (const auto& [key, value] : provenance) write_text_attribute(file, key, value);
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + path.string());
  impl->lock = WriterLock(path);

  impl->scan_ids = ids;
  impl->regions = regions;
  impl->metric_names = metric_names;
  impl->qc = qc;
  impl->stage_names = stage_names;
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
    // A results file another tool wrote (h5py from a study's own tables) may lack the columns
    // only `run` writes; it can be read, never resumed.
    if (mode == Mode::ReadWrite)
      for (const auto& column : kRecordColumns) open_dataset(file, "/scans/" + column);
    validate_layout(file, impl->scan_ids.size(), impl->regions.size(), impl->metric_names);
    impl->qc = read_qc_layout(file, impl->scan_ids.size(), impl->regions.size());
    impl->stage_names = read_stage_names(file, impl->scan_ids.size());
  } catch (const StoreError& e) {
    throw StoreError(path.string() + ": " + e.what());
  } catch (const std::bad_alloc&) {
    throw StoreError(path.string() + ": a dataset is too large to read (a damaged file?)");
  }
  if (mode == Mode::ReadWrite) impl->lock = WriterLock(path);
  return CohortStore(std::move(impl));
}

std::size_t CohortStore::scan_count() const { return impl_->scan_ids.size(); }
const std::vector<std::string>& CohortStore::scan_ids() const { return impl_->scan_ids; }
const std::vector<Region>& CohortStore::regions() const { return impl_->regions; }
const std::vector<std::string>& CohortStore::metric_names() const { return impl_->metric_names; }
std::vector<std::string> CohortStore::scan_columns() const { return group_members(impl_->file.get(), "/scans"); }
const QcLayout& CohortStore::qc_layout() const { return impl_->qc; }
const std::vector<std::string>& CohortStore::stage_names() const { return impl_->stage_names; }

bool CohortStore::has_scan_column(const std::string& name) const {
  return H5Lexists(impl_->file.get(), ("/scans/" + name).c_str(), H5P_DEFAULT) > 0;
}

const char* status_name(ScanStatus status) {
  switch (status) {
    case ScanStatus::Pending:
      return kStatusPending;
    case ScanStatus::Ok:
      return "ok";
    case ScanStatus::Failed:
      return "failed";
  }
  return "?";
}

StatusCounts count_statuses(const std::vector<ScanStatus>& statuses) {
  StatusCounts counts;
  for (const ScanStatus s : statuses) {
    if (s == ScanStatus::Ok)
      ++counts.ok;
    else if (s == ScanStatus::Failed)
      ++counts.failed;
    else
      ++counts.pending;
  }
  return counts;
}

// Without a status column every row is a finished result (a store another tool wrote).
std::vector<ScanStatus> CohortStore::statuses() const {
  if (!has_scan_column("status")) return std::vector<ScanStatus>(scan_count(), ScanStatus::Ok);
  const auto texts = read_text_column("status");
  std::vector<ScanStatus> statuses;
  statuses.reserve(texts.size());
  for (std::size_t r = 0; r < texts.size(); ++r) {
    const auto known = std::find_if(std::begin(kStatuses), std::end(kStatuses),
                                    [&](ScanStatus s) { return texts[r] == status_name(s); });
    if (known == std::end(kStatuses))
      throw StoreError(impl_->path.string() + ": scan " + impl_->scan_ids[r] + " has status '" + texts[r] +
                       "'; a status is ok, failed or pending");
    statuses.push_back(*known);
  }
  return statuses;
}

void CohortStore::write(const ScanRecord& record) {
  const hid_t file = impl_->file.get();
  if (impl_->lock.held() && !impl_->lock.still_names(impl_->path))
    throw StoreError(impl_->path.string() +
                         ": the results file was removed or replaced by another process while this run wrote it; "
                         "records from here on would be lost, so the run stops",
                     Cause::Runtime);
  if (record.row >= scan_count())
    throw StoreError(impl_->path.string() + ": row " + std::to_string(record.row) + " is out of range");
  const std::string& scan_id = impl_->scan_ids[record.row];
  const hsize_t regions = impl_->regions.size();

  // Label map first, status last: a row reads "ok" only once everything it owns is written.
  const std::string label_path = "/labels/" + scan_id;
  if (H5Lexists(file, label_path.c_str(), H5P_DEFAULT) > 0)
    check(H5Ldelete(file, label_path.c_str(), H5P_DEFAULT), "replace " + label_path);
  if (record.labels) {
    const StoredLabels& labels = *record.labels;
    const Geometry& g = labels.geometry;
    // Stored C-order as [k][j][i], the memory order of Volume, so h5py sees array[k, j, i].
    const auto dims = label_dataset_dims(g), chunk = label_chunk_dims(g);
    const Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "create properties"), H5Pclose);
    const hsize_t chunk_dims[3] = {chunk[0], chunk[1], chunk[2]};
    check(H5Pset_chunk(dcpl.get(), 3, chunk_dims), "set chunking");
    check(H5Pset_shuffle(dcpl.get()), "set shuffle");
    check(H5Pset_deflate(dcpl.get(), kLabelDeflateLevel), "set compression");
    check(H5Pset_fletcher32(dcpl.get()), "set checksums");
    const Handle space = simple_space({dims[0], dims[1], dims[2]}, Rows::Fixed);
    const Handle ds(check(H5Dcreate2(file, label_path.c_str(), labels.one_byte ? H5T_STD_U8LE : H5T_STD_U16LE,
                                     space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                          "create " + label_path),
                    H5Dclose);
    write_stored_chunks(ds.get(), labels, "write " + label_path);
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
  write_qc_row(record);
  write_timing_row(record);

  write_row_values(file, "/scans/icv_ml", record.row, H5T_NATIVE_DOUBLE, &record.icv_ml, 1);
  write_row_values(file, "/scans/seconds", record.row, H5T_NATIVE_DOUBLE, &record.seconds, 1);
  write_row_values(file, "/scans/rank", record.row, H5T_NATIVE_INT, &record.rank, 1);
  write_row_text(file, "/scans/host", record.row, record.host);
  write_row_text(file, "/scans/error", record.row, record.ok ? std::string() : record.error);
  write_row_text(file, "/scans/status", record.row, status_name(record.ok ? ScanStatus::Ok : ScanStatus::Failed));
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), "flush " + impl_->path.string());
}

namespace {

// A whole float64 dataset of `count` values, row-major (its shape was checked when opened).
std::vector<double> read_all_values(hid_t ds, const std::string& path, std::size_t count) {
  std::vector<double> values(count);
  if (!values.empty())
    check(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read " + path);
  return values;
}

}  // namespace

void CohortStore::write_timing_row(const ScanRecord& record) {
  const std::size_t stages = impl_->stage_names.size();
  if (stages == 0) return;
  if (!record.stage_seconds.empty() && record.stage_seconds.size() != stages)
    throw StoreError(impl_->path.string() + ": a record times " + std::to_string(record.stage_seconds.size()) +
                     " stages; the store has " + std::to_string(stages));
  const hid_t file = impl_->file.get();
  const std::vector<double> seconds =
      record.stage_seconds.empty() ? std::vector<double>(stages, kNaN) : record.stage_seconds;
  write_row_values(file, "/timing/stage_seconds", record.row, H5T_NATIVE_DOUBLE, seconds.data(), stages);
  write_row_values(file, "/timing/started_at", record.row, H5T_NATIVE_DOUBLE, &record.started_at, 1);
  write_row_values(file, "/timing/finished_at", record.row, H5T_NATIVE_DOUBLE, &record.finished_at, 1);
}

std::vector<double> CohortStore::read_timing(const std::string& name) const {
  const std::size_t stages = impl_->stage_names.size();
  if (stages == 0)
    throw StoreError(impl_->path.string() +
                     ": the results file has no /timing (written by an older "
                     "neurocohort or another tool)");
  if (name != "started_at" && name != "finished_at" && name != "stage_seconds")
    throw StoreError(impl_->path.string() + ": no timing dataset " + name);
  const std::string path = "/timing/" + name;
  return read_all_values(open_dataset(impl_->file.get(), path).get(), path,
                         scan_count() * (name == "stage_seconds" ? stages : 1));
}

void CohortStore::write_qc_row(const ScanRecord& record) {
  const hid_t file = impl_->file.get();
  const auto write_measures = [&](const std::vector<std::string>& names, hsize_t count) {
    for (const auto& name : names) {
      const auto found = record.qc.find(name);
      const std::vector<double> values = found != record.qc.end() ? found->second : std::vector<double>(count, kNaN);
      if (values.size() != count)
        throw StoreError(impl_->path.string() + ": QC measure " + name + " has " + std::to_string(values.size()) +
                         " values, the store takes " + std::to_string(count));
      if (count > 0) write_row_values(file, "/qc/" + name, record.row, H5T_NATIVE_DOUBLE, values.data(), count);
    }
  };
  write_measures(impl_->qc.per_scan, 1);
  write_measures(impl_->qc.per_region, impl_->regions.size());
  const auto known = [&](const std::string& name) {
    for (const auto* names : {&impl_->qc.per_scan, &impl_->qc.per_region})
      if (std::find(names->begin(), names->end(), name) != names->end()) return true;
    return false;
  };
  for (const auto& [name, values] : record.qc)
    if (!known(name)) throw StoreError(impl_->path.string() + ": the store has no QC measure " + name);
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
  try {
    require_shape(ds.get(), {scan_count(), impl_->regions.size()}, path, "scans × regions");
  } catch (const StoreError& e) {
    throw StoreError(impl_->path.string() + ": " + e.what());
  }
  return read_all_values(ds.get(), path, scan_count() * impl_->regions.size());
}

std::vector<double> CohortStore::read_qc(const std::string& name) const {
  const QcLayout& qc = impl_->qc;
  const bool per_region = std::find(qc.per_region.begin(), qc.per_region.end(), name) != qc.per_region.end();
  if (!per_region && std::find(qc.per_scan.begin(), qc.per_scan.end(), name) == qc.per_scan.end())
    throw StoreError(impl_->path.string() + ": no QC measure " + name);
  const std::string path = "/qc/" + name;
  return read_all_values(open_dataset(impl_->file.get(), path).get(), path,
                         scan_count() * (per_region ? impl_->regions.size() : 1));
}

std::optional<LabelVolume> CohortStore::read_labels(const std::string& scan_id) const {
  const hid_t file = impl_->file.get();
  const std::string path = "/labels/" + scan_id;
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  const Handle ds = open_dataset(file, path);
  const std::string where = impl_->path.string() + ": " + path;
  LabelVolume labels(label_grid(ds.get(), where));
  const Handle type(check(H5Dget_type(ds.get()), "get type of " + path), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Tget_size(type.get()) > 4)
    throw StoreError(where + " is not an integer label map");
  if (H5Tequal(type.get(), H5T_STD_U8LE) > 0 || H5Tequal(type.get(), H5T_STD_U16LE) > 0) {
    check(H5Dread(ds.get(), H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.voxels.data()), "read " + path);
    return labels;
  }
  // Another writer's integer type: read wide, so that a negative or too large label is an error,
  // not a value HDF5's conversion clipped.
  std::vector<std::int64_t> wide(labels.voxels.size());
  check(H5Dread(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide.data()), "read " + path);
  for (std::size_t v = 0; v < wide.size(); ++v) {
    if (wide[v] < 0 || wide[v] > 65535)
      throw StoreError(where + ": label " + std::to_string(wide[v]) + " is outside [0, 65535]");
    labels.voxels[v] = std::uint16_t(wide[v]);
  }
  return labels;
}

std::optional<StoredLabels> CohortStore::read_stored_labels(const std::string& scan_id) const {
  const hid_t file = impl_->file.get();
  const std::string path = "/labels/" + scan_id;
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  const Handle ds = open_dataset(file, path);
  const Geometry grid = label_grid(ds.get(), impl_->path.string() + ": " + path);
  const Handle type(check(H5Dget_type(ds.get()), "get type of " + path), H5Tclose);
  if (auto raw = read_stored_chunks(ds.get(), grid, H5Tequal(type.get(), H5T_STD_U8LE) > 0)) return raw;
  return to_stored_form(*read_labels(scan_id));  // another writer's filters: decode, re-encode
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
  const Handle mem_space = simple_space({std::max<hsize_t>(count, 1)}, Rows::Fixed);
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
  const Handle mem_space = simple_space({1}, Rows::Fixed);
  char* ptr = nullptr;
  check(H5Dread(ds.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, &ptr), "read " + path);
  std::string value = ptr ? ptr : "";
  H5Dvlen_reclaim(type.get(), mem_space.get(), H5P_DEFAULT, &ptr);
  return value;
}

}  // namespace

ScanRecord CohortStore::read_record(std::size_t row) const {
  if (row >= scan_count()) throw StoreError(impl_->path.string() + ": row " + std::to_string(row) + " is out of range");
  const hid_t file = impl_->file.get();
  ScanRecord record;
  record.row = row;
  // Columns another writer left out read as a finished scan of unknown time and place.
  const auto text_or = [&](const char* column, const std::string& fallback) {
    return has_scan_column(column) ? read_row_text(file, std::string("/scans/") + column, row) : fallback;
  };
  const auto number_or_nan = [&](const char* column) {
    return has_scan_column(column) ? read_row_values(file, std::string("/scans/") + column, row, 1)[0] : kNaN;
  };
  record.ok = text_or("status", status_name(ScanStatus::Ok)) == status_name(ScanStatus::Ok);
  record.error = text_or("error", "");
  record.host = text_or("host", "");
  record.icv_ml = number_or_nan("icv_ml");
  record.seconds = number_or_nan("seconds");
  const double rank = number_or_nan("rank");
  record.rank = std::isfinite(rank) && std::abs(rank) < 1e9 ? int(rank) : -1;  // -1: unknown, as never written
  for (const auto& name : impl_->metric_names)
    record.metrics[name] = read_row_values(file, "/metrics/" + name, row, impl_->regions.size());
  for (const auto& name : impl_->qc.per_scan) record.qc[name] = read_row_values(file, "/qc/" + name, row, 1);
  if (!impl_->stage_names.empty()) {
    record.started_at = read_row_values(file, "/timing/started_at", row, 1)[0];
    record.finished_at = read_row_values(file, "/timing/finished_at", row, 1)[0];
    record.stage_seconds = read_row_values(file, "/timing/stage_seconds", row, impl_->stage_names.size());
  }
  for (const auto& name : impl_->qc.per_region)
    record.qc[name] = read_row_values(file, "/qc/" + name, row, impl_->regions.size());
  record.labels = read_stored_labels(impl_->scan_ids[row]);
  return record;
}

}  // namespace nc::io
