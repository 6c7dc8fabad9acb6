"""The window plans of `neurocohort run` side by side: seconds per scan and Dice per modality
and region, on synthetic scans the shipped model never saw (docs/models.md keeps the table).

usage: window_plans.py NEUROCOHORT WORK_DIR [--n 16] [--seed 77] [--plans windows:0.5,windows:0.25,whole]

A plan is `WINDOW_PLAN[:OVERLAP[:PRECISION]]` (overlap 0.5 and fp32 when left out), so that
`--plans windows:0.5:fp32,windows:0.5:bf16` holds a precision to the same rule.

Synthesizes N subjects (seed 77: not the training seed 2026, nor make validate's 21), runs the
cohort once per plan with --timings, then prints per plan the stage seconds per scan (infer,
and the whole scan), the mean Dice per modality, and against the first plan the change of each
modality's mean Dice and the largest change of one region's mean Dice. The rule for changing
the default (issue 24): every modality's mean moves by less than 0.003 and no region's by more
than 0.01. A plan's results file is reused when it exists, so a table can be re-printed.
"""
import argparse
import json
import os
import subprocess

import h5py
import numpy as np


def text(dataset):
    return [v.decode() if isinstance(v, bytes) else v for v in dataset[:]]


def run_plan(binary, work, manifest, plan):
    name, overlap, precision = (plan.split(":") + ["", ""])[:3]
    label = plan.replace(":", "-")
    out, timings = os.path.join(work, label + ".h5"), os.path.join(work, label + ".json")
    if not os.path.exists(out):
        subprocess.run([binary, "run", manifest, "--out", out, "--window-plan", name, "--overlap", overlap or "0.5",
                        "--precision", precision or "fp32", "--timings", timings], check=True, capture_output=True, text=True)
    with open(timings) as f:
        seconds = json.load(f)["stage_seconds_per_scan"]
    with h5py.File(out) as f:
        modality = np.array(text(f["scans/modality"]))
        dice = f["metrics/dice"][:]
        regions = text(f["regions/name"])
        status = text(f["scans/status"])
    assert all(s == "ok" for s in status), (plan, status)
    return {"seconds": seconds, "modality": modality, "dice": dice, "regions": regions}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("neurocohort")
    parser.add_argument("work")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=77)
    parser.add_argument("--plans", default="windows:0.5,windows:0.25,whole")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    manifest = os.path.join(args.work, "cohort", "manifest.tsv")
    if not os.path.exists(manifest):
        subprocess.run([args.neurocohort, "synth", "--out", os.path.dirname(manifest), "--n", str(args.n), "--seed",
                        str(args.seed), "--modality", "both"], check=True, capture_output=True)
    plans = args.plans.split(",")
    results = {plan: run_plan(args.neurocohort, args.work, manifest, plan) for plan in plans}
    base = results[plans[0]]
    modalities = sorted(set(base["modality"]))
    print("| plan | infer s/scan | scan s (4 stages) | " + " | ".join(f"Dice {m}" for m in modalities) +
          " | Δ mean Dice | largest Δ region Dice |")
    print("| --- " * (4 + len(modalities)) + "|")
    for plan in plans:
        r = results[plan]
        s = r["seconds"]
        scan_seconds = sum(s[k] for k in ("read", "preprocess", "infer", "measure"))
        means, deltas, region_delta = [], [], 0.0
        for m in modalities:
            rows = r["modality"] == m
            means.append(np.nanmean(r["dice"][rows]))
            deltas.append(means[-1] - np.nanmean(base["dice"][base["modality"] == m]))
            per_region = np.nanmean(r["dice"][rows], axis=0) - np.nanmean(base["dice"][base["modality"] == m], axis=0)
            region_delta = max(region_delta, float(np.nanmax(np.abs(per_region))))
        print(f"| {plan} | {s['infer']:.2f} | {scan_seconds:.2f} | " + " | ".join(f"{v:.4f}" for v in means) +
              " | " + ", ".join(f"{m} {d:+.4f}" for m, d in zip(modalities, deltas)) + f" | {region_delta:.4f} |")


if __name__ == "__main__":
    main()
