#include "kernels/common/device_array.hpp"
#include "kernels/common/grid_stride.cuh"
#include "kernels/resample/resample.hpp"

namespace nc::kernels::detail {
namespace {

constexpr int kThreads = 256;

// One thread per output voxel, grid-stride; consecutive threads write consecutive voxels of
// a row (coalesced stores) and read neighbouring input voxels (mostly cached loads).
template <Interpolation kInterpolation, typename T>
__global__ void resample_kernel(const T* __restrict__ gm_input, GridDims in, IndexMap map, T outside,
                                T* __restrict__ gm_output, GridDims out) {
  for_each_index(out.count(), [&](long long v) {
    const std::int64_t i = v % out.nx;
    const std::int64_t j = (v / out.nx) % out.ny;
    const std::int64_t k = v / (out.nx * out.ny);
    gm_output[v] = resample_voxel<kInterpolation>(gm_input, in, map, i, j, k, outside);
  });
}

__global__ void argmax_kernel(const float* __restrict__ gm_probabilities, int classes, GridDims in, IndexMap map,
                              std::uint16_t* __restrict__ gm_output, GridDims out) {
  for_each_index(out.count(), [&](long long v) {
    double x, y, z;
    map_index(map, double(v % out.nx), double((v / out.nx) % out.ny), double(v / (out.nx * out.ny)), x, y, z);
    gm_output[v] = argmax_trilinear(gm_probabilities, classes, in, x, y, z);
  });
}

// `lo` is the input voxel of output voxel 0; it may lie outside the input (a crop's margin).
__global__ void crop_kernel(const float* __restrict__ gm_input, GridDims in, GridDims lo, float fill,
                            float* __restrict__ gm_output, GridDims out) {
  for_each_index(out.count(), [&](long long v) {
    const long long x = lo.nx + v % out.nx, y = lo.ny + v / out.nx % out.ny, z = lo.nz + v / out.nx / out.ny;
    const bool inside = x >= 0 && y >= 0 && z >= 0 && x < in.nx && y < in.ny && z < in.nz;
    gm_output[v] = inside ? gm_input[x + in.nx * (y + in.ny * z)] : fill;
  });
}

}  // namespace

template <Interpolation kInterpolation, typename T>
void resample_on_device(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output,
                        const GridDims& out) {
  use_bound_device();
  resample_kernel<kInterpolation><<<grid_stride_blocks(out.count(), kThreads), kThreads>>>(input, in, map, outside,
                                                                                           output, out);
  NC_CUDA_CHECK_LAUNCH();
}

template void resample_on_device<Interpolation::Linear>(const float*, const GridDims&, const IndexMap&, float, float*,
                                                        const GridDims&);
template void resample_on_device<Interpolation::Nearest>(const std::uint16_t*, const GridDims&, const IndexMap&,
                                                         std::uint16_t, std::uint16_t*, const GridDims&);

template <Interpolation kInterpolation, typename T>
void resample_cuda(const T* input, const GridDims& in, const IndexMap& map, T outside, T* output, const GridDims& out) {
  use_bound_device();
  const DeviceArray<T> d_input(std::span<const T>(input, std::size_t(in.count())));
  DeviceArray<T> d_output(std::size_t(out.count()));
  resample_on_device<kInterpolation>(d_input.data(), in, map, outside, d_output.data(), out);
  d_output.download(std::span<T>(output, std::size_t(out.count())));
}

template void resample_cuda<Interpolation::Linear>(const float*, const GridDims&, const IndexMap&, float, float*,
                                                   const GridDims&);
template void resample_cuda<Interpolation::Nearest>(const std::uint16_t*, const GridDims&, const IndexMap&,
                                                    std::uint16_t, std::uint16_t*, const GridDims&);

void argmax_on_device(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                      std::uint16_t* output, const GridDims& out) {
  use_bound_device();
  argmax_kernel<<<grid_stride_blocks(out.count(), kThreads), kThreads>>>(probabilities, classes, in, map, output, out);
  NC_CUDA_CHECK_LAUNCH();
}

void argmax_resample_cuda(const float* probabilities, int classes, const GridDims& in, const IndexMap& map,
                          std::uint16_t* output, const GridDims& out) {
  use_bound_device();
  const DeviceArray<float> d_probabilities(std::span<const float>(probabilities, std::size_t(in.count() * classes)));
  DeviceArray<std::uint16_t> d_output(std::size_t(out.count()));
  argmax_on_device(d_probabilities.data(), classes, in, map, d_output.data(), out);
  d_output.download(std::span<std::uint16_t>(output, std::size_t(out.count())));
}

void crop_on_device(const float* input, const GridDims& in, const GridDims& lo, float fill, float* output,
                    const GridDims& out) {
  use_bound_device();
  crop_kernel<<<grid_stride_blocks(out.count(), kThreads), kThreads>>>(input, in, lo, fill, output, out);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nc::kernels::detail
