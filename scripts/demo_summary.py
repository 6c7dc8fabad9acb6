"""Prints the demo's summary from a cohort store: per-region Dice against the synthetic
ground truth, and mean measured volume by sex next to the true volumes.

usage: demo_summary.py RESULTS.h5 TRUE_VOLUMES.tsv
"""
import csv
import sys

import h5py
import numpy as np


def text(dataset):
    return [v.decode() if isinstance(v, bytes) else v for v in dataset[:]]


def main(results, true_volumes):
    with h5py.File(results) as f:
        regions = text(f["regions/name"])
        status = np.array(text(f["scans/status"]))
        sex = np.array(text(f["scans/sex"]))
        modality = np.array(text(f["scans/modality"]))
        scan_ids = text(f["scans/scan_id"])
        dice, volume = f["metrics/dice"][:], f["metrics/volume_ml"][:]
        seconds = f["scans/seconds"][:]
    ok = status == "ok"
    with open(true_volumes, newline="") as t:
        truth = {row["scan_id"]: row for row in csv.DictReader(t, delimiter="\t")}
    true = np.array([[float(truth[s][r]) for r in regions] for s in scan_ids])

    print(f"{ok.sum()} of {len(status)} scans ok; {np.nanmean(seconds[ok]):.1f} s of stage time per scan")
    print(f"\n  {'region':<12} {'Dice CT':>8} {'Dice MR':>8}   {'F mL':>7} {'(true)':>7}   {'M mL':>7} {'(true)':>7}")
    for r, name in enumerate(regions):
        cells = [np.nanmean(dice[ok & (modality == m), r]) for m in ("CT", "MR")]
        for s in ("F", "M"):
            rows = ok & (sex == s)
            cells += [volume[rows, r].mean(), true[rows, r].mean()]
        print(f"  {name:<12} {cells[0]:8.3f} {cells[1]:8.3f}   {cells[2]:7.1f} {cells[3]:7.1f}   {cells[4]:7.1f} {cells[5]:7.1f}")
    print(f"  {'mean':<12} {np.nanmean(dice[ok & (modality == 'CT')]):8.3f} {np.nanmean(dice[ok & (modality == 'MR')]):8.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
