// libFuzzer target, structure-aware: the input does not become the file's bytes but decides
// (through FuzzedDataProvider) how a *valid* HDF5 file is written with the HDF5 C API, in the
// shape of a cohort store (docs/hdf5-schema.md) as another tool might write it: /scans,
// /regions, /metrics and /labels present, missing, or something else (a dataset, a link); each
// dataset's rank (0-4, or a null dataspace), extents (at most kMaxElements elements; or none,
// beside an extent up to 2^64-2), element type (float64, int32, uint8, variable- and
// fixed-length strings, and the types of other writers: big-endian float32 and uint16, int8,
// int64, uint16, ASCII strings, h5py's enum bool, a compound, an array), layout (neurocohort's
// own, contiguous, compact, chunked with shuffle/deflate/Fletcher-32 in any order, extendable),
// values (NaN, inf, out-of-range numbers, empty, duplicate and odd names), missing or extra
// datasets, groups and links (soft, dangling, hard, external); label maps under
// /labels/<scan_id> of any rank, shape and type, mostly in neurocohort's stored form (chunks of
// min(64, extent), shuffle + deflate + Fletcher-32), with `spacing`, `origin` and `direction`
// attributes of any length, rank and type; attributes of any type and rank on the root and on
// datasets; the file format (earliest, 1.8 or latest), a user block, dense link and attribute
// storage. Value 0 of every choice is the schema's, so a short input writes a valid store.
//
// Then the reads of fuzz_store.cpp: CohortStore::open read-only, every /scans column as text and
// as numbers, every metric, statuses, read_scan_table, read_record of each row; and read_labels
// and read_stored_labels of each scan id, and the root attributes that a resume and a merge
// read. A file HDF5 itself wrote is well-formed, so what this finds is neurocohort's own
// validation of valid-but-wrong stores: only nc::Error may come out; a crash, a sanitizer
// report, a leak (memory, or an HDF5 identifier left open), any other exception, or a label map
// whose stored form (what records and merges carry) does not decode to the voxels read_labels
// reads, is a finding. (fuzz_store.cpp feeds raw bytes to HDF5 instead, and mostly finds HDF5's
// own bugs: docs/development.md, "Fuzzing".)
#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/cohort_store.hpp"
#include "io/label_chunks.hpp"
#include "tests/fuzz/temp_file.hpp"

namespace {

constexpr hsize_t kMaxElements = 4096;  // per dataset: keeps one input to milliseconds
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// One HDF5 identifier, closed with its H5?close (nothing for the predefined types).
class Id {
 public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Id(Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Id& operator=(Id&& o) noexcept {
    std::swap(id_, o.id_);
    std::swap(closer_, o.closer_);
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() {
    if (id_ >= 0 && closer_) closer_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Element types. kNatural: the type the schema gives the dataset.
enum Kind : int {
  kF64,
  kI32,
  kU8,
  kVStr,  // variable-length UTF-8, as neurocohort writes text
  kFStr,  // fixed-length, null-terminated or padded (MATLAB, pandas, older h5py)
  kF32BE,
  kI64,  // h5py's default for Python ints
  kU16,
  kVStrAscii,  // variable-length, ASCII character set
  kEnumBool,   // h5py's bool: enum {FALSE, TRUE} over int8
  kCompound,   // {double value; int32 flag}
  kArray3,     // double[3] per element
  kU16BE,      // a label map of another byte order
  kI8,         // numpy's int8
  kKinds
};

struct Type {
  Id owned;
  hid_t id = H5I_INVALID_HID;
  Kind kind = kF64;
  std::size_t size = 0;  // bytes per element in memory (the buffer written)
};

// Special values that a wrong-but-valid store might hold.
const double kSpecialNumbers[] = {kNaN,          -kNaN, kInf,   -kInf,        -1.0,    0.0,
                                  0.5,           255.0, 256.0,  65535.0,      65536.0, 2147483648.0,
                                  -2147483649.0, 1e300, -1e300, 4294967296.0, 9.3e18,  5e-324};
const char* const kSpecialTexts[] = {"",    "sub-0", "sub-1", "ok",      "failed",      "pending",
                                     "a/b", ".",     "..",    "/",       " ",           "\xff\xfe",
                                     "L",   "R",     "-",     "scan_id", "caf\xc3\xa9", "x\ty"};

class Writer {
 public:
  explicit Writer(FuzzedDataProvider& fdp) : fdp_(fdp) {}

  // --- choices -----------------------------------------------------------------------------
  // FuzzedDataProvider returns the smallest value once the input is used up, so value 0 of
  // every choice is the schema's: a short input writes a valid store.
  int pick(int n) { return fdp_.ConsumeIntegralInRange<int>(0, n - 1); }
  bool chance(int one_in) { return pick(one_in) == one_in - 1; }

  // The schema's value for five choices in eight (choice 0 too, so a used-up input keeps it),
  // else mutation(0), (1) or (2).
  template <class T, class Mutation>
  T natural_or(T natural, Mutation mutation) {
    const int choice = pick(8);
    return choice < 5 ? natural : mutation(choice - 5);
  }

  double number(double natural) {
    return natural_or(natural, [&](int mutation) {
      return mutation == 0 ? fdp_.ConsumeFloatingPoint<double>()
                           : kSpecialNumbers[pick(int(std::size(kSpecialNumbers)))];
    });
  }

  std::string text(const std::string& natural) {
    return natural_or(natural, [&](int mutation) -> std::string {
      switch (mutation) {
        case 0:
          return fdp_.ConsumeRandomLengthString(24);
        case 1:
          return std::string(std::size_t(1) << pick(11), 'x');  // up to 1 KB
        default:
          return kSpecialTexts[pick(int(std::size(kSpecialTexts)))];
      }
    });
  }

  Kind kind(Kind natural) {
    if (pick(6) != 5) return natural;
    return Kind(pick(kKinds));
  }

  // A type for `kind`; its in-memory layout is what fill_buffer writes.
  Type make_type(Kind kind) {
    Type t;
    t.kind = kind;
    // Numeric kinds are all written from doubles; HDF5 converts to the file type.
    static const std::pair<Kind, hid_t> kNumeric[] = {{kF64, H5T_IEEE_F64LE}, {kI32, H5T_STD_I32LE},
                                                      {kU8, H5T_STD_U8LE},    {kF32BE, H5T_IEEE_F32BE},
                                                      {kI64, H5T_STD_I64LE},  {kU16, H5T_STD_U16LE},
                                                      {kU16BE, H5T_STD_U16BE}, {kI8, H5T_STD_I8LE}};
    for (const auto& [numeric, id] : kNumeric)
      if (kind == numeric) {
        t.id = id;
        t.size = sizeof(double);
        return t;
      }
    switch (kind) {
      case kVStr:
      case kVStrAscii:
        t.owned = Id(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(t.owned.get(), H5T_VARIABLE);
        H5Tset_cset(t.owned.get(), kind == kVStr ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        t.size = sizeof(char*);
        break;
      case kFStr: {
        t.owned = Id(H5Tcopy(H5T_C_S1), H5Tclose);
        t.size = std::size_t(1 + pick(16));
        H5Tset_size(t.owned.get(), t.size);
        const H5T_str_t pads[] = {H5T_STR_NULLTERM, H5T_STR_NULLPAD, H5T_STR_SPACEPAD};
        H5Tset_strpad(t.owned.get(), pads[pick(3)]);
        H5Tset_cset(t.owned.get(), pick(2) ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        break;
      }
      case kEnumBool: {
        t.owned = Id(H5Tenum_create(H5T_NATIVE_SCHAR), H5Tclose);
        signed char v = 0;
        H5Tenum_insert(t.owned.get(), "FALSE", &v);
        v = 1;
        H5Tenum_insert(t.owned.get(), "TRUE", &v);
        t.size = 1;
        break;
      }
      case kCompound: {
        t.size = 16;
        t.owned = Id(H5Tcreate(H5T_COMPOUND, t.size), H5Tclose);
        H5Tinsert(t.owned.get(), "value", 0, H5T_NATIVE_DOUBLE);
        H5Tinsert(t.owned.get(), "flag", 8, H5T_NATIVE_INT32);
        break;
      }
      case kArray3: {
        const hsize_t three = 3;
        t.owned = Id(H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, &three), H5Tclose);
        t.size = 3 * sizeof(double);
        break;
      }
      default:
        t.id = H5T_IEEE_F64LE;
        t.size = sizeof(double);
        break;
    }
    if (t.owned.ok()) t.id = t.owned.get();
    return t;
  }

  // The memory type of a buffer of `t` (numbers are written from doubles; HDF5 converts).
  static hid_t memory_type(const Type& t) {
    switch (t.kind) {
      case kF64:
      case kI32:
      case kU8:
      case kF32BE:
      case kI64:
      case kU16:
      case kU16BE:
      case kI8:
        return H5T_NATIVE_DOUBLE;
      default:
        return t.id;
    }
  }

  // Dimensions: `natural` mostly; else one extent off by one, another rank, an added axis of
  // one, a null dataspace (returned as rank -1), or an empty extent beside a huge one.
  std::vector<hsize_t> dims(const std::vector<hsize_t>& natural, bool& null_space) {
    null_space = false;
    std::vector<hsize_t> d = natural;
    switch (pick(16)) {
      case 11:
        if (d.empty())
          d.push_back(1);
        else {
          const std::size_t axis = std::size_t(pick(int(d.size())));
          d[axis] = pick(2) ? d[axis] + 1 : (d[axis] ? d[axis] - 1 : 0);
        }
        break;
      case 12: {
        d.assign(std::size_t(pick(5)), 0);
        for (auto& e : d) e = hsize_t(pick(9));
        break;
      }
      case 13:
        if (d.size() < 4) {
          if (pick(2))
            d.push_back(1);
          else
            d.insert(d.begin(), 1);
        }
        break;
      case 14:
        null_space = true;
        break;
      case 15: {
        // no elements, but an extent that overflows any product of extents taken as signed
        const hsize_t huge[] = {hsize_t(1) << 31, hsize_t(1) << 32, hsize_t(1) << 62, hsize_t(1) << 63,
                                ~hsize_t(0) - 1};
        d.assign(std::size_t(2 + pick(3)), 1);
        d[std::size_t(pick(int(d.size())))] = 0;
        for (auto& e : d)
          if (e && pick(2)) e = huge[pick(5)];
        return d;
      }
      default:
        break;
    }
    while (elements(d) > kMaxElements) *std::max_element(d.begin(), d.end()) /= 2;
    return d;
  }

  static hsize_t elements(const std::vector<hsize_t>& d) {
    hsize_t n = 1;
    for (const hsize_t e : d) {
      if (e == 0) return 0;
      if (n > kMaxElements * 1024 / std::max<hsize_t>(e, 1) + 1) return ~hsize_t(0);
      n *= e;
    }
    return n;
  }

  // --- objects -----------------------------------------------------------------------------
  struct Values {
    std::vector<double> numbers;     // natural value of element i (numeric kinds)
    std::vector<std::string> texts;  // natural value of element i (text kinds)
  };

  // Fills a buffer of `n` elements of `t` from the natural values, with fuzzer-chosen overrides.
  // `strings` keeps the text that variable-length pointers point into.
  std::vector<unsigned char> fill_buffer(const Type& t, hsize_t n, const Values& natural,
                                         std::vector<std::string>& strings) {
    std::vector<unsigned char> buf(std::size_t(n) * t.size, 0);
    const auto natural_number = [&](hsize_t i) {
      return natural.numbers.empty() ? double(i) : natural.numbers[std::size_t(i % natural.numbers.size())];
    };
    const auto natural_text = [&](hsize_t i) {
      return natural.texts.empty() ? "t" + std::to_string(i) : natural.texts[std::size_t(i % natural.texts.size())];
    };
    // Overrides: none, a few positions, or every element.
    const int mode = pick(4);
    std::vector<bool> chosen(std::size_t(n), mode == 3);
    if (mode == 1 || mode == 2)
      for (int k = 0, count = 1 + pick(4); k < count && n > 0; ++k)
        chosen[std::size_t(fdp_.ConsumeIntegralInRange<hsize_t>(0, n - 1))] = true;
    const bool text_kind = t.kind == kVStr || t.kind == kVStrAscii || t.kind == kFStr;
    if (text_kind) strings.resize(std::size_t(n));
    for (hsize_t i = 0; i < n; ++i) {
      unsigned char* e = buf.data() + std::size_t(i) * t.size;
      const bool override = chosen[std::size_t(i)];
      if (text_kind) {
        std::string& s = strings[std::size_t(i)];
        s = override ? text(natural_text(i)) : natural_text(i);
        if (t.kind == kFStr)
          std::memcpy(e, s.data(), std::min(s.size(), t.size));
        else {
          const char* p = s.c_str();
          std::memcpy(e, &p, sizeof p);
        }
        continue;
      }
      const double v = override ? number(natural_number(i)) : natural_number(i);
      switch (t.kind) {
        case kEnumBool:
          e[0] = static_cast<unsigned char>(override ? pick(256) : (v != 0));
          break;
        case kCompound: {
          const std::int32_t flag = std::int32_t(pick(3)) - 1;
          std::memcpy(e, &v, sizeof v);
          std::memcpy(e + 8, &flag, sizeof flag);
          break;
        }
        case kArray3:
          for (int c = 0; c < 3; ++c) std::memcpy(e + c * sizeof(double), &v, sizeof v);
          break;
        default:
          std::memcpy(e, &v, sizeof v);
          break;
      }
    }
    return buf;
  }

  // How neurocohort lays a dataset out (the natural choice), io/hdf5_detail.cpp and
  // io/label_chunks.hpp: /scans columns and metrics in rows (chunks of up to 1024 rows,
  // extendable, Fletcher-32 where not variable-length text), /regions/label contiguous, label
  // maps in the stored form (chunks of min(64, extent), shuffle + deflate 4 + Fletcher-32).
  enum class Layout { kRows, kContiguous, kStoredForm };

  // Sets up `dcpl` and `max` for a chunked layout of `d`: `chunk` and the filters in order.
  void chunked(hid_t dcpl, const std::vector<hsize_t>& chunk, const std::vector<H5Z_filter_t>& filters) {
    H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
    for (const H5Z_filter_t f : filters) {
      if (f == H5Z_FILTER_SHUFFLE) H5Pset_shuffle(dcpl);
      if (f == H5Z_FILTER_DEFLATE) H5Pset_deflate(dcpl, 4);
      if (f == H5Z_FILTER_FLETCHER32) H5Pset_fletcher32(dcpl);
    }
  }

  // Creates dataset `name` under `parent` with a fuzzer-chosen type, shape, layout and values.
  // Returns whether it exists afterwards (HDF5 may refuse an odd name or layout).
  bool dataset(hid_t parent, const std::string& name, Kind natural_kind, const std::vector<hsize_t>& natural_dims,
               const Values& natural, Layout natural_layout = Layout::kContiguous) {
    const Type t = make_type(kind(natural_kind));
    bool null_space = false;
    const std::vector<hsize_t> d = dims(natural_dims, null_space);
    const bool simple = !null_space && !d.empty();  // chunks need a simple dataspace
    // 0-2: natural; 3: contiguous; 4: compact; 5: random chunks; 6: random chunks and filters
    // in a random order; 7: the same, extendable along the first axis.
    int layout = pick(8);
    if (layout <= 2) layout = natural_layout == Layout::kContiguous ? 3 : natural_layout == Layout::kRows ? 8 : 9;
    if (!simple) layout = 3;
    std::vector<hsize_t> max = d;
    if (layout == 7 || layout == 8) max[0] = H5S_UNLIMITED;
    Id space = null_space ? Id(H5Screate(H5S_NULL), H5Sclose)
               : !simple  ? Id(H5Screate(H5S_SCALAR), H5Sclose)
                          : Id(H5Screate_simple(int(d.size()), d.data(), max.data()), H5Sclose);
    if (!space.ok()) return false;
    Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    const bool text = t.kind == kVStr || t.kind == kVStrAscii;
    std::vector<hsize_t> chunk(d.size(), 1);
    switch (layout) {
      case 4:
        H5Pset_layout(dcpl.get(), H5D_COMPACT);
        break;
      case 5:
      case 6:
      case 7: {
        for (std::size_t a = 0; a < d.size(); ++a)
          chunk[a] = 1 + fdp_.ConsumeIntegralInRange<hsize_t>(0, std::clamp<hsize_t>(d[a], 1, 64) - 1);
        std::vector<H5Z_filter_t> filters;
        if (layout != 5)
          for (const H5Z_filter_t f : {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE, H5Z_FILTER_FLETCHER32})
            if (pick(2)) filters.insert(filters.begin() + pick(int(filters.size()) + 1), f);
        chunked(dcpl.get(), chunk, filters);
        break;
      }
      case 8:  // rows
        chunk = d;
        chunk[0] = std::clamp<hsize_t>(d[0], 1, 1024);
        for (auto& c : chunk) c = std::max<hsize_t>(c, 1);
        chunked(dcpl.get(), chunk,
                text ? std::vector<H5Z_filter_t>{} : std::vector<H5Z_filter_t>{H5Z_FILTER_FLETCHER32});
        break;
      case 9:  // the stored form of a label map
        for (std::size_t a = 0; a < d.size(); ++a) chunk[a] = std::clamp<hsize_t>(d[a], 1, 64);
        chunked(dcpl.get(), chunk, {H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE, H5Z_FILTER_FLETCHER32});
        break;
      default:
        break;
    }
    if (chance(4) && t.kind == kF64) H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &kNaN);
    Id ds(H5Dcreate2(parent, name.c_str(), t.id, space.get(), lcpl_, dcpl.get(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok() && layout != 3) {
      // e.g. Fletcher-32 on variable-length text, or too big to be compact: store it unfiltered
      Id plain(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      if (max != d) H5Pset_chunk(plain.get(), int(chunk.size()), chunk.data());
      ds = Id(H5Dcreate2(parent, name.c_str(), t.id, space.get(), lcpl_, plain.get(), H5P_DEFAULT), H5Dclose);
    }
    if (!ds.ok()) return false;
    const hsize_t n = null_space ? 0 : elements(d);
    if (n > 0 && n <= kMaxElements && !chance(8)) {  // one in eight left unwritten: fill values
      std::vector<std::string> strings;
      const auto buf = fill_buffer(t, n, natural, strings);
      H5Dwrite(ds.get(), memory_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    }
    attributes(ds.get(), 2);
    return true;
  }

  // One named entry of a group: mostly the dataset, else missing, a group, or a link.
  void entry(hid_t parent, const std::string& path_of_parent, const std::string& name, Kind natural_kind,
             const std::vector<hsize_t>& natural_dims, const Values& natural,
             Layout natural_layout = Layout::kContiguous) {
    switch (pick(16)) {
      case 11:
        return;  // missing
      case 12:
        Id(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        return;
      case 13:
        if (!paths_.empty()) {  // a soft link to another dataset
          H5Lcreate_soft(paths_[std::size_t(pick(int(paths_.size())))].c_str(), parent, name.c_str(), H5P_DEFAULT,
                         H5P_DEFAULT);
          return;
        }
        break;
      case 14:  // a dangling soft link, or an external link to a file that does not exist
        if (pick(2))
          H5Lcreate_soft("/nowhere/at_all", parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        else
          H5Lcreate_external("nc_fuzz_no_such_file.h5", "/scans/scan_id", parent, name.c_str(), H5P_DEFAULT,
                             H5P_DEFAULT);
        return;
      case 15:
        if (!paths_.empty()) {  // a second name for another dataset
          H5Lcreate_hard(file_, paths_[std::size_t(pick(int(paths_.size())))].c_str(), parent, name.c_str(),
                         H5P_DEFAULT, H5P_DEFAULT);
          return;
        }
        break;
      default:
        break;
    }
    if (dataset(parent, name, natural_kind, natural_dims, natural, natural_layout))
      paths_.push_back(path_of_parent + "/" + name);
  }

  // A few datasets and groups the schema does not have.
  void extras(hid_t parent, const std::string& path_of_parent, const std::vector<std::string>& names) {
    for (int k = 0, count = chance(3) ? 1 + pick(12) : 0; k < count; ++k) {
      const std::string name =
          pick(2) ? names[std::size_t(pick(int(names.size())))] : fdp_.ConsumeRandomLengthString(12);
      entry(parent, path_of_parent, name, Kind(pick(kKinds)), {hsize_t(pick(6))}, {});
    }
  }

  // A group: mostly itself, else missing, a dataset, or a link to another group. Null if none.
  Id group(const std::string& name) {
    switch (pick(20)) {
      case 16:
        return {};
      case 17:
        dataset(file_, name, kF64, {}, {});
        return {};
      case 18: {
        const char* others[] = {"/scans", "/regions", "/metrics", "/labels", "/"};
        H5Lcreate_soft(others[pick(5)], file_, name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
        return {};
      }
      default:
        break;
    }
    Id gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    if (chance(4)) H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    if (chance(4)) H5Pset_link_phase_change(gcpl.get(), 0, 0);  // dense link storage (latest format)
    return Id(H5Gcreate2(file_, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
  }

  // Attribute `name` of `object`: mostly of the natural kind and dimensions.
  void attribute(hid_t object, const std::string& name, Kind natural_kind, std::vector<hsize_t> natural_dims,
                 const Values& natural) {
    const Type t = make_type(kind(natural_kind));
    bool null_space = false;
    const std::vector<hsize_t> d = dims(natural_dims, null_space);
    Id space = null_space  ? Id(H5Screate(H5S_NULL), H5Sclose)
               : d.empty() ? Id(H5Screate(H5S_SCALAR), H5Sclose)
                           : Id(H5Screate_simple(int(d.size()), d.data(), nullptr), H5Sclose);
    if (!space.ok()) return;
    if (H5Aexists(object, name.c_str()) > 0) H5Adelete(object, name.c_str());
    Id attr(H5Acreate2(object, name.c_str(), t.id, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) return;
    const hsize_t n = null_space ? 0 : elements(d);
    if (n == 0 || n > kMaxElements) return;
    std::vector<std::string> strings;
    const auto buf = fill_buffer(t, n, natural, strings);
    H5Awrite(attr.get(), memory_type(t), buf.data());
  }

  // Up to `most` attributes of any type, rank and name on `object`, one time in six.
  void attributes(hid_t object, int most) {
    if (!chance(6)) return;
    static const char* const names[] = {"model_sha256", "end_time",      "precision",  "model_metadata", "tool_version",
                                        "git_commit",   "configuration", "start_time", "spacing",        "units"};
    for (int k = 0, count = 1 + pick(most); k < count; ++k) {
      const std::string name = pick(4) ? names[pick(int(std::size(names)))] : fdp_.ConsumeRandomLengthString(12);
      attribute(object, name, Kind(pick(kKinds)), {hsize_t(pick(5))}, {{1.0}, {"v"}});
    }
  }

  // --- the store ---------------------------------------------------------------------------
  std::vector<std::string> write_store(const std::string& path) {
    Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    const int format = pick(3);
    if (format == 1) H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    if (format == 2) H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    if (chance(6)) H5Pset_userblock(fcpl.get(), hsize_t(512) << pick(3));
    if (format == 2 && chance(3)) H5Pset_attr_phase_change(fcpl.get(), 0, 0);  // dense attributes
    Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose);
    if (!file.ok()) {
      std::fprintf(stderr, "fuzz_store_layout: cannot create %s\n", path.c_str());
      std::abort();
    }
    file_ = file.get();
    // Intermediate groups, where asked: a scan id "a/b" then names /labels/a/b.
    Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    if (pick(2)) H5Pset_create_intermediate_group(lcpl.get(), 1);
    lcpl_ = lcpl.get();

    // The scan table: scan ids first, since labels are named after them.
    const hsize_t scans = hsize_t(pick(9));
    Values ids;
    for (hsize_t i = 0; i < scans; ++i) ids.texts.push_back("sub-" + std::to_string(i));
    std::vector<std::string> written_ids = ids.texts;
    if (Id g = group("scans"); g.ok()) {
      const std::vector<hsize_t> rows = {scans};
      // scan_id by hand, to know the names that /labels should use
      if (pick(16) < 14) {
        Values chosen = ids;
        for (auto& id : chosen.texts) id = text(id);
        written_ids = chosen.texts;
        if (dataset(g.get(), "scan_id", kVStr, rows, chosen, Layout::kRows)) paths_.push_back("/scans/scan_id");
      }
      const char* statuses[] = {"ok", "pending", "failed"};
      Values status;
      for (hsize_t i = 0; i < scans; ++i) status.texts.push_back(statuses[i % 3]);
      entry(g.get(), "/scans", "status", kVStr, rows, status, Layout::kRows);
      entry(g.get(), "/scans", "error", kVStr, rows, {{}, {"", "truncated image"}}, Layout::kRows);
      entry(g.get(), "/scans", "icv_ml", kF64, rows, {{1400.5, kNaN}, {}}, Layout::kRows);
      entry(g.get(), "/scans", "seconds", kF64, rows, {{2.5, kNaN}, {}}, Layout::kRows);
      entry(g.get(), "/scans", "host", kVStr, rows, {{}, {"node-0", ""}}, Layout::kRows);
      entry(g.get(), "/scans", "rank", kI32, rows, {{0, -1, 3}, {}}, Layout::kRows);
      entry(g.get(), "/scans", "age", kF64, rows, {{40.0, 51.5, kNaN}, {}}, Layout::kRows);
      entry(g.get(), "/scans", "sex", kVStr, rows, {{}, {"F", "M", ""}}, Layout::kRows);
      if (pick(2)) entry(g.get(), "/scans", "site", kVStr, rows, {{}, {"site-a", "site-b"}}, Layout::kRows);
      if (pick(2)) entry(g.get(), "/scans", "group", kVStr, rows, {{}, {"control", "patient"}}, Layout::kRows);
      extras(g.get(), "/scans", {"image", "labels", "modality", "scan_id2", "status "});
      attributes(g.get(), 2);
    }

    const hsize_t regions = hsize_t(pick(9));
    if (Id g = group("regions"); g.ok()) {
      const std::vector<hsize_t> rows = {regions};
      Values labels, names, hemis;
      const char* sides[] = {"L", "R", "-"};
      for (hsize_t r = 0; r < regions; ++r) {
        labels.numbers.push_back(double(r + 1));
        names.texts.push_back("region_" + std::to_string(r / 2));
        hemis.texts.push_back(sides[r % 2]);
      }
      entry(g.get(), "/regions", "label", kI32, rows, labels);
      entry(g.get(), "/regions", "name", kVStr, rows, names, Layout::kRows);
      entry(g.get(), "/regions", "hemisphere", kVStr, rows, hemis, Layout::kRows);
      extras(g.get(), "/regions", {"color", "names", "label "});
    }

    if (Id g = group("metrics"); g.ok()) {
      static const char* const metrics[] = {"volume_ml", "dice", "precision", "recall", "hd95_mm", "volume_similarity"};
      const int count = pick(7);
      for (int m = 0; m < count; ++m)
        entry(g.get(), "/metrics", metrics[(m + pick(6)) % 6], kF64, {scans, regions}, {{12.5, 0.9, kNaN}, {}},
              Layout::kRows);
      extras(g.get(), "/metrics", {"volume_ml", "dice", "x"});
    }

    if (Id g = group("labels"); g.ok()) {
      for (hsize_t i = 0; i < scans; ++i) {
        if (chance(3)) continue;  // no label map for this scan
        const std::string name = chance(8) ? fdp_.ConsumeRandomLengthString(12) : written_ids[std::size_t(i)];
        label_map(g.get(), name);
      }
      extras(g.get(), "/labels", written_ids.empty() ? std::vector<std::string>{"sub-0"} : written_ids);
    }

    // Provenance (text scalars), then perhaps others.
    for (const char* name : {"tool_version", "git_commit", "model_sha256", "model_metadata", "precision",
                             "configuration", "start_time", "end_time"})
      if (!chance(10)) attribute(file_, name, kVStr, {}, {{}, {std::string(name) + " value"}});
    attributes(file_, 6);
    extras(file_, "", {"scans2", "provenance", "labels"});
    file_ = lcpl_ = H5I_INVALID_HID;
    return written_ids;
  }

  // /labels/<name>: a [k][j][i] label map, and its spacing, origin and direction attributes.
  void label_map(hid_t parent, const std::string& name) {
    std::vector<hsize_t> natural = {hsize_t(1 + pick(12)), hsize_t(1 + pick(12)), hsize_t(1 + pick(12))};
    Values values;
    for (int v = 0; v < 5; ++v) values.numbers.push_back(double(v % 4));
    const std::size_t before = paths_.size();
    entry(parent, "/labels", name, pick(4) ? kU8 : kU16, natural, values, Layout::kStoredForm);
    if (paths_.size() == before || paths_.back() != "/labels/" + name) return;
    Id ds(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) return;
    struct Geometry {
      const char* name;
      hsize_t length;
      std::vector<double> natural;
    };
    const Geometry geometry[] = {{"spacing", 3, {1.0, 1.5, 2.0}},
                                 {"origin", 3, {-10.0, 20.0, 5.0}},
                                 {"direction", 9, {1, 0, 0, 0, 1, 0, 0, 0, 1}}};
    for (const auto& g : geometry) {
      switch (pick(10)) {
        case 7:
          continue;  // missing
        case 8:      // 3×3 rather than 9, 1×3 rather than 3 (what numpy arrays become)
          attribute(ds.get(), g.name, kF64, g.length == 9 ? std::vector<hsize_t>{3, 3} : std::vector<hsize_t>{1, 3},
                    {g.natural, {}});
          continue;
        case 9:  // another length
          attribute(ds.get(), g.name, kF64, {hsize_t(pick(13))}, {g.natural, {}});
          continue;
        default:
          attribute(ds.get(), g.name, kF64, {g.length}, {g.natural, {}});
      }
    }
  }

 private:
  FuzzedDataProvider& fdp_;
  hid_t file_ = H5I_INVALID_HID;
  hid_t lcpl_ = H5P_DEFAULT;
  std::vector<std::string> paths_;  // datasets written so far, as link targets
};

// When replaying an input: NC_FUZZ_VERBOSE=1 prints each read's outcome (the refusal's message)
// on stderr; NC_FUZZ_KEEP=FILE keeps a copy of the store written (for h5dump).
const bool kVerbose = std::getenv("NC_FUZZ_VERBOSE") != nullptr;
const char* const kKeep = std::getenv("NC_FUZZ_KEEP");

void refused(const char* what, const nc::Error& e) {
  if (kVerbose) std::fprintf(stderr, "fuzz_store_layout: %s: %s\n", what, e.what());
}

template <typename F>
void attempt(const char* what, F&& read) {
  try {
    read();
    if (kVerbose) std::fprintf(stderr, "fuzz_store_layout: %s: read\n", what);
  } catch (const nc::Error& e) {
    refused(what, e);
  }
}

constexpr std::size_t kMaxRows = 4096;

void label_maps_agree(const std::string& id, const nc::LabelVolume& typed, const nc::io::StoredLabels& stored) {
  const char* problem = nullptr;
  std::string detail;
  try {
    const nc::LabelVolume decoded = nc::io::from_stored_form(stored);
    if (decoded.geometry.size != typed.geometry.size)
      problem = "another grid";
    else if (decoded.voxels != typed.voxels) {
      problem = "other voxels";
      for (std::size_t v = 0; v < typed.voxels.size(); ++v)
        if (decoded.voxels[v] != typed.voxels[v]) {
          detail = ": voxel " + std::to_string(v) + " is " + std::to_string(decoded.voxels[v]) + ", HDF5 reads " +
                   std::to_string(typed.voxels[v]);
          break;
        }
    }
  } catch (const nc::Error& e) {
    problem = "no map";
    detail = std::string(": ") + e.what();
  }
  if (problem) {
    std::fprintf(stderr,
                 "fuzz_store_layout: /labels/%s: read_labels reads it, but its stored form (read_stored_labels, "
                 "what a record and a merge carry) decodes to %s%s\n",
                 id.c_str(), problem, detail.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // refusals while writing are expected
  // HDF5 callocs its metadata cache's 512 KB hash table at each file open (three per input);
  // ASan maps blocks that large afresh each time, and the page faults were the largest part of
  // an input's time. HDF5's free lists without limits keep such blocks for the next open
  // (memory HDF5 still references, so never reported as a leak): system time per input fell
  // 5x, inputs per second rose about 1.5x.
  H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nc::fuzz::TempFile file(".h5");
  FuzzedDataProvider fdp(data, size);
  std::vector<std::string> ids;
  {
    Writer writer(fdp);
    ids = writer.write_store(file.path());
  }
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
    std::fprintf(stderr, "fuzz_store_layout: the writer left HDF5 objects open\n");
    std::abort();
  }
  if (kKeep) std::filesystem::copy_file(file.path(), kKeep, std::filesystem::copy_options::overwrite_existing);
  try {
    const auto store = nc::io::CohortStore::open(file.path(), nc::io::CohortStore::Mode::ReadOnly);
    std::vector<std::string> columns;
    attempt("scan_columns", [&] { columns = store.scan_columns(); });
    for (const auto& name : columns) {
      attempt("read_text_column", [&] { (void)store.read_text_column(name); });
      attempt("read_number_column", [&] { (void)store.read_number_column(name); });
    }
    for (const auto& name : store.metric_names()) attempt("read_metric", [&] { (void)store.read_metric(name); });
    for (const auto* names : {&store.qc_layout().per_scan, &store.qc_layout().per_region})
      for (const auto& name : *names) attempt("read_qc", [&] { (void)store.read_qc(name); });
    attempt("statuses", [&] { (void)store.statuses(); });
    if (!store.stage_names().empty())
      for (const char* name : {"started_at", "finished_at", "stage_seconds"})
        attempt("read_timing", [&] { (void)store.read_timing(name); });
    attempt("read_scan_table", [&] { (void)store.read_scan_table(); });
    for (std::size_t row = 0; row < std::min(store.scan_count(), kMaxRows); ++row)
      attempt("read_record", [&] { (void)store.read_record(row); });
    for (const auto& id : store.scan_ids()) {
      // A label map two ways: decoded by HDF5 (read_labels), and in the stored form that a
      // record carries and a merge copies chunk by chunk (read_stored_labels, raw chunks when
      // the dataset's filters are neurocohort's). Where both are read, the stored form must
      // decode (io::from_stored_form) to the same voxels: else a merge would write another map.
      std::optional<nc::LabelVolume> typed;
      std::optional<nc::io::StoredLabels> stored;
      attempt("read_labels", [&] { typed = store.read_labels(id); });
      attempt("read_stored_labels", [&] { stored = store.read_stored_labels(id); });
      if (typed.has_value() && stored.has_value()) label_maps_agree(id, *typed, *stored);
    }
    // What a resume (jobs/resume.cpp) and a merge (io/store_merge.cpp) read of the root.
    for (const char* name : {"model_sha256", "model_metadata", "precision", "window_plan", "end_time", "tool_version",
                             "git_commit", "configuration", "start_time", "units", "spacing"})
      attempt("attribute", [&] { (void)store.attribute(name); });
    if (kVerbose) std::fprintf(stderr, "fuzz_store_layout: open: %zu scans\n", store.scan_count());
  } catch (const nc::Error& e) {
    refused("open", e);
  }
  // Every identifier the reader opened must be closed again, the file included.
  if (const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); open != 0) {
    std::fprintf(stderr, "fuzz_store_layout: the reader left %zd HDF5 objects open\n", open);
    std::abort();
  }
  return 0;
}
