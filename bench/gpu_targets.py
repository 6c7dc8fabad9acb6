#!/usr/bin/env python3
"""The GPU rows of docs/BENCHMARKS.md (issue 25's targets), measured in one run on one machine.

    python3 bench/gpu_targets.py BUILD_DIR [--scans 16] [--device cuda] [--out DIR]

On the GPU machine, in the call after verify.sh while the machine is still warm (it reuses
verify.sh's build; about 3-5 minutes; docs/development.md):
    source .gpu/on-device.sh && python3 bench/gpu_targets.py /tmp/nc-gpu-build
It synthesizes a cohort, then measures, each against its target:
  1. one CT scan's chain from upload to download in bf16 (bench/scan_bench.cpp), <= 50 ms;
  2. `run --precision bf16` on the cohort without its expert labels (a production run: no
     Dice or HD95, which cost CPU time a cohort of new scans does not spend), scans/s against
     the node's cores divided by the measured read (decode) seconds per scan, >= 80 %;
  3. resampling that CT to 1 mm on the device against CuPy's zoom(order=1) of the same
     volume, within 2x;
  4. the skull strip of its 1 mm image against CuPy's binary_opening (3x3x3) + label of the
     same volume's brain window, >= 2x faster;
  5. `run --precision fp32` on cuda against cpu, label maps equal on >= 99.9 % of voxels.
With --device cpu every step but CuPy's runs on the CPU (a rehearsal of the script, or CPU
figures for comparison). Prints a markdown table row by row as each is measured, and rewrites
OUT/results.json after each step, so a run cut short still brings back what it measured.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np


def run(cmd, timeout):
    print("$", " ".join(str(c) for c in cmd), flush=True)
    start = time.monotonic()
    subprocess.run([str(c) for c in cmd], check=True, timeout=timeout)
    return time.monotonic() - start


def read_nifti(path):
    """Voxels of a NIfTI-1 file as float32 in [k, j, i] order, with its pixdim (i, j, k)."""
    raw = Path(path).read_bytes()
    data = gzip.decompress(raw) if str(path).endswith(".gz") else raw
    hdr = np.frombuffer(data[:348], dtype=np.uint8)
    dim = np.frombuffer(hdr[40:56].tobytes(), dtype="<i2")
    datatype = int(np.frombuffer(hdr[70:72].tobytes(), dtype="<i2")[0])
    pixdim = np.frombuffer(hdr[76:108].tobytes(), dtype="<f4")
    offset = int(np.frombuffer(hdr[108:112].tobytes(), dtype="<f4")[0])
    slope, inter = np.frombuffer(hdr[112:120].tobytes(), dtype="<f4")
    dtypes = {2: "u1", 4: "<i2", 8: "<i4", 16: "<f4", 64: "<f8", 512: "<u2"}
    n = int(np.prod(dim[1:4]))
    voxels = np.frombuffer(data, dtype=dtypes[datatype], count=n, offset=offset).astype(np.float32)
    if slope not in (0.0, 1.0) or inter != 0.0:
        voxels = voxels * (slope if slope else 1.0) + inter
    return voxels.reshape(dim[3], dim[2], dim[1]), [float(p) for p in pixdim[1:4]]


def cupy_peers(ct_path, repeats=20):
    """CuPy's zoom(order=1) of the CT to 1 mm and binary_opening + label of its brain window."""
    try:
        import cupy as cp
        from cupyx.scipy import ndimage
    except ImportError as e:
        return {"skipped": f"CuPy is not importable here ({e})"}
    volume, spacing = read_nifti(ct_path)
    on_gpu = cp.asarray(volume)
    zoom = (spacing[2], spacing[1], spacing[0])  # to 1 mm, in [k, j, i] order

    def timed(step):
        step()
        cp.cuda.Device().synchronize()
        ms = []
        for _ in range(repeats):
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            step()
            stop.record()
            stop.synchronize()
            ms.append(cp.cuda.get_elapsed_time(start, stop))
        return ms

    mask = (on_gpu > 0) & (on_gpu < 100)
    cube = cp.ones((3, 3, 3), dtype=bool)  # the 3x3x3 opening of ../shared/gpu/README.md's anchor
    return {"shape": list(volume.shape),
            "zoom_ms": timed(lambda: ndimage.zoom(on_gpu, zoom, order=1)),
            "opening_label_ms": timed(lambda: ndimage.label(ndimage.binary_opening(mask, structure=cube)))}


def labels_agreement(a_path, b_path):
    """Share of voxels with equal labels over all scans both files stored, overall and inside
    the union of the two maps' brains (voxels either labels non-zero)."""
    equal = total = brain_equal = brain = 0
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        for name in a["labels"]:
            if name not in b["labels"]:
                continue
            x, y = a["labels"][name][()], b["labels"][name][()]
            same = x == y
            inside = (x != 0) | (y != 0)
            equal += int(same.sum())
            total += same.size
            brain_equal += int((same & inside).sum())
            brain += int(inside.sum())
    return {"all_voxels": equal / max(total, 1), "brain_voxels": brain_equal / max(brain, 1)}


def subset_manifest(manifest, rows, name):
    lines = manifest.read_text().splitlines(keepends=True)
    path = manifest.parent / name
    path.write_text("".join(lines[: rows + 1]))
    return path


def without_labels(manifest, name):
    """The manifest without its `labels` column, beside it."""
    rows = [line.split("\t") for line in manifest.read_text().splitlines()]
    keep = [i for i, column in enumerate(rows[0]) if column != "labels"]
    path = manifest.parent / name
    path.write_text("".join("\t".join(row[i] for i in keep) + "\n" for row in rows))
    return path


def first_ct(manifest):
    header, *rows = [line.rstrip("\n").split("\t") for line in manifest.read_text().splitlines()]
    for row in rows:
        fields = dict(zip(header, row))
        if fields["modality"] == "CT":
            return manifest.parent / fields["image"]
    sys.exit("gpu_targets: the synthetic cohort has no CT scan")


class Report:
    """Rows printed as each is measured, and results.json rewritten after each step, so that a
    run cut short by the device call's limit still brings back what it measured."""

    def __init__(self, folder, device, cores):
        self.path = folder / "results.json"
        self.results = {"device": device, "cores": cores}
        print(f"\n| target ({device}, {cores} cores) | measured | target | |\n| --- | --- | --- | --- |", flush=True)

    def keep(self, key, value):
        self.results[key] = value
        self.path.write_text(json.dumps(self.results, indent=1))

    @staticmethod
    def row(what, measured, target, met):
        print(f"| {what} | {measured} | {target} | {'met' if met else 'missed'} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", type=Path, help="build folder (cli/neurocohort and bench/scan_bench in it)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu-targets"))
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/gpu-targets")),
                    help="folder for results.json (default: $OUT, which the device call brings back)")
    ap.add_argument("--scans", type=int, default=16, help="cohort size for the throughput run")
    ap.add_argument("--parity-scans", type=int, default=4, help="scans of the fp32 cuda-against-cpu comparison")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    nc = args.build / "cli" / "neurocohort"
    scan_bench = args.build / "bench" / "scan_bench"
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    cohort = args.work / "cohort"
    if not (cohort / "manifest.tsv").exists():
        run([nc, "synth", "--out", cohort, "--n", args.scans, "--seed", 11], timeout=300)
    manifest = cohort / "manifest.tsv"
    ct = first_ct(manifest)
    cores = os.cpu_count()
    report = Report(args.out, args.device, cores)
    median = statistics.median

    # 1. One CT's chain, and the kernels that CuPy is compared with.
    sb = json.loads(subprocess.run([str(scan_bench), "--scan", str(ct), "--modality", "CT", "--device", args.device,
                                    "--precision", "bf16", "--repeats", "5"], check=True, capture_output=True,
                                   text=True, timeout=240).stdout)
    report.keep("scan_bench_bf16", sb)
    report.row("GPU ms per CT scan, upload to download, bf16", f"{median(sb['scan_ms']):.1f} ms", "<= 50 ms",
               median(sb["scan_ms"]) <= 50)
    print("one CT scan's chain in parts, median ms: " + ", ".join(
        f"{part} {median(sb[part + '_ms']):.1f}" for part in ("preprocess", "segment", "native_labels")), flush=True)
    if "host_to_device_bytes" in sb:
        print(f"bytes one CT scan copied: {sb['host_to_device_bytes']} up, {sb['device_to_host_bytes']} down",
              flush=True)

    cupy = cupy_peers(ct) if args.device == "cuda" else {"skipped": "--device cpu"}
    report.keep("cupy", cupy)
    if "skipped" in cupy:
        print(f"CuPy comparisons not measured: {cupy['skipped']}", flush=True)
    else:
        ours_r, peer_r = median(sb["resample_ms"]), median(cupy["zoom_ms"])
        ours_s, peer_s = median(sb["skull_strip_ms"]), median(cupy["opening_label_ms"])
        report.row(f"resample {sb['size']} to 1 mm against CuPy zoom(order=1)",
                   f"{ours_r:.2f} against {peer_r:.2f} ms ({ours_r / peer_r:.2f}x)", "<= 2x", ours_r <= 2 * peer_r)
        report.row("skull-strip chain (1 mm) against CuPy binary_opening 3x3x3 + label (native)",
                   f"{ours_s:.2f} against {peer_s:.2f} ms ({peer_s / ours_s:.2f}x faster)", ">= 2x faster",
                   peer_s >= 2 * ours_s)

    # 2. Throughput of a production run against the decode bound.
    timings = args.work / "timings-bf16.json"
    run([nc, "run", without_labels(manifest, "production.tsv"), "--out", args.work / "bf16.h5", "--device",
         args.device, "--precision", "bf16", "--timings", timings, "--overwrite"], timeout=300)
    t = json.loads(timings.read_text())
    report.keep("run_bf16", t)
    read_s = t["stage_seconds_per_scan"]["read"]
    scans_per_s, decode_bound = t["scans_per_minute"] / 60, cores / read_s
    report.row(f"run scans/s against {cores} cores / {read_s:.2f} s read per scan",
               f"{scans_per_s:.2f} of {decode_bound:.2f} ({100 * scans_per_s / decode_bound:.0f} %)", ">= 80 %",
               scans_per_s >= 0.8 * decode_bound)
    print(f"run bf16 stage seconds per scan: {t['stage_seconds_per_scan']}", flush=True)

    # 3. fp32 label maps of this device against the CPU's.
    parity = subset_manifest(manifest, args.parity_scans, "parity.tsv")
    for device in (args.device, "cpu"):
        run([nc, "run", parity, "--out", args.work / f"fp32-{device}.h5", "--device", device, "--precision", "fp32",
             "--overwrite"], timeout=300)
    agree = labels_agreement(args.work / f"fp32-{args.device}.h5", args.work / "fp32-cpu.h5")
    report.keep("fp32_labels_equal", agree)
    report.row(f"fp32 labels {args.device} against cpu, {args.parity_scans} scans",
               f"{100 * agree['all_voxels']:.3f} % of voxels ({100 * agree['brain_voxels']:.3f} % of brain voxels)",
               ">= 99.9 %", agree["all_voxels"] >= 0.999)


if __name__ == "__main__":
    main()
