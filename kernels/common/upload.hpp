#pragma once
/// \file
/// A scan's one upload: its native image onto the device as float, in half the bytes where it
/// can be. A CT in Hounsfield units holds integers that int16 stores exactly (what its file
/// holds, before the reader widened it to float), so those go up as int16 and are widened on
/// the device; any other image goes up as float. Either way the bytes go up from pinned host
/// memory (a pool kept across scans): the copy is a DMA at the link's full rate, queued on the
/// calling thread's stream, where pageable memory would cost the driver a staging copy. Where
/// the host can pin no more memory, the image goes up as float from its own pageable memory.

#include <cstdint>
#include <span>

#include "core/volume.hpp"
#include "kernels/common/device_array.hpp"

namespace nc::kernels {

/// The image on the device (counted as the bytes that crossed: 2 or 4 a voxel).
/// \throws CudaError without a device; CudaOutOfMemory when the device has no room for it.
DeviceVolume<float> upload_image(const ImageVolume& image);

namespace detail {
/// Writes `values` into `out` (as long) as int16 and returns true when every value is one that
/// int16 holds exactly: an integer in [-32768, 32767], not -0.0 and not NaN. Returns false at
/// the first other value (then `out` is partly written). oneTBB-parallel.
bool pack_as_int16(std::span<const float> values, std::span<std::int16_t> out);
}  // namespace detail

}  // namespace nc::kernels
