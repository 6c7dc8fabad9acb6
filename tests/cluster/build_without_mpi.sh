#!/usr/bin/env bash
# The build without MPI (-DNEUROCOHORT_MPI=OFF) links cluster/mpi_stub.cpp in place of the MPI
# transport; no caller has a build switch. This configures and builds that variant (ccache makes
# it cheap), then checks that it runs a cohort as one process and refuses to run as one of
# several MPI ranks, where each rank would write the whole cohort into the same file.
# usage: build_without_mpi.sh SOURCE_DIR WORK_DIR MANIFEST MODEL
set -euo pipefail
source_dir=$1 work=$2 manifest=$3 model=$4
mkdir -p "$work"
rm -rf "$work/results.h5" "$work/ranks.h5"
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEUROCOHORT_MPI=OFF \
  -DNEUROCOHORT_CUDA=OFF -DBUILD_TESTING=OFF >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" --target neurocohort -j "$(nproc)" >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; exit 1; }
binary=$work/build/cli/neurocohort

"$binary" run "$manifest" --out "$work/results.h5" --model "$model" --threads 1
/usr/bin/python3 - "$work/results.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    status = [s.decode() if isinstance(s, bytes) else s for s in f["scans/status"][:]]
    assert status and all(s == "ok" for s in status), status
PY

set +e
output=$(mpirun -np 2 --oversubscribe "$binary" run "$manifest" --out "$work/ranks.h5" --model "$model" 2>&1)
code=$?
set -e
if [ "$code" -eq 0 ] || ! grep -q "built without MPI, but was started as one of several MPI ranks" <<<"$output"; then
  echo "expected the build without MPI to refuse two ranks (exit $code):"; echo "$output"; exit 1
fi
if [ -e "$work/ranks.h5" ]; then echo "a refused run left $work/ranks.h5"; exit 1; fi
echo "build without MPI: runs as one process, refuses several ranks"
