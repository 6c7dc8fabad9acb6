"""End-to-end throughput: `neurocohort run` against the Python script a study would otherwise write.

usage: end_to_end.py NEUROCOHORT MANIFEST WORK_DIR [--scans K] [--threads T] [--model M.pt]
                     [--peer-equalizer clahe|ahe] [--peer-morphology ball|edt] [--json OUT]
                     [--check MIN_RATIO] [--dice-tolerance D]

Takes the first K scans of MANIFEST (a sub-manifest with absolute paths in WORK_DIR), reads
every image once so that neither side pays for a cold page cache, then runs `neurocohort run`
and bench/peer_pipeline.py on them with the same model, thread count, window plan and float32
arithmetic (`--precision fp32`: the peer has no bf16), one after the other.
It prints, and writes to --json, per stage the seconds per scan of each side and their ratio
(peer / neurocohort: how many times faster neurocohort is), the end-to-end scans per minute of
each side and their ratio, and the mean Dice of each side per modality and the difference.

It also shows that the measure and write stages do the same work on both sides: per metric
(volume, Dice, precision, recall, HD95, volume similarity) the largest difference between the two
results files; the same for the peer's measure code run on neurocohort's own stored label maps,
which isolates the measure code from the few voxels by which the two networks' float arithmetic
can make the label maps differ (it should be 0; HD95 within about 1e-6 mm, float against
double distance transforms); and per scan whether both stored the label map alike (shape,
dtype, chunks, shuffle + gzip level) and the share of voxels whose labels differ.

Reading the stage columns: neurocohort keeps several scans in flight (--in-flight 3), so its
stage seconds are work times of stages that overlap and share the cores; the peer runs one
scan at a time. `--isolated-stages` takes neurocohort's columns from a second run with
--in-flight 1 instead, where each stage has the cores to itself as the peer's do. Throughput is the end-to-end line: wall time from the first scan to the last
record written, model loading excluded on both sides.

The peer's defaults are the studies' way (skimage CLAHE, ball structuring elements). CLAHE
changes the network's input, so Dice differs from neurocohort's by design; `--peer-equalizer
ahe` runs neurocohort's equalizer ported to numpy, and then Dice agrees (same masks, same
network input). `--check MIN_RATIO` is the CI smoke variant: exit status 1 when the end-to-end
ratio falls below MIN_RATIO or a modality's mean Dice differs by more than --dice-tolerance,
both judged within this one run, never against absolute times. For example:

  end_to_end.py build/cli/neurocohort demo/cohort/manifest.tsv /tmp/e2e --scans 2 \\
      --peer-equalizer ahe --peer-morphology edt --check 1.0
"""
import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time

import h5py
import nibabel as nib
import numpy as np

import peer_pipeline  # this script's folder is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer_pipeline.py")
DEFAULT_MODEL = os.path.join(HERE, "..", "models", "default", "resunet333.pt")
STAGES = ("read", "preprocess", "infer", "measure", "write")


def write_sub_manifest(manifest, scans, path):
    """The first `scans` rows of `manifest` (all when None), paths made absolute; returns the rows."""
    folder = os.path.dirname(os.path.abspath(manifest))
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        columns, rows = reader.fieldnames, list(reader)[:scans]
    for row in rows:
        for column in ("image", "labels"):
            if row.get(column):
                row[column] = os.path.join(folder, row[column])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def warm_page_cache(rows):
    for row in rows:
        for column in ("image", "labels"):
            if row.get(column):
                with open(row[column], "rb") as f:
                    while f.read(1 << 24):
                        pass


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(command, label):
    """Runs a side to completion; returns its process seconds and the share of the machine's CPU time that
    other processes took meanwhile (on a shared machine a busy neighbour slows one side and skews the
    ratio). A failing side ends the harness."""
    start, busy, ours = time.perf_counter(), busy_cpu_seconds(), children_cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    others = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - ours)
    if done.returncode != 0:
        sys.exit(f"{label} failed (exit {done.returncode}): {' '.join(command)}\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, max(others, 0.0) / (seconds * os.cpu_count())


def describe(binary):
    """The binary's version line and build time: the build changes under a running comparison on a shared machine."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    built = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(binary)))
    return {"version": version, "built": built}


def neurocohort_scans(results):
    """Per scan: id, modality, ICV and mean Dice over regions, from neurocohort's cohort store."""
    with h5py.File(results) as f:
        status = f["scans/status"].asstr()[()]
        if any(s != "ok" for s in status):
            sys.exit(f"{results}: not every scan is ok: {list(status)}")
        return [{"scan_id": s, "modality": m, "icv_ml": float(icv), "mean_dice": mean_dice(d)}
                for s, m, icv, d in zip(f["scans/scan_id"].asstr()[()], f["scans/modality"].asstr()[()],
                                        f["scans/icv_ml"][()], f["metrics/dice"][()])]


def peer_scans(timings):
    return [{"scan_id": p["scan_id"], "modality": p["modality"], "icv_ml": p["icv_ml"],
             "mean_dice": mean_dice(np.array([np.nan if d is None else d for d in p["dice"] or []], dtype=float))}
            for p in timings["per_scan"]]


def mean_dice(per_region):
    values = np.asarray(per_region, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def dice_by_modality(ours, theirs):
    """Mean over scans of each scan's mean Dice, per modality, over the scans with ground truth."""
    out = {}
    for modality in sorted({s["modality"] for s in ours}):
        values = [[s["mean_dice"] for s in side if s["modality"] == modality and s["mean_dice"] is not None]
                  for side in (ours, theirs)]
        if all(values):
            means = [float(np.mean(v)) for v in values]
            out[modality] = {"neurocohort": means[0], "peer": means[1], "difference": means[0] - means[1]}
    return out


def read_metrics(results):
    """{metric: [scans × regions]} of a results file."""
    with h5py.File(results) as f:
        return {name: dataset[()] for name, dataset in f["metrics"].items()}


def metric_differences(ours, theirs, scan_ids, regions):
    """Per metric: the largest absolute difference where both sides have a value, where it is, and how many
    values are NaN on one side only (undefined on one side is a disagreement the difference cannot show)."""
    out = {}
    for name in peer_pipeline.METRICS:
        a, b = ours[name], theirs[name]
        one_sided = np.isnan(a) != np.isnan(b)
        gap = np.where(np.isnan(a) | np.isnan(b), 0.0, np.abs(a - b))
        scan, region = np.unravel_index(np.argmax(gap), gap.shape)
        out[name] = {"max_abs_difference": float(gap[scan, region]), "scan_id": scan_ids[scan],
                     "region": regions[region], "neurocohort": float(a[scan, region]), "peer": float(b[scan, region]),
                     "nan_mismatches": int(one_sided.sum())}
    return out


def replay_measure(nc_results, rows):
    """The peer's measure stage on neurocohort's stored label maps and the same truth, as {metric: [scans ×
    regions]}: the measure code's agreement on equal input."""
    per_scan = []
    with h5py.File(nc_results) as f:
        label_ids = f["regions/label"][()]
        for row in rows:
            image = nib.load(row["image"])
            truth = peer_pipeline.read_truth(row["labels"], image) if row.get("labels") else None
            labels = f["labels/" + row["scan_id"]][()].transpose(2, 1, 0)  # stored [k, j, i]
            per_scan.append(peer_pipeline.measure(labels, truth, label_ids, peer_pipeline.header_spacing(image)))
    unmeasured = np.full(len(label_ids), np.nan)
    return {m: np.array([scan.get(m, unmeasured) for scan in per_scan]) for m in peer_pipeline.METRICS}


def storage(dataset):
    return {"shape": list(dataset.shape), "dtype": str(dataset.dtype), "chunks": list(dataset.chunks or ()),
            "shuffle": dataset.shuffle, "compression": dataset.compression, "level": dataset.compression_opts}


def label_map_agreement(nc_results, peer_results, scan_ids):
    """Per scan: neurocohort's storage of the label map, whether the peer's is the same, both compressed sizes,
    the largest difference of the grid attributes and the share of voxels whose labels differ."""
    out = {}
    with h5py.File(nc_results) as ours, h5py.File(peer_results) as theirs:
        for scan_id in scan_ids:
            a, b = ours["labels/" + scan_id], theirs["labels/" + scan_id]
            same = storage(a) == storage(b)
            out[scan_id] = {"storage": storage(a), "same_storage": same,
                            "stored_bytes": {"neurocohort": a.id.get_storage_size(),
                                             "peer": b.id.get_storage_size()},
                            "grid_max_difference": max(float(np.max(np.abs(a.attrs[k] - b.attrs[k])))
                                                       for k in ("spacing", "origin", "direction")),
                            "voxels_differing": float(np.mean(a[()] != b[()])) if same else None}
    return out


def work_agreement(nc_results, peer_results, rows):
    """The metrics and label-map comparisons that show measure and write did the same work on both sides."""
    scan_ids = [row["scan_id"] for row in rows]
    with h5py.File(nc_results) as f:
        regions = list(f["regions/name"].asstr()[()])
    nc_metrics = read_metrics(nc_results)
    return {"metrics": {"end_to_end": metric_differences(nc_metrics, read_metrics(peer_results), scan_ids, regions),
                        "peer_measure_on_neurocohort_labels":
                            metric_differences(nc_metrics, replay_measure(nc_results, rows), scan_ids, regions)},
            "label_maps": label_map_agreement(nc_results, peer_results, scan_ids)}


def compare(nc_timings, peer_timings, nc_scans, peer_scans_):
    stages = {}
    for stage in STAGES:
        ours, theirs = nc_timings["stage_seconds_per_scan"][stage], peer_timings["stage_seconds_per_scan"][stage]
        stages[stage] = {"neurocohort": ours, "peer": theirs, "ratio": theirs / ours if ours > 0 else None}
    rates = nc_timings["scans_per_minute"], peer_timings["scans_per_minute"]
    peer_icv = {s["scan_id"]: s["icv_ml"] for s in peer_scans_}
    icv_gap = max(abs(s["icv_ml"] - peer_icv[s["scan_id"]]) / s["icv_ml"] for s in nc_scans)
    return {"stage_seconds_per_scan": stages,
            "end_to_end": {"neurocohort_scans_per_minute": rates[0], "peer_scans_per_minute": rates[1],
                           "neurocohort_wall_seconds": nc_timings["wall_seconds"],
                           "peer_wall_seconds": peer_timings["wall_seconds"], "ratio": rates[0] / rates[1]},
            "dice": dice_by_modality(nc_scans, peer_scans_), "icv_max_relative_difference": icv_gap,
            "per_scan": {"neurocohort": nc_scans, "peer": peer_scans_}}


def print_report(result):
    print(f"{'stage':<11} {'neurocohort s/scan':>18} {'peer s/scan':>12} {'peer/nc':>8}")
    for stage, row in result["stage_seconds_per_scan"].items():
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.{1 if row['ratio'] >= 1 else 2}f}x"
        print(f"{stage:<11} {row['neurocohort']:18.2f} {row['peer']:12.2f} {ratio:>8}")
    e2e = result["end_to_end"]
    print(f"{'end to end':<11} {e2e['neurocohort_scans_per_minute']:14.2f}/min {e2e['peer_scans_per_minute']:8.2f}/min "
          f"{e2e['ratio']:7.1f}x   ({result['scans']} scans, {result['threads']} threads; "
          f"neurocohort stages overlap, see --help)")
    for modality, d in result["dice"].items():
        print(f"mean Dice {modality}: neurocohort {d['neurocohort']:.4f}, peer {d['peer']:.4f}, "
              f"difference {d['difference']:+.4f}")
    print_metric_agreement(result["metrics"])
    print_label_maps(result["label_maps"])
    others = result["other_processes_cpu_share"]
    print(f"other processes took {100 * others['neurocohort']:.0f} % of the CPUs during neurocohort, "
          f"{100 * others['peer']:.0f} % during the peer")
    print(f"ICV: largest relative difference {100 * result['icv_max_relative_difference']:.2f} %  "
          f"(peer: {result['peer_configuration']['equalizer']} equalizer, "
          f"{result['peer_configuration']['morphology']} morphology)")


def print_metric_agreement(metrics):
    both, replay = metrics["end_to_end"], metrics["peer_measure_on_neurocohort_labels"]
    print(f"{'metric':<18} {'largest |neurocohort - peer|':<44} {'peer measure on nc label maps':>29}")
    for name, d in both.items():
        where = f"({d['scan_id']}, {d['region']})" if d["max_abs_difference"] > 0 else ""
        nan = f", {d['nan_mismatches']} NaN on one side" if d["nan_mismatches"] else ""
        replay_nan = f", {replay[name]['nan_mismatches']} NaN" if replay[name]["nan_mismatches"] else ""
        print(f"{name:<18} {d['max_abs_difference']:<10.4g} {where + nan:<33} "
              f"{replay[name]['max_abs_difference']:>27.3g}{replay_nan}")


def print_label_maps(maps):
    alike = all(m["same_storage"] for m in maps.values())
    s = next(iter(maps.values()))["storage"]
    differing = ", ".join(f"{scan} " + ("-" if m["voxels_differing"] is None else f"{100 * m['voxels_differing']:.4f} %")
                          for scan, m in maps.items())
    print(f"label maps: stored {'alike' if alike else 'DIFFERENTLY'} ({s['dtype']}, chunks {s['chunks']}, "
          f"shuffle {s['shuffle']}, {s['compression']} {s['level']}); voxels differing: {differing}")


def check(result, min_ratio, dice_tolerance):
    """The CI verdict: gross regressions only, from ratios measured in this run."""
    failures = []
    ratio = result["end_to_end"]["ratio"]
    if ratio < min_ratio:
        failures.append(f"end-to-end ratio {ratio:.2f} is below {min_ratio}")
    for modality, d in result["dice"].items():
        if abs(d["difference"]) > dice_tolerance:
            failures.append(f"{modality} mean Dice differs by {d['difference']:+.4f} (tolerance {dice_tolerance})")
    return failures


def neurocohort_command(args, path, model, results="neurocohort.h5", timings="neurocohort_timings.json",
                        extra=()):
    # The sub-manifest's paths are absolute, outside its folder.
    return [args.neurocohort, "run", path["manifest.tsv"], "--out", path[results], "--timings", path[timings],
            "--threads", str(args.threads), "--model", model, "--precision", "fp32", "--allow-external-paths", "--overwrite",
            *extra]


def peer_command(args, path, model):
    return [sys.executable, PEER, path["manifest.tsv"], "--out", path["peer.h5"],
            "--timings", path["peer_timings.json"], "--threads", str(args.threads), "--model", model,
            "--equalizer", args.peer_equalizer, "--morphology", args.peer_morphology]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("neurocohort", help="the neurocohort binary")
    parser.add_argument("manifest")
    parser.add_argument("work", help="folder for the sub-manifest, results and timings (created)")
    parser.add_argument("--scans", type=int, help="use the first K scans (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--peer-equalizer", choices=("clahe", "ahe"), default="clahe")
    parser.add_argument("--peer-morphology", choices=("ball", "edt"), default="ball")
    parser.add_argument("--json", help="write the comparison here")
    parser.add_argument("--check", type=float, metavar="MIN_RATIO",
                        help="exit 1 when the end-to-end ratio is below MIN_RATIO or Dice differs beyond tolerance")
    parser.add_argument("--dice-tolerance", type=float, default=0.02)
    parser.add_argument("--isolated-stages", action="store_true",
                        help="take neurocohort's stage columns from a second run with --in-flight 1, where "
                             "stages do not overlap (the end-to-end line stays the default run's)")
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    path = {name: os.path.join(args.work, name) for name in
            ("manifest.tsv", "neurocohort.h5", "neurocohort_timings.json", "peer.h5", "peer_timings.json",
             "neurocohort_isolated.h5", "neurocohort_isolated_timings.json")}
    rows = write_sub_manifest(args.manifest, args.scans, path["manifest.tsv"])
    warm_page_cache(rows)
    model = os.path.abspath(args.model)
    binary = describe(args.neurocohort)
    nc_seconds, nc_others = run_timed(neurocohort_command(args, path, model), "neurocohort run")
    peer_seconds, peer_others = run_timed(peer_command(args, path, model), "peer")
    if args.isolated_stages:
        run_timed(neurocohort_command(args, path, model, "neurocohort_isolated.h5", "neurocohort_isolated_timings.json",
                                      ("--in-flight", "1")), "neurocohort run --in-flight 1")

    with open(path["neurocohort_timings.json"]) as f:
        nc_timings = json.load(f)
    if args.isolated_stages:
        with open(path["neurocohort_isolated_timings.json"]) as f:
            nc_timings["stage_seconds_per_scan"] = json.load(f)["stage_seconds_per_scan"]
    with open(path["peer_timings.json"]) as f:
        peer_timings = json.load(f)
    result = {"scans": len(rows), "threads": args.threads, "model": model, "neurocohort": binary,
              "peer_configuration": peer_timings["configuration"],
              "process_seconds": {"neurocohort": nc_seconds, "peer": peer_seconds},
              "other_processes_cpu_share": {"neurocohort": nc_others, "peer": peer_others}}
    result |= compare(nc_timings, peer_timings, neurocohort_scans(path["neurocohort.h5"]), peer_scans(peer_timings))
    result |= work_agreement(path["neurocohort.h5"], path["peer.h5"], rows)
    print_report(result)
    failures = check(result, args.check, args.dice_tolerance) if args.check is not None else []
    result["check"] = {"min_ratio": args.check, "dice_tolerance": args.dice_tolerance, "failures": failures}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    for failure in failures:
        print(f"check failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
