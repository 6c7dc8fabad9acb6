"""Checks a synthetic cohort's true volumes against its planted model, with statsmodels.

usage: check_planted_model.py TRUE_VOLUMES.tsv EFFECTS.tsv

For the ICV and every region: OLS of ln(volume) on ln(age), male and patient; each planted
coefficient must lie inside the fitted confidence interval. For every lobe: the mean of
ln(left) - ln(right) must contain the planted asymmetry in its interval. The intervals are
simultaneous 95 % intervals (Bonferroni over all 37 checks): with per-check 95 % intervals,
about two of 37 true coefficients would fall outside by chance alone. Prints one line per
check and exits 1 if any fails.
"""
import sys

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats


def main(volumes_path, effects_path):
    volumes = pd.read_csv(volumes_path, sep="\t")
    effects = pd.read_csv(effects_path, sep="\t").set_index("region")
    design = pd.DataFrame({
        "ln_age": np.log(volumes["age"]),
        "male": (volumes["sex"] == "M").astype(float),
        "patient": (volumes["group"] == "patient").astype(float),
    })
    design = sm.add_constant(design)
    outcomes = ["icv"] + [r for r in effects.index if r != "icv"]
    lobes = ("frontal", "parietal", "occipital", "temporal")
    alpha = 0.05 / (3 * len(outcomes) + len(lobes))
    failures = 0
    for outcome in outcomes:
        column = "icv_ml" if outcome == "icv" else outcome
        fit = sm.OLS(np.log(volumes[column]), design).fit()
        ci = fit.conf_int(alpha)
        planted = effects.loc[outcome]
        for term, name in (("ln_age", "age_per_ln_year"), ("male", "male"), ("patient", "patient")):
            lo, hi = ci.loc[term]
            ok = lo <= planted[name] <= hi
            failures += not ok
            print(f"{'ok' if ok else 'FAIL'}\t{outcome}\t{term}\tplanted {planted[name]:.4f}\t"
                  f"fitted {fit.params[term]:.4f} [{lo:.4f}, {hi:.4f}]")
    for lobe in lobes:
        diff = np.log(volumes[f"{lobe}_L"]) - np.log(volumes[f"{lobe}_R"])
        planted = effects.loc[f"{lobe}_L", "asymmetry_log"] - effects.loc[f"{lobe}_R", "asymmetry_log"]
        lo, hi = stats.t.interval(1 - alpha, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff))
        ok = lo <= planted <= hi
        failures += not ok
        print(f"{'ok' if ok else 'FAIL'}\t{lobe}\tasymmetry\tplanted {planted:.4f}\t"
              f"fitted {diff.mean():.4f} [{lo:.4f}, {hi:.4f}]")
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
