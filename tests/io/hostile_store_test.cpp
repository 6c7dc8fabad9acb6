// Results files edited by someone else: every dataset a reader indexes by scan or region must
// have the extent the tables imply. Each case here once crashed `norms build`, `norms score` or
// `agree` (a heap overflow in read_metric) or paired values with the wrong scan.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "tests/support/store_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace nc::io {
namespace {

using test::TempDir;

// A 3-scan store (3 regions) with one record, then `edit` applied through the HDF5 C API.
std::filesystem::path tampered_store(const TempDir& dir, const std::function<void(hid_t)>& edit) {
  const auto path = dir / "r.h5";
  {
    auto store = CohortStore::create(path, test::test_scan_table(3), test::test_regions(), test::test_metrics(), {},
                                     test::test_qc_layout());
    store.write(test::test_record(1));
  }
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  EXPECT_GE(file, 0);
  edit(file);
  H5Fclose(file);
  return path;
}

void replace_with_doubles(hid_t file, const char* path, std::vector<hsize_t> dims) {
  H5Ldelete(file, path, H5P_DEFAULT);
  const hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  const hid_t ds = H5Dcreate2(file, path, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  const std::vector<double> values(n, 1.0);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(ds);
  H5Sclose(space);
}

void replace_with_text(hid_t file, const char* path, const std::vector<std::string>& values) {
  H5Ldelete(file, path, H5P_DEFAULT);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hsize_t n = values.size();
  const hid_t space = H5Screate_simple(1, &n, nullptr);
  const hid_t ds = H5Dcreate2(file, path, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
  H5Dclose(ds);
  H5Sclose(space);
  H5Tclose(type);
}

// Opens the store and reads what norms and agree read; the first StoreError is the answer.
std::string first_error(const std::filesystem::path& path) {
  try {
    const auto store = CohortStore::open(path, CohortStore::Mode::ReadOnly);
    for (const auto& m : store.metric_names()) store.read_metric(m);
    store.read_number_column("age");
    store.read_record(1);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

TEST(HostileStore, MetricWithExtraColumnsIsRefusedNotOverrun) {
  TempDir dir;
  const auto error = first_error(tampered_store(dir, [](hid_t f) {
    replace_with_doubles(f, "/metrics/volume_ml", {3, 7});
  }));
  EXPECT_NE(error.find("/metrics/volume_ml has shape 3×7, expected 3×3"), std::string::npos) << error;
}

TEST(HostileStore, MetricWithAThirdAxisIsRefused) {
  TempDir dir;
  const auto error = first_error(tampered_store(dir, [](hid_t f) {
    replace_with_doubles(f, "/metrics/dice", {3, 3, 4});
  }));
  EXPECT_NE(error.find("/metrics/dice has shape 3×3×4"), std::string::npos) << error;
}

TEST(HostileStore, ShortOrOneDimensionalMetricsAreRefused) {
  for (const std::vector<hsize_t>& dims : {std::vector<hsize_t>{2, 3}, {3, 2}, {9}, {}}) {
    TempDir dir;
    const auto error = first_error(tampered_store(dir, [&](hid_t f) {
      if (dims.empty()) {
        H5Ldelete(f, "/metrics/volume_ml", H5P_DEFAULT);
        const hid_t space = H5Screate(H5S_SCALAR);
        H5Dclose(H5Dcreate2(f, "/metrics/volume_ml", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Sclose(space);
      } else {
        replace_with_doubles(f, "/metrics/volume_ml", dims);
      }
    }));
    EXPECT_NE(error.find("/metrics/volume_ml has shape"), std::string::npos) << dims.size() << ": " << error;
  }
}

TEST(HostileStore, QcMeasuresOfAnotherShapeAreRefused) {
  TempDir dir;
  EXPECT_NE(first_error(tampered_store(dir, [](hid_t f) { replace_with_doubles(f, "/qc/components", {3, 7}); }))
                .find("/qc/components has shape 3×7, expected 3×3"),
            std::string::npos);
  TempDir dir2;
  EXPECT_NE(first_error(tampered_store(dir2, [](hid_t f) { replace_with_doubles(f, "/qc/qc_seconds", {4}); }))
                .find("/qc/qc_seconds has shape 4, expected 3"),
            std::string::npos);
}

TEST(HostileStore, ScanColumnsOfAnotherLengthAreRefused) {
  TempDir dir;
  EXPECT_NE(first_error(tampered_store(dir, [](hid_t f) { replace_with_doubles(f, "/scans/age", {2}); }))
                .find("/scans/age has shape 2, expected 3 (one value per scan)"),
            std::string::npos);
  TempDir dir2;
  EXPECT_NE(first_error(tampered_store(dir2,
                                       [](hid_t f) {
                                         replace_with_doubles(f, "/scans/age", {3, 2});
                                       }))
                .find("/scans/age"),
            std::string::npos);
  TempDir dir3;  // text where numbers belong
  EXPECT_NE(first_error(tampered_store(dir3,
                                       [](hid_t f) {
                                         replace_with_text(f, "/scans/age", {"a", "b", "c"});
                                       }))
                .find("/scans/age is not numeric"),
            std::string::npos);
}

TEST(HostileStore, EmptyOrDuplicateRegionNamesAreRefused) {
  TempDir dir;
  EXPECT_NE(first_error(tampered_store(dir,
                                       [](hid_t f) {
                                         replace_with_text(f, "/regions/name", {"a", "", "c"});
                                       }))
                .find("is empty"),
            std::string::npos);
  TempDir dir2;
  EXPECT_NE(first_error(tampered_store(dir2,
                                       [](hid_t f) {
                                         replace_with_text(f, "/regions/name", {"x", "x", "c"});
                                         replace_with_text(f, "/regions/hemisphere", {"L", "L", "-"});
                                       }))
                .find("appears twice"),
            std::string::npos);
}

TEST(HostileStore, LabelMapAttributesOfTheWrongLengthAreRefused) {
  TempDir dir;
  const auto error = first_error(tampered_store(dir, [](hid_t f) {
    const hid_t ds = H5Dopen2(f, "/labels/sub-101", H5P_DEFAULT);
    H5Adelete(ds, "direction");
    const hsize_t n = 2;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const double values[2] = {1, 0};
    const hid_t attr = H5Acreate2(ds, "direction", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_DOUBLE, values);
    H5Aclose(attr);
    H5Sclose(space);
    H5Dclose(ds);
  }));
  EXPECT_NE(error.find("direction does not hold 9 values"), std::string::npos) << error;
}

// Found by the structure-aware store fuzzer (tests/fuzz): a root attribute that is a text
// array overran the single pointer read_text_attribute gave HDF5 (merge and resume read it).
TEST(HostileStore, TextArrayAttributeIsRefusedNotOverrun) {
  TempDir dir;
  const auto path = tampered_store(dir, [](hid_t f) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    const hsize_t n = 64;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    std::vector<const char*> values(n, "2026-12-01T00:00:00Z");
    const hid_t attr = H5Acreate2(f, "end_time", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, type, values.data());
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
  });
  const auto store = CohortStore::open(path, CohortStore::Mode::ReadOnly);
  EXPECT_THROW(store.attribute("end_time"), StoreError);
}

// Rewrites /labels/sub-101 with `type` and the given voxels, without neurocohort's filters.
void replace_label_map(hid_t f, hid_t type, const std::vector<std::int32_t>& voxels) {
  H5Ldelete(f, "/labels/sub-101", H5P_DEFAULT);
  const hsize_t dims[3] = {3, 4, 5};
  const hid_t space = H5Screate_simple(3, dims, nullptr);
  const hid_t ds = H5Dcreate2(f, "/labels/sub-101", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, voxels.data());
  const double spacing[3] = {1, 1, 1.5}, origin[3] = {0, 0, 0}, direction[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  const std::pair<const char*, std::pair<const double*, hsize_t>> attrs[3] = {
      {"spacing", {spacing, 3}}, {"origin", {origin, 3}}, {"direction", {direction, 9}}};
  for (const auto& [name, values] : attrs) {
    const hid_t s = H5Screate_simple(1, &values.second, nullptr);
    const hid_t a = H5Acreate2(ds, name, H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, values.first);
    H5Aclose(a);
    H5Sclose(s);
  }
  H5Dclose(ds);
  H5Sclose(space);
}

// Found by the fuzzer: chunks of another writer's label map (big-endian uint16, signed, float)
// were copied raw as if in neurocohort's stored form, and merge wrote 1, 2, 3 as 256, 512, 768.
TEST(HostileStore, OtherWritersLabelTypesAreDecodedOrRefused) {
  std::vector<std::int32_t> voxels(60);
  for (std::size_t v = 0; v < voxels.size(); ++v) voxels[v] = std::int32_t(v % 4);
  TempDir dir;
  const auto path = tampered_store(dir, [&](hid_t f) { replace_label_map(f, H5T_STD_U16BE, voxels); });
  const auto stored = CohortStore::open(path, CohortStore::Mode::ReadOnly).read_stored_labels("sub-101");
  ASSERT_TRUE(stored.has_value());
  const LabelVolume back = from_stored_form(*stored);
  EXPECT_EQ(std::vector<std::int32_t>(back.voxels.begin(), back.voxels.end()), voxels);
  voxels[7] = -1;
  TempDir dir2;
  const auto signed_path = tampered_store(dir2, [&](hid_t f) { replace_label_map(f, H5T_STD_I16LE, voxels); });
  EXPECT_THROW(CohortStore::open(signed_path, CohortStore::Mode::ReadOnly).read_labels("sub-101"), StoreError);
  TempDir dir3;
  const auto float_path = tampered_store(dir3, [&](hid_t f) { replace_label_map(f, H5T_IEEE_F64LE, voxels); });
  EXPECT_THROW(CohortStore::open(float_path, CohortStore::Mode::ReadOnly).read_record(1), StoreError);
}

// Found by the fuzzer: a NaN rank (a float column written by h5py) was cast to int.
TEST(HostileStore, NonIntegerRankReadsAsUnknown) {
  TempDir dir;
  const auto path = tampered_store(dir, [](hid_t f) {
    H5Ldelete(f, "/scans/rank", H5P_DEFAULT);
    const hsize_t n = 3;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t ds = H5Dcreate2(f, "/scans/rank", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const double values[3] = {0, std::nan(""), 1e300};
    H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(ds);
    H5Sclose(space);
  });
  const auto store = CohortStore::open(path, CohortStore::Mode::ReadOnly);
  EXPECT_EQ(store.read_record(1).rank, -1);
  EXPECT_EQ(store.read_record(2).rank, -1);
}

// Flips one byte inside the first stored chunk of `dataset`, as a failing disk would.
void flip_byte_in_first_chunk(const std::filesystem::path& path, const char* dataset) {
  haddr_t address = 0;
  hsize_t size = 0;
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t ds = H5Dopen2(file, dataset, H5P_DEFAULT);
    const hid_t space = H5Dget_space(ds);
    hsize_t offset[3];
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info(ds, space, 0, offset, &mask, &address, &size), 0);
    H5Sclose(space);
    H5Dclose(ds);
    H5Fclose(file);
  }
  ASSERT_GT(size, 8u);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(std::streamoff(address + size / 2));
  char byte = 0;
  f.read(&byte, 1);
  byte = char(byte ^ 0x10);
  f.seekp(std::streamoff(address + size / 2));
  f.write(&byte, 1);
}

TEST(StoreIntegrity, FlippedByteInALabelMapIsAnErrorNotAValue) {
  TempDir dir;
  const auto path = tampered_store(dir, [](hid_t) {});
  ASSERT_TRUE(CohortStore::open(path, CohortStore::Mode::ReadOnly).read_labels("sub-101").has_value());
  flip_byte_in_first_chunk(path, "/labels/sub-101");
  EXPECT_THROW(CohortStore::open(path, CohortStore::Mode::ReadOnly).read_labels("sub-101"), StoreError);
}

TEST(StoreIntegrity, FlippedByteInAMetricIsAnErrorNotAValue) {
  TempDir dir;
  const auto path = tampered_store(dir, [](hid_t) {});
  EXPECT_EQ(CohortStore::open(path, CohortStore::Mode::ReadOnly).read_metric("volume_ml")[3], 11.0);
  flip_byte_in_first_chunk(path, "/metrics/volume_ml");
  EXPECT_THROW(CohortStore::open(path, CohortStore::Mode::ReadOnly).read_metric("volume_ml"), StoreError);
}

}  // namespace
}  // namespace nc::io
