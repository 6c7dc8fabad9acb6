// Writes the binary seed corpora of the record and store fuzz targets with the project's own
// writers (encode_record, CohortStore::create + write):
//   make_seeds CORPUS_DIR   ->  CORPUS_DIR/record/*.bin, CORPUS_DIR/store/*.h5
// run by `tests/fuzz/run_fuzzers.sh BUILD SOURCE --make-seeds`; the outputs are committed.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cluster/record_codec.hpp"
#include "io/cohort_store.hpp"
#include "io/label_chunks.hpp"

namespace fs = std::filesystem;
using nc::io::ScanRecord;

namespace {

nc::LabelVolume tiny_labels(std::int64_t nx, std::int64_t ny, std::int64_t nz, std::uint16_t top) {
  nc::Geometry g;
  g.size = {nx, ny, nz};
  g.spacing_mm = {1.0, 1.5, 2.0};
  g.origin_mm = {-10, 20, 5};
  g.direction = {0, 1, 0, 1, 0, 0, 0, 0, -1};
  nc::LabelVolume labels(g);
  for (std::size_t v = 0; v < labels.voxels.size(); ++v) labels.voxels[v] = std::uint16_t(v % (top + 1u));
  return labels;
}

std::vector<ScanRecord> records() {
  std::vector<ScanRecord> out;
  ScanRecord failed;
  failed.row = 1;
  failed.error = "image.nii.gz: truncated or corrupt voxel data";
  failed.host = "node-1";
  failed.rank = 2;
  out.push_back(failed);

  ScanRecord ok;
  ok.row = 0;
  ok.ok = true;
  ok.icv_ml = 1432.5;
  ok.seconds = 3.25;
  ok.host = "node-0";
  ok.rank = 1;
  ok.metrics["volume_ml"] = {12.5, 13.0};
  ok.metrics["dice"] = {0.9, std::nan("")};
  ok.qc["mean_max_probability"] = {0.93};
  ok.qc["components"] = {1, 2};
  ok.labels = nc::io::to_stored_form(tiny_labels(4, 3, 2, 2));
  out.push_back(ok);

  ScanRecord wide = ok;
  wide.row = 7;
  wide.metrics.clear();
  wide.labels = nc::io::to_stored_form(tiny_labels(3, 2, 2, 300));  // labels above 255: stored as uint16
  out.push_back(wide);
  return out;
}

void write_file(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// A seed store whose scans are all pending, or with records written out of row order.
enum class Scans { Pending, Written };

void write_store(const fs::path& path, std::size_t scans, Scans state) {
  fs::remove(path);
  std::vector<std::string> ids;
  std::vector<double> ages;
  for (std::size_t s = 0; s < scans; ++s) {
    ids.push_back("sub-" + std::to_string(s + 1));
    ages.push_back(30.0 + double(s));
  }
  const std::vector<nc::io::TableColumn> table = {
      {"scan_id", ids}, {"modality", std::vector<std::string>(scans, "CT")}, {"age", ages}};
  const std::vector<nc::io::Region> regions = {{1, "frontal_L", "L"}, {2, "frontal_R", "R"}};
  auto store = nc::io::CohortStore::create(path, table, regions, {"volume_ml", "dice"},
                                           {{"version", "fuzz-seed"}, {"precision", "fp32"}},
                                           {{"mean_max_probability"}, {"components"}}, {"read", "infer"});
  if (state == Scans::Pending) return;
  auto recs = records();
  recs[0].row = 1;
  recs[1].row = 0;
  store.write(recs[1]);
  if (scans > 1) store.write(recs[0]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  const fs::path corpus = argv[1];
  fs::create_directories(corpus / "record");
  fs::create_directories(corpus / "store");
  const auto recs = records();
  for (std::size_t r = 0; r < recs.size(); ++r)
    write_file(corpus / "record" / ("record" + std::to_string(r) + ".bin"), nc::cluster::encode_record(recs[r]));
  write_store(corpus / "store" / "pending1.h5", 1, Scans::Pending);
  write_store(corpus / "store" / "written2.h5", 2, Scans::Written);
  return 0;
}
