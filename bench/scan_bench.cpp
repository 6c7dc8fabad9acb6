// One scan through `run`'s chain on one device, timed step by step: the GPU rows of
// docs/BENCHMARKS.md (issue 25's targets) and the same steps on the CPU for comparison.
//   build/bench/scan_bench --scan images/sub-0001.nii.gz --modality CT --device cuda --precision bf16
// Prints one JSON object: the milliseconds of each repeat (after one warm-up) of
//   resample_ms    the native image to the 1 mm grid (on CUDA: device to device, the upload excluded),
//   skull_strip_ms the skull strip of that 1 mm image with its defaults (on CUDA: the image on the
//                  device; the host steps and the packed mask's copies included),
//   scan_ms        the whole chain, from the native image on the host to its native label map on
//                  the host: upload, preprocessing, inference, label resampling, download,
//   preprocess_ms, segment_ms, native_labels_ms
//                  the chain's three parts, timed one after the other in each repeat,
// and, on CUDA, the bytes one scan copied each way.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "io/image_io.hpp"
#include "kernels/common/device_array.hpp"
#include "kernels/resample/resample.hpp"
#include "kernels/skull_strip/skull_strip.hpp"
#include "pipeline/inference.hpp"
#include "pipeline/preprocess.hpp"

namespace {

using namespace nc;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string scan;
  std::string modality = "CT";
  std::string model = std::string(NC_SOURCE_DIR) + "/models/default/resunet333.pt";
  std::string device = "cuda";
  std::string precision = "fp32";
  int repeats = 5;
};

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

// Milliseconds of `step` for each of `repeats` calls after a warm-up call; `step` waits for the
// device work it issued, so each figure is the step's whole time.
template <typename Step>
nlohmann::json time_repeats(int repeats, Step&& step) {
  step();
  nlohmann::json ms = nlohmann::json::array();
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    step();
    ms.push_back(ms_since(start));
  }
  return ms;
}

// The chain as run() takes it, with the milliseconds of its parts added to `parts` when given.
// Each part ends on the host (a download or a wait), so the parts add up to the whole.
LabelVolume whole_chain(const pipeline::SegmentationModel& model, const ImageVolume& native, jobs::Modality modality,
                        kernels::Backend backend, nlohmann::json* parts = nullptr) {
  const auto note = [&](const char* part, Clock::time_point start) {
    if (parts) (*parts)[part].push_back(ms_since(start));
  };
  auto start = Clock::now();
  const auto scan = backend == kernels::Backend::Cpu ? pipeline::preprocess(native, modality, {}, backend)
                                                     : pipeline::preprocess_on_device(native, modality, {});
  note("preprocess_ms", start);
  start = Clock::now();
  const auto segmentation = pipeline::segment(model, scan, {}, backend);
  note("segment_ms", start);
  start = Clock::now();
  LabelVolume labels(native.geometry);
  if (backend == kernels::Backend::Cpu)
    labels = kernels::resample_labels_onto(segmentation.labels, native.geometry, backend);
  else
    kernels::resample_labels_onto(*segmentation.on_device, native.geometry)
        .voxels.download(std::span<std::uint16_t>(labels.voxels));
  note("native_labels_ms", start);
  return labels;
}

nlohmann::json bench_cpu(const Options& o, const ImageVolume& native, jobs::Modality modality,
                         const pipeline::SegmentationModel& model) {
  const Geometry grid = kernels::resampled_grid(native.geometry, 1.0);
  const auto method = pipeline::strip_method(modality);
  const ImageVolume iso = kernels::resample_onto(native, grid, pipeline::outside_value(modality), kernels::Backend::Cpu);
  nlohmann::json out;
  out["resample_ms"] = time_repeats(o.repeats, [&] {
    kernels::resample_onto(native, grid, pipeline::outside_value(modality), kernels::Backend::Cpu);
  });
  out["skull_strip_ms"] = time_repeats(o.repeats, [&] {
    kernels::skull_strip(iso, method, kernels::SkullStripParams::defaults_for(method), kernels::Backend::Cpu);
  });
  out["scan_ms"] = time_repeats(o.repeats, [&] { whole_chain(model, native, modality, kernels::Backend::Cpu); });
  for (int r = 0; r < o.repeats; ++r) whole_chain(model, native, modality, kernels::Backend::Cpu, &out);
  return out;
}

nlohmann::json bench_cuda(const Options& o, const ImageVolume& native, jobs::Modality modality,
                          const pipeline::SegmentationModel& model) {
  const Geometry grid = kernels::resampled_grid(native.geometry, 1.0);
  const auto method = pipeline::strip_method(modality);
  const kernels::DeviceVolume<float> native_on_device = [&] {
    kernels::DeviceVolume<float> v(native.geometry);
    v.voxels.upload(std::span<const float>(native.voxels));
    return v;
  }();
  const kernels::DeviceVolume<float> iso_on_device = kernels::resample_onto(native_on_device, grid, pipeline::outside_value(modality));
  ImageVolume iso(grid);
  iso_on_device.voxels.download(std::span<float>(iso.voxels));
  nlohmann::json out;
  out["resample_ms"] = time_repeats(o.repeats, [&] {
    kernels::resample_onto(native_on_device, grid, pipeline::outside_value(modality));
    kernels::wait_for_device_work();
  });
  out["skull_strip_ms"] = time_repeats(o.repeats, [&] {
    kernels::skull_strip(iso, iso_on_device, method, kernels::SkullStripParams::defaults_for(method));
    kernels::wait_for_device_work();
  });
  out["scan_ms"] = time_repeats(o.repeats, [&] { whole_chain(model, native, modality, kernels::Backend::Cuda); });
  for (int r = 0; r < o.repeats; ++r) whole_chain(model, native, modality, kernels::Backend::Cuda, &out);
  kernels::TransferBytes copied;
  {
    const kernels::CountTransfersInto count(copied);
    whole_chain(model, native, modality, kernels::Backend::Cuda);
  }
  out["host_to_device_bytes"] = copied.host_to_device;
  out["device_to_host_bytes"] = copied.device_to_host;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Times one scan through run's chain on one device"};
  app.add_option("--scan", o.scan, "Image file of the scan (NIfTI)")->required()->check(CLI::ExistingFile);
  app.add_option("--modality", o.modality, "CT or MR")->check(CLI::IsMember({"CT", "MR"}));
  app.add_option("--model", o.model, "TorchScript model (its .json sidecar beside it)")->check(CLI::ExistingFile);
  app.add_option("--device", o.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--precision", o.precision, "Inference precision")->check(CLI::IsMember(pipeline::precision_names()));
  app.add_option("--repeats", o.repeats, "Timed calls of each step after one warm-up")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    const auto modality = o.modality == "CT" ? jobs::Modality::CT : jobs::Modality::MR;
    const auto backend = kernels::choose_backend(o.device);
    if (backend == kernels::Backend::Cuda) kernels::bind_cuda_device(0);
    pipeline::set_inference_threads(int(std::thread::hardware_concurrency()));
    const auto model = pipeline::SegmentationModel::load(
        o.model, std::nullopt, backend == kernels::Backend::Cuda ? pipeline::Device::Cuda : pipeline::Device::Cpu,
        *pipeline::precision_named(o.precision));
    const ImageVolume native = io::read_image(o.scan);
    nlohmann::json out = backend == kernels::Backend::Cuda ? bench_cuda(o, native, modality, model)
                                                           : bench_cpu(o, native, modality, model);
    out["scan"] = o.scan;
    out["size"] = native.geometry.size;
    out["device"] = o.device;
    out["precision"] = o.precision;
    out["threads"] = std::thread::hardware_concurrency();
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "scan_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
