"""The planted effects seen through the model: statistics on the volumes the default model
measured agree in sign and significance with the same statistics on the true volumes.

usage: check_model_volumes.py --neurocohort BINARY --results RESULTS.h5 --truth TRUE_VOLUMES.tsv --work DIR

Both inputs go through `norms build --log-volume --log-age` (the scale the synthetic cohort
plants its effects on), the truth restricted to the scans the run measured. For every effect
the truth shows at p < 0.05 (age, sex and group per measure; left/right asymmetry per lobe),
the model's volumes must show the same sign at p < 0.05. Prints both side by side. Also
checks dice_summary.tsv against the Dice of the results file, recomputed with numpy, and
requires the model card's target: mean Dice over the regions at least 0.90 per modality (the
subjects are new to the model, so this is held-out Dice on the scans' native grids).
"""
import argparse
import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd

ALPHA = 0.05
MIN_MEAN_DICE = 0.90
TERMS = ("age", "sex[M]", "group[patient]")


def build(binary, source, work, name):
    tsv = os.path.join(work, name)
    subprocess.run([binary, "norms", "build", source, "--out", os.path.join(work, name + ".h5"), "--tsv", tsv,
                    "--log-volume", "--log-age"], check=True, capture_output=True, text=True)
    return (pd.read_csv(os.path.join(tsv, "regression.tsv"), sep="\t"),
            pd.read_csv(os.path.join(tsv, "asymmetry.tsv"), sep="\t"))


def text(dataset):
    return [v.decode() if isinstance(v, bytes) else v for v in dataset[()]]


def check_dice_summary(results, tsv):
    """Per region and stratum (all, group=, modality=): n, mean, SD (n - 1), median of the
    finite Dice of ok scans. Returns the number of values compared, or raises on a mismatch."""
    with h5py.File(results) as f:
        regions = text(f["regions/name"])
        ok = np.array(text(f["scans/status"])) == "ok"
        columns = {c: np.array(text(f["scans/" + c])) for c in ("group", "modality")}
        dice = f["metrics/dice"][()]
    table = pd.read_csv(os.path.join(tsv, "dice_summary.tsv"), sep="\t")
    strata = [("all", ok)] + [(f"{c}={level}", ok & (values == level))
                              for c, values in columns.items() for level in sorted(set(values[ok]))]
    compared = 0
    for r, region in enumerate(regions):
        for stratum, rows in strata:
            d = dice[rows, r]
            d = d[np.isfinite(d)]
            if len(d) < 2:
                continue
            row = table[(table["measure"] == region) & (table["stratum"] == stratum)]
            if len(row) != 1:
                raise AssertionError(f"dice_summary.tsv: {len(row)} rows for {region}, {stratum}")
            expected = {"n": len(d), "mean": d.mean(), "sd": d.std(ddof=1), "median": np.median(d)}
            for column, value in expected.items():
                if not np.isclose(row[column].iloc[0], value, rtol=1e-9, atol=0):
                    raise AssertionError(f"dice_summary.tsv {region} {stratum} {column}: "
                                         f"{row[column].iloc[0]} != {value}")
                compared += 1
    if compared == 0:
        raise AssertionError("dice_summary.tsv: the results have no Dice to compare")
    return compared


def mean_dice_by_modality(results):
    """Per modality: the mean over regions of each region's mean Dice over ok scans, as the model card reports."""
    with h5py.File(results) as f:
        ok = np.array(text(f["scans/status"])) == "ok"
        modality = np.array(text(f["scans/modality"]))
        dice = f["metrics/dice"][()]
    return {m: float(np.nanmean(np.nanmean(dice[ok & (modality == m)], axis=0))) for m in sorted(set(modality[ok]))}


def measured_scans(results):
    with h5py.File(results) as f:
        ids = [v.decode() for v in f["scans/scan_id"][()]]
        status = [v.decode() for v in f["scans/status"][()]]
    return {i for i, s in zip(ids, status) if s == "ok"}


def effects(regression, asymmetry):
    """(what, estimate, p) for the planted effects."""
    rows = regression[regression["term"].isin(TERMS)]
    out = {(r.measure, r.term): (r.estimate, r.p) for r in rows.itertuples()}
    for r in asymmetry[asymmetry["stratum"] == "all"].itertuples():
        out[(r.pair, "L-R")] = (r.mean_difference, r.p)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurocohort", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)

    scans = measured_scans(args.results)
    truth = pd.read_csv(args.truth, sep="\t")
    truth = truth[truth["scan_id"].isin(scans)]
    truth_path = os.path.join(args.work, "truth_of_measured_scans.tsv")
    truth.to_csv(truth_path, sep="\t", index=False)
    model = effects(*build(args.neurocohort, args.results, args.work, "model"))
    true = effects(*build(args.neurocohort, truth_path, args.work, "truth"))

    print(f"{len(scans)} scans measured by the model\n{'measure':<12} {'effect':<15} {'true':>9} {'p':>9}   "
          f"{'model':>9} {'p':>9}")
    failures, compared = [], 0
    for key, (estimate, p) in sorted(true.items()):
        if key not in model:
            failures.append(f"{key}: no estimate from the model's volumes")
            continue
        m_estimate, m_p = model[key]
        verdict = ""
        if p < ALPHA:
            compared += 1
            if m_p >= ALPHA or (m_estimate > 0) != (estimate > 0):
                verdict = "  <- differs"
                failures.append(f"{key}: true {estimate:.4f} (p {p:.2g}), model {m_estimate:.4f} (p {m_p:.2g})")
        print(f"{key[0]:<12} {key[1]:<15} {estimate:9.4f} {p:9.2g}   {m_estimate:9.4f} {m_p:9.2g}{verdict}")
    for modality, mean in mean_dice_by_modality(args.results).items():
        print(f"mean Dice over the regions, {modality}: {mean:.4f}")
        if mean < MIN_MEAN_DICE:
            failures.append(f"mean Dice on {modality} {mean:.4f} is below the model card's {MIN_MEAN_DICE}")
    if failures:
        print(f"FAIL ({compared} effects significant in the true volumes compared):", *failures, sep="\n  ",
              file=sys.stderr)
        return 1
    print(f"dice_summary.tsv: {check_dice_summary(args.results, os.path.join(args.work, 'model'))} values "
          "agree with numpy")
    print(f"all {compared} effects significant in the true volumes have the same sign and significance "
          "in the model's volumes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
