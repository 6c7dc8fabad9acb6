// libFuzzer target: nc::io::detail::read_nifti_voxels, neurocohort's own NIfTI voxel reader.
// The first input byte chooses the file name's suffix (even: .nii, odd: .nii.gz; nifticlib and
// the reader dispatch on it, and gzopen reads plain bytes too), the rest is the file. As in
// io/image_io.cpp, the caller passes the voxel count of the header it validated; here
// nifticlib reads the header first, and inputs over 2^24 voxels are skipped to keep memory small.
#include <nifti1_io.h>

#include <cstdint>
#include <memory>

#include "core/error.hpp"
#include "io/nifti_voxels.hpp"
#include "tests/fuzz/temp_file.hpp"

namespace {
constexpr std::int64_t kMaxVoxels = std::int64_t{1} << 24;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nifti_set_debug_level(0);  // nifticlib's complaints about each bad header: noise, not findings
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nc::fuzz::TempFile plain(".nii"), gzip(".nii.gz");
  if (size < 1) return 0;
  const auto& path = ((data[0] & 1) ? gzip : plain).write(data + 1, size - 1);
  std::int64_t voxels = 0;
  {
    const std::unique_ptr<nifti_image, decltype(&nifti_image_free)> header(nifti_image_read(path.c_str(), 0),
                                                                            &nifti_image_free);
    if (!header) return 0;  // the caller's ITK header read would have failed first
    voxels = std::int64_t(header->nvox);
    if (voxels < 0 || voxels > kMaxVoxels) return 0;
  }
  try {
    const auto values = nc::io::detail::read_nifti_voxels(path, voxels);
    if (std::int64_t(values.size()) != voxels) __builtin_trap();
  } catch (const nc::Error&) {
  }
  return 0;
}
