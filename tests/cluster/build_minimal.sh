#!/usr/bin/env bash
# The smallest build, as on a node image that lacks the optional libraries: without MPI
# (cluster/mpi_stub.cpp in place of the MPI transport), jemalloc (glibc's malloc) and libdeflate
# (zlib in io/deflate_codec_zlib.cpp). No caller has a build switch. This configures and builds
# that variant (ccache makes it cheap), then checks that it runs a cohort as one process, with
# label maps that h5py reads back, and refuses to run as one of several MPI ranks, where each
# rank would write the whole cohort into the same file.
# usage: build_minimal.sh SOURCE_DIR WORK_DIR MANIFEST MODEL
set -euo pipefail
source_dir=$1 work=$2 manifest=$3 model=$4
mkdir -p "$work"
rm -rf "$work/results.h5" "$work/ranks.h5"
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEUROCOHORT_MPI=OFF \
  -DNEUROCOHORT_USE_JEMALLOC=OFF -DNEUROCOHORT_USE_LIBDEFLATE=OFF -DNEUROCOHORT_CUDA=OFF -DBUILD_TESTING=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" --target neurocohort -j "$(nproc)" >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
binary=$work/build/cli/neurocohort
for fallback in "allocator glibc malloc" "deflate codec zlib"; do
  grep -q "neurocohort: $fallback" "$work/configure.log" || { echo "configure did not choose: $fallback"; exit 1; }
done
if MALLOC_CONF=confirm_conf:true "$binary" --version 2>&1 | grep -q "Set conf value"; then
  echo "the build without jemalloc still allocates through jemalloc"; exit 1
fi

"$binary" run "$manifest" --out "$work/results.h5" --model "$model" --threads 1
/usr/bin/python3 - "$work/results.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    status = [s.decode() if isinstance(s, bytes) else s for s in f["scans/status"][:]]
    assert status and all(s == "ok" for s in status), status
    # Chunks deflated by zlib, inflated by HDF5's own filter: every map holds brain labels.
    for name in f["labels"]:
        assert f["labels"][name][()].max() > 0, name
PY

set +e
output=$(mpirun -np 2 --oversubscribe "$binary" run "$manifest" --out "$work/ranks.h5" --model "$model" 2>&1)
code=$?
set -e
if [ "$code" -eq 0 ] || ! grep -q "built without MPI, but was started as one of several MPI ranks" <<<"$output"; then
  echo "expected the build without MPI to refuse two ranks (exit $code):"; echo "$output"; exit 1
fi
if [ -e "$work/ranks.h5" ]; then echo "a refused run left $work/ranks.h5"; exit 1; fi
echo "build without MPI, jemalloc and libdeflate: runs as one process, refuses several ranks"
