#!/usr/bin/env bash
# Builds neurocohort's libFuzzer targets with clang-14 (ASan + UBSan, separate from the main
# g++ build) and runs each on a fresh copy of its seed corpus. docs/development.md, "Fuzzing".
#
#   run_fuzzers.sh BUILD_DIR SOURCE_DIR [--seconds N] [--only TARGET]... [--build-only]
#                  [--make-seeds]
#
# BUILD_DIR/fuzz gets the objects, the binaries (fuzz_nifti, fuzz_manifest, fuzz_record,
# fuzz_store_layout, fuzz_store, fuzz_dicom), a work copy of each corpus and each run's log; crashing inputs
# are kept under BUILD_DIR/fuzz/artifacts/<target>/. Without --only it builds and runs the
# targets of the ctest entry: nifti, manifest, record, store_layout and dicom. The raw-bytes `store`
# target runs only when asked for (--only store): it finds bugs inside HDF5 1.10 itself, which
# this project cannot fix (docs/development.md, "Fuzzing"). Exits non-zero when the build fails
# or any target reports a crash, a sanitizer finding, a leak, a timeout or running out of
# memory (libFuzzer exits non-zero). --make-seeds rewrites the committed seed corpora under
# tests/fuzz/corpus instead.
set -euo pipefail

usage() { sed -n "5,6p" "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
build=$(mkdir -p "$1" && cd "$1" && pwd)/fuzz
src=$(cd "$2" && pwd)
shift 2
seconds=12
only=()
build_only=0
make_seeds=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --only) only+=("$2"); shift 2 ;;
    --build-only) build_only=1; shift ;;
    --make-seeds) make_seeds=1; shift ;;
    *) usage ;;
  esac
done
all_targets=(nifti manifest record store_layout store dicom)
targets=(nifti manifest record store_layout dicom)
[ ${#only[@]} -eq 0 ] || targets=("${only[@]}")
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $t "*) ;;
    *) echo "run_fuzzers: no target $t (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done

cxx=${NC_FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "run_fuzzers: $cxx not found (scripts/install-deps.sh installs clang-14 libfuzzer-14-dev)" >&2; exit 1; }
launcher=""
command -v ccache >/dev/null && launcher="ccache "
command -v ninja >/dev/null || { echo "run_fuzzers: ninja not found" >&2; exit 1; }

# Third-party headers as -isystem: nifticlib as ITK 5.2 bundles it (the main build's), HDF5 serial.
itk_inc=/usr/include/ITK-5.2
hdf5_cflags=$(pkg-config --cflags hdf5-serial 2>/dev/null | sed 's/-I/-isystem /g' || true)
[ -n "$hdf5_cflags" ] || hdf5_cflags="-isystem /usr/include/hdf5/serial"
hdf5_libs=$(pkg-config --libs hdf5-serial 2>/dev/null || echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
nifti_libs="/usr/lib/libITKniftiio-5.2.so.1 /usr/lib/libITKznz-5.2.so.1"
# spdlog (Debian's compiled library over external fmt), for the sources that log.
spdlog_cflags=$(pkg-config --cflags spdlog 2>/dev/null || echo "-DSPDLOG_SHARED_LIB -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL")
spdlog_libs=$(pkg-config --libs spdlog 2>/dev/null || echo "-lspdlog -lfmt")
# The project sources each target links (as obj/<dir>_<name>.o). Those from `optional` are
# linked where this tree has them (they arrived with later changes), so that the script builds
# older and newer trees alike: io/image_preflight.cpp (path and header checks; zlib, spdlog),
# io/label_chunks.cpp (the stored form of label maps; TBB), io/deflate_codec_libdeflate.cpp (the
# deflate streams of both, on libdeflate). When a target stops
# linking with "undefined reference", add the source that defines the symbol here.
optional() { [ -f "$src/$1.cpp" ] && echo "$1"; return 0; }
preflight=$(optional io/image_preflight)
label_chunks=$(optional io/label_chunks)
codec=$(optional io/deflate_codec_libdeflate)
nifti_srcs="io/nifti_voxels $preflight $codec"
manifest_srcs="jobs/manifest io/tsv dicom/series_reference $preflight"
record_srcs="cluster/record_codec $label_chunks $codec"
store_srcs="io/cohort_store io/hdf5_detail $label_chunks $codec"
dicom_srcs="dicom/series_reference dicom/slice_header dicom/series dicom/series_volume dicom/selection"
objs() { local f out=""; for f in "$@"; do out+=" obj/${f//\//_}.o"; done; echo "$out"; }

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# NC_FUZZ_CFLAGS_EXTRA: e.g. -fno-sanitize=nonnull-attribute, to fuzz past a known report
# (use another BUILD_DIR for such a build).
cflags="-std=c++20 -O1 -g $sanitize ${NC_FUZZ_CFLAGS_EXTRA:-} -I$src -isystem $itk_inc $hdf5_cflags $spdlog_cflags"

mkdir -p "$build"
# A generated ninja file: incremental (depfiles) and parallel on two cores without make.
{
  echo "cxx = $launcher$cxx"
  echo "cflags = $cflags"
  echo "rule cc"
  echo "  command = \$cxx \$cflags \$extra -MD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "  description = CXX \$out"
  echo "rule link"
  echo "  command = \$cxx $sanitize \$extra \$in -o \$out \$libs"
  echo "  description = LINK \$out"
  # The project's sources, instrumented for coverage but without libFuzzer's main.
  # shellcheck disable=SC2086  # word splitting of the source lists is intended
  for f in $(printf '%s\n' $nifti_srcs $manifest_srcs $record_srcs $store_srcs $dicom_srcs | sort -u); do
    echo "build obj/${f//\//_}.o: cc $src/$f.cpp"
    echo "  extra = -fsanitize=fuzzer-no-link"
  done
  for t in "${all_targets[@]}"; do
    echo "build obj/fuzz_$t.o: cc $src/tests/fuzz/fuzz_$t.cpp"
    echo "  extra = -fsanitize=fuzzer-no-link"
  done
  # shellcheck disable=SC2086,SC2046
  {
    echo "build fuzz_nifti: link obj/fuzz_nifti.o$(objs $nifti_srcs)"
    echo "  extra = -fsanitize=fuzzer"
    echo "  libs = $nifti_libs -ldeflate -lz -ltbb $spdlog_libs"
    echo "build fuzz_manifest: link obj/fuzz_manifest.o$(objs $manifest_srcs)"
    echo "  extra = -fsanitize=fuzzer"
    echo "  libs = -lz $spdlog_libs"
    echo "build fuzz_record: link obj/fuzz_record.o$(objs $record_srcs)"
    echo "  extra = -fsanitize=fuzzer"
    echo "  libs = -ldeflate -ltbb"
    echo "build fuzz_dicom: link obj/fuzz_dicom.o$(objs $dicom_srcs)"
    echo "  extra = -fsanitize=fuzzer"
    echo "  libs = -ldcmjpls -ldcmjpeg -ldcmdata -loflog -lofstd -ltbb"
    for t in store store_layout; do
      echo "build fuzz_$t: link obj/fuzz_$t.o$(objs $store_srcs)"
      echo "  extra = -fsanitize=fuzzer"
      echo "  libs = $hdf5_libs -ldeflate -ltbb"
    done
    # The seed writer: an ordinary program over the same (instrumented) objects.
    echo "build obj/make_seeds.o: cc $src/tests/fuzz/make_seeds.cpp"
    echo "  extra = -fsanitize=fuzzer-no-link"
    echo "build make_seeds: link obj/make_seeds.o$(objs $(printf '%s\n' $record_srcs $store_srcs | sort -u))"
    echo "  extra = -fsanitize=fuzzer-no-link"
    echo "  libs = $hdf5_libs -ldeflate -ltbb"
  }
} > "$build/build.ninja.new"
cmp -s "$build/build.ninja.new" "$build/build.ninja" 2>/dev/null || mv "$build/build.ninja.new" "$build/build.ninja"
rm -f "$build/build.ninja.new"

if [ $make_seeds -eq 1 ]; then
  ninja -C "$build" -j "${NC_FUZZ_JOBS:-2}" make_seeds
  # Written aside first: the committed seeds are replaced only when both writers succeeded.
  rm -rf "$build/seeds"
  ASAN_OPTIONS=detect_leaks=0 "$build/make_seeds" "$build/seeds"
  /usr/bin/python3 "$src/tests/fuzz/make_seeds.py" "$build/seeds"
  for t in nifti record store; do
    rm -rf "$src/tests/fuzz/corpus/$t"
    cp -r "$build/seeds/$t" "$src/tests/fuzz/corpus/$t"
  done
  du -sh "$src/tests/fuzz/corpus"/*
  exit 0
fi

fuzzers=()
for t in "${targets[@]}"; do fuzzers+=("fuzz_$t"); done
echo "run_fuzzers: building ${fuzzers[*]} in $build"
ninja -C "$build" -j "${NC_FUZZ_JOBS:-2}" "${fuzzers[@]}"
[ $build_only -eq 0 ] || exit 0

# HDF5 and nifticlib are not instrumented: ASan still checks what they copy into our buffers
# (memcpy and friends are intercepted). Leak detection stays on for every target.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
summary=()
for t in "${targets[@]}"; do
  work="$build/work/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$build/artifacts/$t"
  cp -r "$src/tests/fuzz/corpus/$t/." "$work/corpus/"
  log="$build/fuzz_$t.log"
  echo "run_fuzzers: fuzz_$t for ${seconds}s (log: $log)"
  rc=0
  # -timeout: one input longer than 10 s is a finding; the outer timeout only guards a hang
  # of libFuzzer itself.
  (cd "$work" && timeout $((seconds + 120)) "$build/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" corpus) >"$log" 2>&1 || rc=$?
  rate=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -1)
  runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    status=1
    summary+=("fuzz_$t: FAILED (exit $rc) after ${runs:-?} runs, ${rate:-?} exec/s; artifacts in $build/artifacts/$t/")
    echo "---- fuzz_$t: last lines of $log ----"
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED)' "$log" | tail -60
  else
    summary+=("fuzz_$t: ok, ${runs:-?} runs, ${rate:-?} exec/s")
  fi
done

echo "run_fuzzers: summary (${seconds}s each)"
for line in "${summary[@]}"; do echo "  $line"; done
exit $status
