#include "io/cohort_store.hpp"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

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

namespace nc::io {
namespace {

namespace fs = std::filesystem;
using namespace h5;

constexpr const char* kStatusPending = "pending";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kLabelDeflateLevel = 4;
// No label map larger than the image reader's largest budget is ever written.
constexpr double kMaxStoredLabelVoxels = 4.0 * 1024 * 1024 * 1024;

struct CompressorFree {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

std::uint16_t largest_label(const LabelVolume& labels) {
  return tbb::parallel_reduce(
      tbb::blocked_range<std::size_t>(0, labels.voxels.size()), std::uint16_t{0},
      [&](const tbb::blocked_range<std::size_t>& r, std::uint16_t m) {
        for (std::size_t v = r.begin(); v != r.end(); ++v) m = std::max(m, labels.voxels[v]);
        return m;
      },
      [](std::uint16_t a, std::uint16_t b) { return std::max(a, b); });
}

// HDF5's Fletcher-32 filter, the last of the label pipeline: the checksum of the compressed
// chunk (16-bit words taken big-endian, an odd last byte as the high byte of a word), appended
// little-endian. HDF5 verifies it on every read, so a flipped byte in the file is an error.
void append_fletcher32(std::vector<unsigned char>& chunk) {
  std::uint32_t sum1 = 0, sum2 = 0;
  const std::size_t words = chunk.size() / 2;
  const unsigned char* p = chunk.data();
  for (std::size_t done = 0; done < words;) {
    const std::size_t block = std::min<std::size_t>(360, words - done);  // no overflow within a block
    for (std::size_t w = 0; w < block; ++w, p += 2) {
      sum1 += (std::uint32_t(p[0]) << 8) | p[1];
      sum2 += sum1;
    }
    done += block;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  if (chunk.size() % 2) {
    sum1 += std::uint32_t(*p) << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  const std::uint32_t checksum = (sum2 << 16) | sum1;
  for (int b = 0; b < 4; ++b) chunk.push_back(static_cast<unsigned char>(checksum >> (8 * b)));
}

// One chunk of a label map ([k][j][i] order) as the dataset's filters would leave it: copied
// out with zeros past the volume's edges, byte-shuffled (low bytes first; a no-op for uint8),
// then zlib-compressed and checksummed.
std::vector<unsigned char> filtered_chunk(const LabelVolume& labels, bool as_bytes, const hsize_t offset[3],
                                          const std::vector<hsize_t>& chunk, const std::vector<hsize_t>& dims,
                                          libdeflate_compressor* compressor) {
  const std::int64_t nx = labels.geometry.size[0], ny = labels.geometry.size[1];
  const std::size_t n = std::size_t(chunk[0] * chunk[1] * chunk[2]);
  std::vector<unsigned char> raw(n * (as_bytes ? 1 : 2), 0);
  for (hsize_t k = 0; k < std::min(chunk[0], dims[0] - offset[0]); ++k)
    for (hsize_t j = 0; j < std::min(chunk[1], dims[1] - offset[1]); ++j) {
      const std::uint16_t* src = labels.voxels.data() + std::int64_t(offset[2]) +
                                 nx * (std::int64_t(offset[1] + j) + ny * std::int64_t(offset[0] + k));
      const std::size_t row = std::size_t(chunk[2] * (j + chunk[1] * k));
      for (hsize_t i = 0; i < std::min(chunk[2], dims[2] - offset[2]); ++i) {
        raw[row + i] = static_cast<unsigned char>(src[i] & 0xff);
        if (!as_bytes) raw[n + row + i] = static_cast<unsigned char>(src[i] >> 8);
      }
    }
  std::vector<unsigned char> out(libdeflate_zlib_compress_bound(compressor, raw.size()) + 4);
  out.resize(libdeflate_zlib_compress(compressor, raw.data(), raw.size(), out.data(), out.size()));
  append_fletcher32(out);
  return out;
}

// The label map's chunks, filtered in parallel and stored with H5Dwrite_chunk: HDF5's own filter
// pipeline would compress them one after another on the writer's thread, which is the single
// writer of a whole cohort. Readers see an ordinary shuffle + deflate dataset.
void write_label_chunks(hid_t ds, const LabelVolume& labels, bool as_bytes, const std::vector<hsize_t>& dims,
                        const std::vector<hsize_t>& chunk, const std::string& what) {
  hsize_t grid[3];
  for (int d = 0; d < 3; ++d) grid[d] = (dims[std::size_t(d)] + chunk[std::size_t(d)] - 1) / chunk[std::size_t(d)];
  const auto offset_of = [&](std::size_t c, hsize_t offset[3]) {
    offset[2] = (c % grid[2]) * chunk[2];
    offset[1] = (c / grid[2] % grid[1]) * chunk[1];
    offset[0] = (c / grid[2] / grid[1]) * chunk[0];
  };
  std::vector<std::vector<unsigned char>> filtered(std::size_t(grid[0] * grid[1] * grid[2]));
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, filtered.size()), [&](const tbb::blocked_range<std::size_t>& r) {
    const std::unique_ptr<libdeflate_compressor, CompressorFree> compressor(
        libdeflate_alloc_compressor(kLabelDeflateLevel));
    for (std::size_t c = r.begin(); c != r.end(); ++c) {
      hsize_t offset[3];
      offset_of(c, offset);
      filtered[c] = filtered_chunk(labels, as_bytes, offset, chunk, dims, compressor.get());
    }
  });
  for (std::size_t c = 0; c < filtered.size(); ++c) {
    hsize_t offset[3];
    offset_of(c, offset);
    check(H5Dwrite_chunk(ds, H5P_DEFAULT, 0, offset, filtered[c].size(), filtered[c].data()), what);
  }
}

std::vector<Region> read_regions(hid_t file) {
  const auto labels = read_number_dataset(open_dataset(file, "/regions/label").get(), "/regions/label");
  const auto names = read_text_dataset(open_dataset(file, "/regions/name").get(), "/regions/name");
  const auto hemis = read_text_dataset(open_dataset(file, "/regions/hemisphere").get(), "/regions/hemisphere");
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

const std::vector<std::string> kRecordColumns = {"status", "error", "icv_ml", "seconds", "host", "rank"};

}  // namespace

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
  impl->lock = WriterLock(path);

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
    validate_layout(file, impl->scan_ids.size(), impl->regions.size(), impl->metric_names);
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

std::vector<std::string> CohortStore::statuses() const { return read_text_column("status"); }

void CohortStore::write(const ScanRecord& record) {
  const hid_t file = impl_->file.get();
  if (impl_->lock.held() && !impl_->lock.still_names(impl_->path))
    throw StoreError(impl_->path.string() +
                     ": the results file was removed or replaced by another process while this run wrote it; "
                     "records from here on would be lost, so the run stops");
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
    check(H5Pset_deflate(dcpl.get(), kLabelDeflateLevel), "set compression");
    check(H5Pset_fletcher32(dcpl.get()), "set checksums");
    const bool fits_in_byte = largest_label(labels) < 256;
    const Handle space = simple_space(dims, false);
    const Handle ds(check(H5Dcreate2(file, label_path.c_str(), fits_in_byte ? H5T_STD_U8LE : H5T_STD_U16LE, space.get(),
                                     H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                          "create " + label_path),
                    H5Dclose);
    write_label_chunks(ds.get(), labels, fits_in_byte, dims, chunk, "write " + label_path);
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
  try {
    require_shape(ds.get(), {scan_count(), impl_->regions.size()}, path, "scans × regions");
  } catch (const StoreError& e) {
    throw StoreError(impl_->path.string() + ": " + e.what());
  }
  std::vector<double> values(scan_count() * impl_->regions.size());
  if (!values.empty())
    check(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read " + path);
  return values;
}

std::optional<LabelVolume> CohortStore::read_labels(const std::string& scan_id) const {
  const hid_t file = impl_->file.get();
  const std::string path = "/labels/" + scan_id;
  if (H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
  const Handle ds = open_dataset(file, path);
  const auto dims = shape(ds.get());
  if (dims.size() != 3) throw StoreError(impl_->path.string() + ": " + path + " is not 3-D");
  if (double(dims[0]) * double(dims[1]) * double(dims[2]) > double(kMaxStoredLabelVoxels))
    throw StoreError(impl_->path.string() + ": " + path + " claims " + std::to_string(dims[2]) + "×" +
                     std::to_string(dims[1]) + "×" + std::to_string(dims[0]) + " voxels, more than any scan");
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
  if (row >= scan_count()) throw StoreError(impl_->path.string() + ": row " + std::to_string(row) + " is out of range");
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
