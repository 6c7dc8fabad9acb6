#!/usr/bin/env bash
# Install every Debian package neurocohort builds, tests and demos with.
# Idempotent: asks dpkg first and stays quiet when everything is present.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # the .deb (cpack: dpkg-shlibdeps) and the install test (strings)
  dpkg-dev binutils
  # libraries the project links
  libinsighttoolkit5-dev libdcmtk-dev libhdf5-dev libopenmpi-dev openmpi-bin libtorch-dev libtbb-dev libssl-dev
  libcli11-dev libspdlog-dev nlohmann-json3-dev libeigen3-dev libboost-dev libnlopt-dev zlib1g-dev
  libjemalloc-dev libdeflate-dev
  # LibTorch's transposed convolutions call libblas.so.3: installing OpenBLAS makes it the one
  # selected, 8x the reference BLAS; the serial build, because a threaded one sums in an order
  # that depends on the thread count, and labels would change with --threads
  libopenblas0-serial
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing (tests/fuzz)
  clang-14 libfuzzer-14-dev
  # data: Colin27 head and the AAL atlas
  mricron-data
  # cluster tests
  slurm-wlm munge
  # normative report: plots (SVG) and the headless browser that checks they render
  gnuplot-nox chromium
  # peers used only by tests and benchmarks (Debian's python3)
  python3-h5py python3-numpy python3-scipy python3-statsmodels python3-skimage python3-nibabel
  python3-torch python3-pandas python3-pil python3-pydicom dcm2niix
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${#missing[@]} missing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# Slurm's and munge's post-install scripts try to start services; none run in containers.
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
