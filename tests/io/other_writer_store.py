"""A results file written by another tool (h5py, from a study's own volumes table) is read by
norms build, norms score, agree and merge.

The file holds only what those commands use: /scans/scan_id, age, sex, group, site, modality
and icv_ml; /regions/label and name (no hemisphere); /metrics/volume_ml. It has none of the
columns only `run` writes (status, error, seconds, host, rank). norms build on it must give
the same tables as norms build on the volumes table it was made from.

usage: other_writer_store.py NEUROCOHORT WORK
"""
import csv
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(*command):
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"exit {result.returncode}: {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def write_store_like_a_study(volumes_tsv, path):
    with open(volumes_tsv, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    covariates = {"scan_id", "modality", "age", "sex", "group", "site", "icv_ml"}
    regions = [c for c in rows[0] if c not in covariates]
    text = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        for column in ("scan_id", "sex", "group", "site", "modality"):
            f.create_dataset(f"scans/{column}", data=[r[column] for r in rows], dtype=text)
        for column in ("age", "icv_ml"):
            f.create_dataset(f"scans/{column}", data=np.array([float(r[column]) for r in rows]))
        f.create_dataset("regions/label", data=np.arange(1, len(regions) + 1, dtype=np.int32))
        f.create_dataset("regions/name", data=regions, dtype=text)
        f.create_dataset("metrics/volume_ml", data=np.array([[float(r[c]) for c in regions] for r in rows]))
    return len(rows), regions


def rescale_volumes(volumes_tsv, out, regions):
    rng = np.random.default_rng(4)
    with open(volumes_tsv, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        fields, rows = reader.fieldnames, list(reader)
    for r in rows:
        for c in regions:
            r[c] = f"{float(r[c]) * 1.03 * (1 + 0.02 * rng.standard_normal()):.4f}"
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def tables(path):
    with h5py.File(path, "r") as f:
        out = {}
        f["tables"].visititems(lambda name, ds: out.__setitem__(name, ds[()]) if isinstance(ds, h5py.Dataset) else None)
        return out


def main():
    binary, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run(binary, "synth", "--volumes-only", "--n", "80", "--seed", "9", "--out", os.path.join(work, "synth"))
    volumes = os.path.join(work, "synth", "true_volumes.tsv")
    study = os.path.join(work, "study.h5")
    scans, regions = write_store_like_a_study(volumes, study)

    run(binary, "norms", "build", study, "--out", os.path.join(work, "from_h5.h5"))
    run(binary, "norms", "build", volumes, "--out", os.path.join(work, "from_tsv.h5"))
    a, b = tables(os.path.join(work, "from_h5.h5")), tables(os.path.join(work, "from_tsv.h5"))
    if sorted(a) != sorted(b):
        fail(f"norms build made other tables from the h5py store: {sorted(set(a) ^ set(b))}")
    for name in a:
        x, y = a[name], b[name]
        same = np.array_equal(x, y) if x.dtype.kind in "OSU" else np.allclose(x, y, rtol=1e-12, equal_nan=True)
        if not same:
            fail(f"/tables/{name} differs between the h5py store and its volumes table")
    print(f"norms build: {len(a)} table columns equal from the h5py store and from its volumes table")

    run(binary, "norms", "score", study, "--reference", os.path.join(work, "from_tsv.h5"),
        "--out", os.path.join(work, "scores.tsv"))
    with open(os.path.join(work, "scores.tsv")) as f:
        scored = sum(1 for _ in f) - 1
    if scored != scans * len(regions) + scans:  # every region and ICV of every scan
        print(f"  (scores.tsv has {scored} rows)")
    if scored < scans * len(regions):
        fail(f"norms score scored {scored} values, expected at least {scans * len(regions)}")
    # agree needs two measurements that differ: the study's against its volumes 3 % larger, with noise.
    remeasured = os.path.join(work, "remeasured.tsv")
    rescale_volumes(volumes, remeasured, regions)
    run(binary, "agree", study, remeasured, "--out", os.path.join(work, "agreement.tsv"))
    with open(os.path.join(work, "agreement.tsv")) as f:
        compared = sum(1 for _ in f) - 1
    if compared < len(regions):
        fail(f"agree compared {compared} measures, expected at least {len(regions)}")
    merged = os.path.join(work, "merged.h5")
    run(binary, "merge", study, "--out", merged)
    with h5py.File(merged, "r") as f:
        statuses = {s.decode() if isinstance(s, bytes) else s for s in f["scans/status"][()]}
        if statuses != {"ok"} or len(f["scans/scan_id"]) != scans:
            fail(f"merge of the h5py store: statuses {statuses}, {len(f['scans/scan_id'])} scans")
    print(f"other writer's store: {scans} scans × {len(regions)} regions read by norms build, score, agree, merge")


if __name__ == "__main__":
    main()
