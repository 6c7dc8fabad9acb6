#!/usr/bin/python3
"""Writes the seeds that Debian's Python writes best (/usr/bin/python3):
  CORPUS_DIR/nifti/  tiny NIfTI images (python3-nibabel) of several datatypes, byte orders and
                     scalings, each prefixed with the byte fuzz_nifti reads first (even: the
                     file is named .nii, odd: .nii.gz);
  CORPUS_DIR/store/compact.h5  a cohort store in the layout of docs/hdf5-schema.md written by
                     python3-h5py with the newest file format and contiguous datasets: a few KB,
                     where the project's own writer (make_seeds.cpp) needs 40.
usage: make_seeds.py CORPUS_DIR"""
import gzip
import io
import pathlib
import sys

import h5py
import nibabel as nib
import numpy as np


def nifti_bytes(data, slope=None, inter=None, dtype=None, endianness="<"):
    header = nib.Nifti1Header(endianness=endianness)
    img = nib.Nifti1Image(data, np.diag([1.0, 1.5, 2.0, 1.0]), header=header)
    img.set_data_dtype(dtype if dtype is not None else data.dtype.newbyteorder(endianness))
    buf = io.BytesIO()
    file_map = nib.Nifti1Image.make_file_map({"image": buf})
    img.to_file_map(file_map)
    raw = bytearray(buf.getvalue())
    if slope is not None:  # scl_slope, scl_inter (nibabel would rescale the data instead)
        raw[112:120] = np.array([slope, inter], dtype=endianness + "f4").tobytes()
    return bytes(raw)


def compact_store(path):
    text = h5py.string_dtype("utf-8")
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs.create("version", "fuzz-seed", dtype=text)
        scans = f.create_group("scans")
        scans.create_dataset("scan_id", data=["sub-1", "sub-2"], dtype=text)
        scans.create_dataset("status", data=["ok", "pending"], dtype=text)
        scans.create_dataset("error", data=["", ""], dtype=text)
        scans.create_dataset("host", data=["node-0", ""], dtype=text)
        scans.create_dataset("icv_ml", data=[1400.5, np.nan])
        scans.create_dataset("seconds", data=[2.5, np.nan])
        scans.create_dataset("age", data=[40.0, 51.5])
        scans.create_dataset("rank", data=[0, -1], dtype="<i4")
        regions = f.create_group("regions")
        regions.create_dataset("label", data=[1, 2], dtype="<i4")
        regions.create_dataset("name", data=["frontal_L", "frontal_R"], dtype=text)
        regions.create_dataset("hemisphere", data=["L", "R"], dtype=text)
        f.create_group("metrics").create_dataset("volume_ml", data=[[10.0, 11.0], [np.nan, np.nan]])
        labels = f.create_group("labels").create_dataset(
            "sub-1", data=np.arange(12, dtype=np.uint8).reshape(2, 2, 3) % 3)
        labels.attrs["spacing"] = [1.0, 1.0, 2.0]
        labels.attrs["origin"] = [0.0, 0.0, 0.0]
        labels.attrs["direction"] = np.eye(3).ravel()


def main(corpus):
    corpus = pathlib.Path(corpus)
    (corpus / "store").mkdir(parents=True, exist_ok=True)
    compact_store(corpus / "store" / "compact.h5")
    out = corpus / "nifti"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    u8 = rng.integers(0, 255, (4, 3, 2)).astype(np.uint8)
    i16 = rng.integers(-1000, 3000, (3, 3, 2)).astype(np.int16)
    f32 = rng.standard_normal((2, 3, 2)).astype(np.float32)
    f64 = rng.standard_normal((2, 2, 2))
    seeds = {
        "u8.nii": (0, nifti_bytes(u8)),
        "i16_scaled.nii": (0, nifti_bytes(i16, slope=0.5, inter=-10.0)),
        "f32_bigendian.nii": (0, nifti_bytes(f32, endianness=">")),
        "f64.nii": (0, nifti_bytes(f64)),
        "i16.nii.gz": (1, gzip.compress(nifti_bytes(i16), mtime=0)),
        "f32.nii.gz": (1, gzip.compress(nifti_bytes(f32), mtime=0)),
        # two gzip members, as neurocohort's gzip_file writes them
        "u8_two_members.nii.gz": (1, b"".join(gzip.compress(part, mtime=0)
                                              for part in (nifti_bytes(u8)[:200], nifti_bytes(u8)[200:]))),
    }
    for name, (suffix_byte, payload) in seeds.items():
        (out / name).write_bytes(bytes([suffix_byte]) + payload)


if __name__ == "__main__":
    main(sys.argv[1])
