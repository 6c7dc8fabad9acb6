"""Reads every dataset of a cohort store with Debian's h5py and prints a JSON summary.

Used by cohort_store_test to prove that the files are plain HDF5 that Python tools read
without neurocohort: every /scans column, /regions, /metrics, /qc, each /labels map and its
attributes, and the root attributes.
"""
import json
import sys

import h5py
import numpy as np


def text(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def main(path):
    out = {"scans": {}, "metrics": {}, "qc": {}, "labels": {}, "attrs": {}}
    with h5py.File(path, "r") as f:
        for name, ds in f["scans"].items():
            values = ds[()]
            out["scans"][name] = text(values.tolist()) if ds.dtype.kind == "O" else [
                None if (isinstance(v, float) and np.isnan(v)) else v for v in values.tolist()]
        out["regions"] = {
            "label": f["regions/label"][()].tolist(),
            "name": text(f["regions/name"][()].tolist()),
            "hemisphere": text(f["regions/hemisphere"][()].tolist()),
        }
        for name, ds in f["metrics"].items():
            out["metrics"][name] = [[None if np.isnan(v) else v for v in row] for row in ds[()].tolist()]
        for name, ds in f["qc"].items():  # [scans] or [scans × regions]
            values = ds[()].tolist()
            out["qc"][name] = [[None if np.isnan(v) else v for v in row] if isinstance(row, list)
                               else (None if np.isnan(row) else row) for row in values]
        for name, ds in f["labels"].items():
            arr = ds[()]
            out["labels"][name] = {
                "shape": list(arr.shape), "dtype": str(arr.dtype), "sum": int(arr.astype(np.int64).sum()),
                "spacing": ds.attrs["spacing"].tolist(), "origin": ds.attrs["origin"].tolist(),
                "compression": ds.compression, "chunks": list(ds.chunks),
            }
        for key, value in f.attrs.items():
            out["attrs"][key] = value.decode() if isinstance(value, bytes) else str(value)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
