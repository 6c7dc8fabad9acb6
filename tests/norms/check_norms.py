"""Checks `neurocohort norms build`, `norms score` and `agree` against statsmodels and scipy.

usage: check_norms.py CHECK --neurocohort BINARY --work DIR
CHECK is one of:

statsmodels  A 300-subject synthetic cohort (`synth --volumes-only`). Every numeric cell of
             descriptives, icv_adjustment, regression (also with --log-volume --log-age),
             asymmetry and group_comparison, the normative model in NORMS.h5 (knots,
             coefficients, sigma, n, (X'X)^-1, age range), every scan's z, centile and
             expected volume from `norms score`, and `agree` against a perturbed copy of the
             volumes, each recomputed with statsmodels/scipy to 1e-6 relative. Every table
             must have exactly the rows docs/statistics.md implies and no missing cells, and
             /tables/<name>/<column> in NORMS.h5 must hold the same values as the TSVs.
planted      A 400-subject cohort built with --log-volume --log-age: the regression intervals
             recover the planted age, sex and group coefficients of effects.tsv, and the
             asymmetry-index intervals the planted left/right log ratios, all within
             simultaneous (Bonferroni) 95 % intervals.
degenerate   Small hand-made tables: one sex only, a constant region, missing volumes, pooled
             inputs with different regions or a repeated scan_id, an invalid sex, and fewer
             scans than regression parameters: each skips with a message or fails clearly.
report       `norms build --report --compare`: the HTML is self-contained, holds one SVG plot
             per measure, the asymmetry plot and the Bland-Altman plots, and renders in
             headless Chromium to a screenshot with plot colours in it.

Everything expected is computed here (statsmodels, scipy, effects.tsv); nothing is stored.
Each check prints what it compared and exits 1 with table, key, column, actual and expected
on the first mismatch.
"""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

RTOL = 1e-6
ATOL = 1e-12
P_FLOOR = 1e-300  # below this, p-values underflow differently in Boost and scipy
LOA_FACTOR = 1.96  # the doc's Bland-Altman limits: bias -/+ 1.96 SD (literally 1.96)
ALPHA = 0.05
CONTROL = "control"
AGE_BANDS = (2.0, 6.0)  # the --age-bands default
KNOTS = 4  # the --knots default
THRESHOLD = 2.0  # the `norms score --threshold` default
MANIFEST_COLUMNS = {"scan_id", "age", "sex", "modality", "group", "site", "icv_ml", "image", "labels", "status"}
MISSING = {"", "n/a", "na", "nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "none", "null"}
P_COLUMNS = {"p", "p_bonferroni", "spearman_p", "pearson_p"}

# The documented columns, in the documented order.
COLUMNS = {
    "descriptives": ["measure", "volume", "stratum", "n", "mean", "sd", "median", "min", "max"],
    "icv_adjustment": ["measure", "n", "beta", "mean_icv_ml", "r_squared"],
    "regression": ["measure", "term", "estimate", "std_error", "t", "p", "ci_low", "ci_high", "n", "df_resid",
                   "r_squared", "adj_r_squared", "spearman_rho", "spearman_p"],
    "asymmetry": ["pair", "stratum", "left", "right", "n", "mean_left", "mean_right", "mean_difference",
                  "sd_difference", "t", "df", "p", "cohen_dz", "asymmetry_index", "ai_ci_low", "ai_ci_high"],
    "group_comparison": ["measure", "group", "n_control", "n_group", "mean_control", "mean_group", "difference_pct",
                         "adjusted_difference_ml", "adjusted_difference_pct", "t", "p", "p_bonferroni", "significant"],
    "agreement": ["measure", "n", "mean_a", "mean_b", "bias", "sd_difference", "loa_low", "loa_high", "t", "p",
                  "p_bonferroni", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"],
    "scores": ["scan_id", "measure", "age", "sex", "volume_ml", "expected_ml", "z", "centile", "flagged",
               "outside_age_range"],
}


class CheckFailure(Exception):
    pass


def fail(message):
    raise CheckFailure(message)


def close(actual, expected, atol=ATOL, rtol=RTOL):
    a, e = float(actual), float(expected)
    return math.isfinite(a) and math.isfinite(e) and abs(a - e) <= atol + rtol * abs(e)


def assert_close(actual, expected, what, atol=ATOL, rtol=RTOL):
    if not close(actual, expected, atol, rtol):
        fail(f"{what}: actual {float(actual)!r}, expected {float(expected)!r} (rtol {rtol:g}, atol {atol:g})")


# --- running the binary ---------------------------------------------------------------------

def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def run_nc(binary, *args, expect_ok=True):
    """Runs neurocohort; with expect_ok, a non-zero exit is a failure that shows its output."""
    command = [binary, *map(str, args)]
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if expect_ok and result.returncode != 0:
        fail(f"exit {result.returncode}: {' '.join(command)}\nstdout:\n{tail(result.stdout)}\n"
             f"stderr:\n{tail(result.stderr)}")
    return result


def fresh(*paths):
    """Removes what an earlier run of this check left at these paths."""
    for path in paths:
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def synth(binary, work, n, seed):
    folder = os.path.join(work, "cohort")
    fresh(folder)
    run_nc(binary, "synth", "--out", folder, "--n", n, "--seed", seed, "--volumes-only")
    return os.path.join(folder, "true_volumes.tsv"), os.path.join(folder, "effects.tsv")


def build(binary, inputs, h5, tsv, *options, expect_ok=True):
    """`norms build INPUTS --out H5 --tsv TSV OPTIONS`, into fresh outputs."""
    fresh(h5, tsv)
    return run_nc(binary, "norms", "build", *inputs, "--out", h5, "--tsv", tsv, *options, expect_ok=expect_ok)


# --- the cohort as statsmodels sees it --------------------------------------------------------

def load_cohort(path):
    """A volumes table the way docs/statistics.md reads it: empty cells, n/a and NaN are missing."""
    # round_trip: parse numbers exactly as strtod does, like the C++ reader
    return pd.read_csv(path, sep="\t", na_values=["", "n/a", "NaN"], keep_default_na=False,
                       float_precision="round_trip",
                       dtype={"scan_id": str, "sex": str, "group": str, "site": str, "modality": str})


def regions_of(cohort):
    """Every non-manifest column whose values are all numbers."""
    return [c for c in cohort.columns if c not in MANIFEST_COLUMNS and pd.api.types.is_numeric_dtype(cohort[c])]


def measures_of(cohort):
    return (["icv"] if "icv_ml" in cohort.columns else []) + regions_of(cohort)


def volume(cohort, measure):
    return cohort["icv_ml" if measure == "icv" else measure]


HEMISPHERE_PATTERNS = ((r"(.+)_L$", r"(.+)_R$"), (r"Left-(.+)$", r"Right-(.+)$"), (r"lh_(.+)$", r"rh_(.+)$"))


def pairs_of(regions):
    """(pair, left, right) for each left/right region pair, named by the rest of the name."""
    pairs = []
    for left_pattern, right_pattern in HEMISPHERE_PATTERNS:
        lefts = {m.group(1): r for r in regions if (m := re.fullmatch(left_pattern, r))}
        rights = {m.group(1): r for r in regions if (m := re.fullmatch(right_pattern, r))}
        pairs += [(rest, lefts[rest], rights[rest]) for rest in lefts if rest in rights]
    return pairs


def reference_mask(cohort):
    """The reference group: the control group when a group column has it, else every scan."""
    if "group" in cohort.columns and (cohort["group"] == CONTROL).any():
        return cohort["group"] == CONTROL
    return pd.Series(True, index=cohort.index)


def band_label(value):
    return f"{value:g}"


def strata(cohort, bands=AGE_BANDS):
    """(name, mask) for every descriptives stratum, before the at-least-2-scans rule."""
    yield "all", pd.Series(True, index=cohort.index)
    for sex in ("F", "M"):
        yield f"sex={sex}", cohort["sex"] == sex
    edges = [-math.inf, *bands, math.inf]
    for low, high in zip(edges[:-1], edges[1:]):
        if low == -math.inf:
            name = f"age<={band_label(high)}"
        elif high == math.inf:
            name = f"age>{band_label(low)}"
        else:
            name = f"{band_label(low)}<age<={band_label(high)}"
        yield name, (cohort["age"] > low) & (cohort["age"] <= high)
    for column in ("group", "modality"):
        if column in cohort.columns:
            for level in sorted(cohort[column].dropna().unique()):
                yield f"{column}={level}", cohort[column] == level


def spline_basis(age, knots):
    """Harrell's restricted cubic spline terms C_1 ... C_{K-2} of docs/statistics.md, one column each."""
    x = np.asarray(age, dtype=float)
    t = np.asarray(knots, dtype=float)
    k = len(t)

    def cube(u):
        return np.maximum(u, 0.0) ** 3

    span = t[k - 1] - t[k - 2]
    columns = [(cube(x - t[j]) - cube(x - t[k - 2]) * (t[k - 1] - t[j]) / span
                + cube(x - t[k - 1]) * (t[k - 2] - t[j]) / span) / (t[k - 1] - t[0]) ** 2
               for j in range(k - 2)]
    return np.column_stack(columns)


def knot_positions(ages, k=KNOTS):
    """Percentiles 5 ... 95, evenly spread (5, 35, 65, 95 for 4 knots), numpy's linear interpolation."""
    return np.percentile(np.asarray(ages, dtype=float), np.linspace(5, 95, k))


def normative_design(frame, knots):
    """The normative model's design, in the order of /normative/coefficients:
    intercept, sex[M], age, C_1 ... C_{K-2}."""
    design = pd.DataFrame({"intercept": 1.0, "sex[M]": (frame["sex"] == "M").astype(float),
                           "age": frame["age"].astype(float)}, index=frame.index)
    for j, column in enumerate(spline_basis(frame["age"], knots).T, start=1):
        design[f"C_{j}"] = column
    return design


def term_name(param):
    """statsmodels' parameter name in the doc's spelling: C(sex, Treatment('F'))[T.M] -> sex[M]."""
    if param == "Intercept":
        return "intercept"
    match = re.fullmatch(r"C\((\w+)(?:, *Treatment\([^)]*\))?\)\[T\.(.+)\]", param)
    return f"{match.group(1)}[{match.group(2)}]" if match else param


def with_levels(frame, column):
    return column in frame.columns and frame[column].nunique() >= 2


# --- reading the C++ tables -------------------------------------------------------------------

def read_text_table(path, name):
    """A TSV as text, with the documented columns in the documented order."""
    if not os.path.isfile(path):
        fail(f"{path}: missing")
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)
    if list(frame.columns) != COLUMNS[name]:
        fail(f"{path}: columns {list(frame.columns)}, expected {COLUMNS[name]}")
    return frame


def is_missing(text):
    return text.strip().lower() in MISSING


def missing_cells(frame):
    return [(i, c) for c in frame.columns for i, v in frame[c].items() if is_missing(v)]


class TableCheck:
    """One table's rows, keyed by its key columns, compared cell by cell with expected values.
    Counts the values compared; `done` fails on rows nobody expected."""

    def __init__(self, path, name, key_columns, allow_missing=lambda row, column: False):
        self.name = os.path.basename(path)
        frame = read_text_table(path, name)
        for i, column in missing_cells(frame):
            if not allow_missing(frame.loc[i], column):
                fail(f"{self.name}: missing value {frame.at[i, column]!r} in column {column}, row "
                     f"{dict(frame.loc[i, key_columns])}")
        self.rows = {}
        for _, row in frame.iterrows():
            key = tuple(row[c] for c in key_columns)
            if key in self.rows:
                fail(f"{self.name}: row {key} appears twice")
            self.rows[key] = row
        self.key_columns = key_columns
        self.seen = set()
        self.values = 0

    def row(self, key):
        if key not in self.rows:
            fail(f"{self.name}: no row {dict(zip(self.key_columns, key))} ({len(self.rows)} rows)")
        self.seen.add(key)
        return self.rows[key]

    def number(self, key, column):
        text = self.row(key)[column]
        try:
            return float(text)
        except ValueError:
            fail(f"{self.name} {dict(zip(self.key_columns, key))} {column}: {text!r} is not a number")

    def where(self, key, column):
        return f"{self.name} {', '.join(f'{k}={v}' for k, v in zip(self.key_columns, key))} column {column}"

    def close(self, key, column, expected, atol=ATOL):
        """rtol 1e-6; atol for values whose natural scale makes 0 reachable (estimates, t, z)."""
        if column in P_COLUMNS:
            atol = max(atol, P_FLOOR)
        assert_close(self.number(key, column), expected, self.where(key, column), atol=atol)
        self.values += 1

    def closes(self, key, expected, atol=None):
        atol = atol or {}
        for column, value in expected.items():
            self.close(key, column, value, atol.get(column, ATOL))

    def text(self, key, column, expected):
        actual = self.row(key)[column]
        if actual != expected:
            fail(f"{self.where(key, column)}: actual {actual!r}, expected {expected!r}")
        self.values += 1

    def yes_no(self, key, column, expected, undecided=False):
        """`yes`/`no`; `undecided` skips the value (a statistic within rounding of its threshold)."""
        actual = self.row(key)[column]
        if actual not in ("yes", "no"):
            fail(f"{self.where(key, column)}: {actual!r} is neither yes nor no")
        if not undecided:
            self.text(key, column, "yes" if expected else "no")

    def done(self):
        extra = [k for k in self.rows if k not in self.seen]
        if extra:
            fail(f"{self.name}: {len(extra)} unexpected rows, e.g. {dict(zip(self.key_columns, extra[0]))}")
        print(f"  {self.name}: {len(self.rows)} rows, {self.values} values compared")


def read_rows_if_any(path):
    """A table that may be absent or only a header: its rows as text."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return pd.DataFrame()
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False)


def assert_no_missing_anywhere(tsv_dir):
    """Every table in the folder: no n/a, NaN, inf or empty cell."""
    tables = sorted(f for f in os.listdir(tsv_dir) if f.endswith(".tsv")) if os.path.isdir(tsv_dir) else []
    for file in tables:
        frame = read_rows_if_any(os.path.join(tsv_dir, file))
        cells = list(missing_cells(frame))
        if cells:
            i, column = cells[0]
            fail(f"{file}: {len(cells)} missing cells, e.g. {frame.at[i, column]!r} in column {column} of row "
                 f"{dict(frame.loc[i])}")
    return tables


def text_values(dataset):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]]


# --- statsmodels check ------------------------------------------------------------------------

def check_descriptives(tsv, cohort, adjusted):
    """n, mean, SD (n - 1), median, min, max of the volume (`raw`) and, for regions, of V_adj
    (`icv_adjusted`) per measure and stratum."""
    table = TableCheck(os.path.join(tsv, "descriptives.tsv"), "descriptives", ["measure", "volume", "stratum"])
    for measure in measures_of(cohort):
        series = [("raw", volume(cohort, measure))]
        if measure in adjusted:
            series.append(("icv_adjusted", adjusted[measure]))
        for kind, values in series:
            for stratum, mask in strata(cohort):
                v = values[mask].dropna()
                if len(v) < 2:
                    continue
                table.closes((measure, kind, stratum),
                             {"n": len(v), "mean": v.mean(), "sd": v.std(ddof=1), "median": v.median(),
                              "min": v.min(), "max": v.max()})
    table.done()


def icv_adjustments(cohort):
    """measure -> (fit of V on ICV in the reference group, mean reference ICV, n)."""
    reference = cohort[reference_mask(cohort)]
    result = {}
    for region in regions_of(cohort):
        used = reference[[region, "icv_ml"]].dropna()
        fit = sm.OLS(used[region], sm.add_constant(used["icv_ml"])).fit()
        result[region] = (fit, used["icv_ml"].mean(), len(used))
    return result


def check_icv_adjustment(tsv, cohort, adjustments):
    table = TableCheck(os.path.join(tsv, "icv_adjustment.tsv"), "icv_adjustment", ["measure"])
    for region, (fit, mean_icv, n) in adjustments.items():
        table.closes((region,), {"n": n, "beta": fit.params["icv_ml"], "mean_icv_ml": mean_icv,
                                 "r_squared": fit.rsquared})
    table.done()


def regression_formula(frame):
    terms = ["age", "C(sex, Treatment('F'))"]
    if with_levels(frame, "group"):
        terms.append(f"C(group, Treatment('{CONTROL}'))")
    if with_levels(frame, "site"):
        terms.append("C(site)")  # treatment-coded against the alphabetically first site
    return "y ~ " + " + ".join(terms)


def check_regression(tsv, cohort, log_volume=False, log_age=False):
    table = TableCheck(os.path.join(tsv, "regression.tsv"), "regression", ["measure", "term"])
    for measure in measures_of(cohort):
        frame = cohort.assign(y=volume(cohort, measure)).dropna(subset=["y"])
        rho, rho_p = stats.spearmanr(frame["y"], frame["age"])  # unchanged by either log
        if log_volume:
            frame = frame.assign(y=np.log(frame["y"]))
        if log_age:
            frame = frame.assign(age=np.log(frame["age"]))
        fit = smf.ols(regression_formula(frame), data=frame).fit()
        ci = fit.conf_int(0.05)
        for param in fit.params.index:
            key = (measure, term_name(param))
            se = fit.bse[param]
            table.closes(key, {"estimate": fit.params[param], "std_error": se, "t": fit.tvalues[param],
                               "p": fit.pvalues[param], "ci_low": ci.loc[param, 0], "ci_high": ci.loc[param, 1],
                               "n": fit.nobs, "df_resid": fit.df_resid, "r_squared": fit.rsquared,
                               "adj_r_squared": fit.rsquared_adj, "spearman_rho": rho, "spearman_p": rho_p},
                         atol={"estimate": 1e-9 * se, "ci_low": 1e-9 * se, "ci_high": 1e-9 * se, "t": 1e-9})
    table.done()


def check_asymmetry(tsv, cohort):
    """Paired t of left against right per pair and stratum (all, sex=F, sex=M)."""
    table = TableCheck(os.path.join(tsv, "asymmetry.tsv"), "asymmetry", ["left", "right", "stratum"])
    sexes = [("all", pd.Series(True, index=cohort.index)), ("sex=F", cohort["sex"] == "F"),
             ("sex=M", cohort["sex"] == "M")]
    for pair, left, right in pairs_of(regions_of(cohort)):
        for stratum, mask in sexes:
            both = cohort.loc[mask, [left, right]].dropna()
            n = len(both)
            if n < 2:
                continue
            l, r = both[left], both[right]
            difference = l - r
            sd = difference.std(ddof=1)
            t, p = stats.ttest_rel(l, r)
            index = 2 * difference / (l + r)
            low, high = stats.t.interval(0.95, n - 1, loc=index.mean(), scale=stats.sem(index))
            key = (left, right, stratum)
            table.text(key, "pair", pair)
            table.closes(key, {"n": n, "mean_left": l.mean(), "mean_right": r.mean(),
                               "mean_difference": difference.mean(), "sd_difference": sd, "t": t, "df": n - 1,
                               "p": p, "cohen_dz": difference.mean() / sd, "asymmetry_index": index.mean(),
                               "ai_ci_low": low, "ai_ci_high": high},
                         atol={"mean_difference": 1e-9 * sd, "t": 1e-9, "cohen_dz": 1e-9,
                               "asymmetry_index": 1e-9 * index.std(ddof=1)})
    table.done()


def check_group_comparison(tsv, cohort):
    """Per non-control group and region: raw means and the ICV-, age- and sex-adjusted group effect."""
    table = TableCheck(os.path.join(tsv, "group_comparison.tsv"), "group_comparison", ["measure", "group"])
    regions = regions_of(cohort)  # the ICV is the covariate, not compared
    for group in sorted(set(cohort["group"].dropna()) - {CONTROL}):
        for region in regions:
            frame = cohort[cohort["group"].isin([CONTROL, group])].assign(y=cohort[region])
            frame = frame.dropna(subset=["y", "icv_ml"])
            fit = smf.ols(f"y ~ C(group, Treatment('{CONTROL}')) + age + C(sex, Treatment('F')) + icv_ml",
                          data=frame).fit()
            param = f"C(group, Treatment('{CONTROL}'))[T.{group}]"
            control, other = frame.loc[frame["group"] == CONTROL, "y"], frame.loc[frame["group"] == group, "y"]
            beta, p = fit.params[param], fit.pvalues[param]
            p_bonferroni = min(1.0, p * len(regions))
            key = (region, group)
            table.closes(key, {"n_control": len(control), "n_group": len(other), "mean_control": control.mean(),
                               "mean_group": other.mean(),
                               "difference_pct": 100 * (other.mean() - control.mean()) / control.mean(),
                               "adjusted_difference_ml": beta, "adjusted_difference_pct": 100 * beta / control.mean(),
                               "t": fit.tvalues[param], "p": p, "p_bonferroni": p_bonferroni},
                         atol={"difference_pct": 1e-9, "adjusted_difference_ml": 1e-9 * fit.bse[param],
                               "adjusted_difference_pct": 1e-9, "t": 1e-9})
            table.yes_no(key, "significant", p_bonferroni < ALPHA, undecided=close(p_bonferroni, ALPHA))
    table.done()


def normative_fits(cohort, knots):
    """measure -> statsmodels OLS of ln V on the normative design over the reference group."""
    reference = cohort[reference_mask(cohort)]
    fits = {}
    for measure in measures_of(cohort):
        frame = reference.assign(v=volume(reference, measure)).dropna(subset=["v"])
        fits[measure] = sm.OLS(np.log(frame["v"]), normative_design(frame, knots)).fit()
    return fits


def check_normative(h5_path, fits, knots):
    """/normative/* against statsmodels with the spline basis rebuilt from the doc's formula."""
    compared = 0
    with h5py.File(h5_path, "r") as f:
        if "normative" not in f:
            fail(f"{h5_path}: no /normative group")
        g = f["normative"]
        for name in ("measure", "knots", "coefficients", "sigma", "n", "xtx_inverse", "age_min", "age_max"):
            if name not in g:
                fail(f"{h5_path}: no /normative/{name}")
        measures = text_values(g["measure"])
        if sorted(measures) != sorted(fits):
            fail(f"/normative/measure: {measures}, expected {sorted(fits)}")
        stored_knots = g["knots"][()]
        if stored_knots.shape != knots.shape:
            fail(f"/normative/knots: shape {stored_knots.shape}, expected {knots.shape}")
        for i, (a, e) in enumerate(zip(stored_knots, knots)):
            assert_close(a, e, f"/normative/knots[{i}]")
        compared += len(knots)
        p = len(knots) + 1
        for path, shape in (("coefficients", (len(measures), p)), ("xtx_inverse", (len(measures), p, p)),
                            ("sigma", (len(measures),)), ("n", (len(measures),)), ("age_min", (len(measures),)),
                            ("age_max", (len(measures),))):
            if g[path].shape != shape:
                fail(f"/normative/{path}: shape {g[path].shape}, expected {shape}")
        coefficients, xtx_inverse = g["coefficients"][()], g["xtx_inverse"][()]
        for i, measure in enumerate(measures):
            fit = fits[measure]
            ages = fit.model.exog[:, 2]
            for j, name in enumerate(fit.params.index):
                assert_close(coefficients[i, j], fit.params[name], f"/normative/coefficients[{measure}, {name}]",
                             atol=1e-9 * fit.bse[name])
            unscaled = fit.normalized_cov_params.to_numpy()
            scale = np.sqrt(np.outer(np.diag(unscaled), np.diag(unscaled)))
            for j in range(p):
                for k in range(p):
                    assert_close(xtx_inverse[i, j, k], unscaled[j, k], f"/normative/xtx_inverse[{measure}, {j}, {k}]",
                                 atol=1e-9 * scale[j, k])
            for name, expected in (("sigma", np.sqrt(fit.mse_resid)), ("n", fit.nobs), ("age_min", ages.min()),
                                   ("age_max", ages.max())):
                assert_close(g[name][i], expected, f"/normative/{name}[{measure}]")
            compared += p + p * p + 4
    print(f"  /normative: {len(measures)} measures, knots {np.round(knots, 3).tolist()}, {compared} values compared")


def check_scores(path, cohort, fits, knots):
    """z = (ln V - mean) / se_obs from statsmodels' prediction, centile, expected volume and flags."""
    table = TableCheck(path, "scores", ["scan_id", "measure"])
    for measure, fit in fits.items():
        frame = cohort.assign(v=volume(cohort, measure)).dropna(subset=["v"])
        prediction = fit.get_prediction(normative_design(frame, knots)).summary_frame(alpha=0.05)
        se_obs = np.sqrt(fit.scale + prediction["mean_se"] ** 2)
        z = (np.log(frame["v"]) - prediction["mean"]) / se_obs
        ages = fit.model.exog[:, 2]
        for i in frame.index:
            key = (frame.at[i, "scan_id"], measure)
            table.closes(key, {"age": frame.at[i, "age"], "volume_ml": frame.at[i, "v"],
                               "expected_ml": math.exp(prediction.at[i, "mean"]), "z": z[i],
                               "centile": 100 * stats.norm.cdf(z[i])}, atol={"z": 1e-9, "centile": 1e-9})
            table.text(key, "sex", frame.at[i, "sex"])
            table.yes_no(key, "flagged", abs(z[i]) > THRESHOLD, undecided=close(abs(z[i]), THRESHOLD))
            table.yes_no(key, "outside_age_range", not ages.min() <= frame.at[i, "age"] <= ages.max())
    table.done()


def perturbed_copy(source, target, seed):
    """B for the agreement: each volume times (1 + 0.03 N(0, 1)) plus 1 mL, rows shuffled and a few
    scans left out, so that matching by scan_id matters. Returns B as written."""
    rng = np.random.default_rng(seed)
    frame = load_cohort(source)
    volumes = (["icv_ml"] if "icv_ml" in frame.columns else []) + regions_of(frame)
    for column in volumes:
        frame[column] = frame[column] * (1 + 0.03 * rng.standard_normal(len(frame))) + 1.0
    frame = frame.iloc[rng.permutation(len(frame))[: len(frame) - max(1, len(frame) // 20)]]
    frame.to_csv(target, sep="\t", index=False, float_format="%.17g", na_rep="n/a")
    return load_cohort(target)


def check_agreement(path, a, b):
    """Bland-Altman, paired t, Pearson and Spearman per measure over the scans A and B share."""
    table = TableCheck(path, "agreement", ["measure"])
    measures = [m[0] for m in table.rows]
    regions = regions_of(a)
    if not set(regions) <= set(measures):
        fail(f"agreement.tsv: measures {measures}, expected every region {regions}")
    shared = a.merge(b, on="scan_id", suffixes=("_a", "_b"))
    for measure in measures:
        if measure not in measures_of(a) or measure not in measures_of(b):
            fail(f"agreement.tsv: measure {measure} is not in both inputs")
        column = "icv_ml" if measure == "icv" else measure
        both = shared[[column + "_a", column + "_b"]].dropna()
        x, y = both[column + "_a"], both[column + "_b"]
        difference = x - y
        bias, sd = difference.mean(), difference.std(ddof=1)
        t, p = stats.ttest_rel(x, y)
        r, r_p = stats.pearsonr(x, y)
        rho, rho_p = stats.spearmanr(x, y)
        table.closes((measure,), {"n": len(both), "mean_a": x.mean(), "mean_b": y.mean(), "bias": bias,
                                  "sd_difference": sd, "loa_low": bias - LOA_FACTOR * sd,
                                  "loa_high": bias + LOA_FACTOR * sd, "t": t, "p": p,
                                  "p_bonferroni": min(1.0, p * len(measures)), "pearson_r": r, "pearson_p": r_p,
                                  "spearman_rho": rho, "spearman_p": rho_p},
                     atol={"bias": 1e-9 * sd, "t": 1e-9})
    table.done()
    print(f"  agreement: {len(shared)} shared scans, measures {measures}")


def check_h5_tables(h5_path, tsv):
    """/tables/<name>/<column> in NORMS.h5 holds what the TSV holds (17 significant digits round-trip)."""
    compared = 0
    with h5py.File(h5_path, "r") as f:
        if not f.attrs:
            fail(f"{h5_path}: no root attributes (the doc: tool version, inputs, options, reference group, time)")
        print(f"  root attributes: {sorted(f.attrs)}")
        for file in sorted(x for x in os.listdir(tsv) if x.endswith(".tsv")):
            name = file[:-4]
            frame = read_rows_if_any(os.path.join(tsv, file))
            if f"tables/{name}" not in f:
                fail(f"{h5_path}: no /tables/{name}")
            group = f[f"tables/{name}"]
            if set(group.keys()) != set(frame.columns):
                fail(f"/tables/{name}: columns {sorted(group.keys())}, TSV has {sorted(frame.columns)}")
            for column in frame.columns:
                dataset = group[column]
                if dataset.shape != (len(frame),):
                    fail(f"/tables/{name}/{column}: shape {dataset.shape}, TSV has {len(frame)} rows")
                if h5py.check_string_dtype(dataset.dtype) is not None or dataset.dtype.kind in "SO":
                    stored = text_values(dataset)
                    for i, (s, t) in enumerate(zip(stored, frame[column])):
                        if s != t:
                            fail(f"/tables/{name}/{column}[{i}]: {s!r}, TSV has {t!r}")
                else:
                    for i, (s, t) in enumerate(zip(dataset[()], frame[column])):
                        if is_missing(t):
                            if not np.isnan(s):
                                fail(f"/tables/{name}/{column}[{i}]: {s!r}, TSV has {t!r}")
                        else:
                            try:
                                value = float(t)
                            except ValueError:
                                fail(f"/tables/{name}/{column}[{i}]: stored as a number, TSV has {t!r}")
                            assert_close(s, value, f"/tables/{name}/{column}[{i}]", rtol=1e-15, atol=0)
                compared += len(frame)
    print(f"  /tables: {compared} cells equal to the TSVs")


def check_statsmodels(binary, work):
    volumes_path, _ = synth(binary, work, 300, 11)
    cohort = load_cohort(volumes_path)
    h5, tsv = os.path.join(work, "norms.h5"), os.path.join(work, "tsv")
    build(binary, [volumes_path], h5, tsv)
    print(f"cohort: {len(cohort)} scans, measures {measures_of(cohort)}")
    adjustments = icv_adjustments(cohort)
    adjusted = {r: cohort[r] - fit.params["icv_ml"] * (cohort["icv_ml"] - mean_icv)
                for r, (fit, mean_icv, _) in adjustments.items()}
    check_descriptives(tsv, cohort, adjusted)
    check_icv_adjustment(tsv, cohort, adjustments)
    check_regression(tsv, cohort)
    check_asymmetry(tsv, cohort)
    check_group_comparison(tsv, cohort)
    knots = knot_positions(cohort.loc[reference_mask(cohort), "age"])
    fits = normative_fits(cohort, knots)
    check_normative(h5, fits, knots)
    check_h5_tables(h5, tsv)

    print("log volume, log age:")
    tsv_log = os.path.join(work, "tsv_log")
    build(binary, [volumes_path], os.path.join(work, "norms_log.h5"), tsv_log, "--log-volume", "--log-age")
    check_regression(tsv_log, cohort, log_volume=True, log_age=True)

    print("scores:")
    scores = os.path.join(work, "scores.tsv")
    fresh(scores)
    run_nc(binary, "norms", "score", volumes_path, "--reference", h5, "--out", scores)
    check_scores(scores, cohort, fits, knots)

    print("agreement:")
    b = perturbed_copy(volumes_path, os.path.join(work, "b.tsv"), seed=2024)
    agreement = os.path.join(work, "agreement.tsv")
    fresh(agreement)
    run_nc(binary, "agree", volumes_path, os.path.join(work, "b.tsv"), "--out", agreement)
    check_agreement(agreement, cohort, b)
    print("statsmodels: every table agrees")


# --- planted model ----------------------------------------------------------------------------

def check_planted(binary, work):
    """The build recovers the synthetic cohort's planted model within simultaneous 95 % intervals."""
    volumes_path, effects_path = synth(binary, work, 400, 5)
    effects = pd.read_csv(effects_path, sep="\t").set_index("region")
    tsv = os.path.join(work, "tsv")
    build(binary, [volumes_path], os.path.join(work, "norms.h5"), tsv, "--log-volume", "--log-age")
    regression = TableCheck(os.path.join(tsv, "regression.tsv"), "regression", ["measure", "term"])
    asymmetry = TableCheck(os.path.join(tsv, "asymmetry.tsv"), "asymmetry", ["left", "right", "stratum"])
    outcomes = ["icv"] + [r for r in effects.index if r != "icv"]
    lobes = pairs_of(list(effects.index))
    terms = (("age", "age_per_ln_year"), ("sex[M]", "male"), ("group[patient]", "patient"))
    checks = len(terms) * len(outcomes) + len(lobes)
    quantile = 1 - ALPHA / (2 * checks)  # two-sided, Bonferroni over every check
    failures = []
    for outcome in outcomes:
        for term, planted_name in terms:
            key = (outcome, term)
            estimate, se = regression.number(key, "estimate"), regression.number(key, "std_error")
            half = stats.t.ppf(quantile, regression.number(key, "df_resid")) * se
            planted = effects.at[outcome, planted_name]
            ok = estimate - half <= planted <= estimate + half
            failures += [] if ok else [f"{outcome} {term}"]
            print(f"{'ok' if ok else 'FAIL'}\t{outcome}\t{term}\tplanted {planted:.4f}\t"
                  f"fitted {estimate:.4f} [{estimate - half:.4f}, {estimate + half:.4f}]")
    for pair, left, right in lobes:
        key = (left, right, "all")
        row_df = asymmetry.number(key, "df")
        index = asymmetry.number(key, "asymmetry_index")
        # The table gives the 95 % interval; its half-width over t_0.975 is the standard error.
        se = (asymmetry.number(key, "ai_ci_high") - asymmetry.number(key, "ai_ci_low")) / (
            2 * stats.t.ppf(0.975, row_df))
        half = stats.t.ppf(quantile, row_df) * se
        log_ratio = effects.at[left, "asymmetry_log"] - effects.at[right, "asymmetry_log"]
        # 2 (L - R) / (L + R) = 2 tanh(ln(L/R) / 2): ln(L/R) to within ln(L/R)^3 / 12.
        planted = 2 * math.tanh(log_ratio / 2)
        ok = index - half <= planted <= index + half
        failures += [] if ok else [f"{pair} asymmetry"]
        print(f"{'ok' if ok else 'FAIL'}\t{pair}\tasymmetry index\tplanted {planted:.4f} (ln L/R {log_ratio:.4f})\t"
              f"fitted {index:.4f} [{index - half:.4f}, {index + half:.4f}]")
    if failures:
        fail(f"{len(failures)} of {checks} planted values outside their simultaneous intervals: {failures}")
    read_text_table(os.path.join(tsv, "group_comparison.tsv"), "group_comparison")
    group_key = ("icv", "group[patient]")
    estimate, p = regression.number(group_key, "estimate"), regression.number(group_key, "p")
    if not (estimate < 0 and p < ALPHA):
        fail(f"regression.tsv icv group[patient]: estimate {estimate}, p {p}: expected negative and significant")
    print(f"planted: {checks} planted values inside simultaneous intervals; "
          f"icv group[patient] {estimate:.4f}, p {p:.3g}")


# --- degenerate inputs ------------------------------------------------------------------------

def toy_cohort(n, seed, regions=("frontal_L", "frontal_R", "cerebellum"), prefix="toy"):
    """A small volumes table: both sexes, control and patient, sites A and B, volumes that grow with
    ICV and age plus noise."""
    rng = np.random.default_rng(seed)
    age = np.round(rng.uniform(1, 11, n), 3)
    icv = 1000 * age ** 0.17 * np.exp(0.05 * rng.standard_normal(n))
    frame = pd.DataFrame({"scan_id": [f"{prefix}-{i:03d}" for i in range(1, n + 1)], "age": age,
                          "sex": np.where(np.arange(n) % 2 == 0, "F", "M"),
                          "group": np.where(np.arange(n) % 3 == 0, "patient", "control"),
                          "site": np.where(np.arange(n) % 4 < 2, "A", "B"), "icv_ml": np.round(icv, 4)})
    for k, region in enumerate(regions):
        frame[region] = np.round(icv * (0.1 + 0.01 * k) * np.exp(0.02 * rng.standard_normal(n)), 4)
    return frame


def write_toy(frame, path):
    frame.to_csv(path, sep="\t", index=False)
    return path


def output_of(result):
    return result.stdout + result.stderr


def assert_line_mentions(result, *word_sets, what):
    """Some line of the output mentions one word of every set (case-insensitive)."""
    for line in output_of(result).splitlines():
        if all(any(w.lower() in line.lower() for w in words) for words in word_sets):
            print(f"  message: {line.strip()}")
            return
    fail(f"{what}: no line of the output mentions {' and '.join('/'.join(ws) for ws in word_sets)}\n"
         f"stdout:\n{tail(result.stdout)}\nstderr:\n{tail(result.stderr)}")


def assert_fails_naming(result, names, what):
    if result.returncode == 0:
        fail(f"{what}: exit 0, expected a failure\nstdout:\n{tail(result.stdout)}")
    if not any(re.search(name, result.stderr) for name in names):
        fail(f"{what}: exit {result.returncode} but stderr names none of {names}:\n{tail(result.stderr)}")
    print(f"  {what}: exit {result.returncode}: {tail(result.stderr, 3).strip()}")


def build_case(binary, folder, case, *inputs, expect_ok=True):
    """Builds one degenerate case into FOLDER/CASE.h5 and FOLDER/CASE/; returns (tsv dir, result)."""
    tsv = os.path.join(folder, case)
    return tsv, build(binary, inputs, tsv + ".h5", tsv, expect_ok=expect_ok)


def measure_rows(tsv, table, measure):
    frame = read_rows_if_any(os.path.join(tsv, table))
    return frame[frame["measure"] == measure] if len(frame) else frame


def check_degenerate(binary, work):
    folder = os.path.join(work, "degenerate")
    fresh(folder)
    os.makedirs(folder)

    print("(a) one sex only")
    one_sex = toy_cohort(40, 1).assign(sex="F")
    tsv, result = build_case(binary, folder, "one_sex", write_toy(one_sex, os.path.join(folder, "one_sex.tsv")))
    tables = assert_no_missing_anywhere(tsv)
    if "descriptives.tsv" not in tables:
        fail(f"one sex: no descriptives.tsv in {tsv} (tables: {tables})")
    assert_line_mentions(result, ["sex"], what="one sex")
    regression = read_rows_if_any(os.path.join(tsv, "regression.tsv"))
    if len(regression) and (regression["term"] == "sex[M]").any():
        fail("one sex: regression.tsv has sex[M] rows, which one sex cannot estimate")
    print(f"  ok: tables {tables} without missing cells")

    print("(b) a constant region")
    constant = toy_cohort(40, 2).assign(cerebellum=140.0)
    tsv, result = build_case(binary, folder, "constant", write_toy(constant, os.path.join(folder, "constant.tsv")))
    assert_no_missing_anywhere(tsv)
    if len(measure_rows(tsv, "regression.tsv", "cerebellum")):
        fail("constant region: regression.tsv has rows for the constant cerebellum")
    assert_line_mentions(result, ["cerebellum"], ["constant", "variance", "vary", "identical"], what="constant region")

    print("(c) missing volumes (empty, n/a, NaN)")
    missing = toy_cohort(40, 3)
    text = missing.astype(str)
    for row, marker in ((1, ""), (4, "n/a"), (8, "NaN")):
        text.at[row, "frontal_L"] = marker
    tsv, result = build_case(binary, folder, "missing", write_toy(text, os.path.join(folder, "missing.tsv")))
    assert_no_missing_anywhere(tsv)
    descriptives = read_rows_if_any(os.path.join(tsv, "descriptives.tsv"))
    for region, expected in (("frontal_L", len(missing) - 3), ("frontal_R", len(missing))):
        rows = descriptives[(descriptives["measure"] == region) & (descriptives["volume"] == "raw")
                            & (descriptives["stratum"] == "all")]
        if len(rows) != 1 or int(float(rows["n"].iloc[0])) != expected:
            fail(f"missing volumes: descriptives.tsv {region} all: n {rows['n'].tolist()}, expected {expected}")
    rows = measure_rows(tsv, "regression.tsv", "frontal_L")
    if len(rows) == 0 or set(rows["n"].astype(float)) != {len(missing) - 3}:
        fail(f"missing volumes: regression.tsv frontal_L n {rows['n'].tolist() if len(rows) else []}, "
             f"expected {len(missing) - 3}")
    print(f"  ok: frontal_L n {len(missing) - 3}, frontal_R n {len(missing)}")

    print("(d) pooled inputs with different regions")
    a = write_toy(toy_cohort(20, 4, prefix="a"), os.path.join(folder, "a.tsv"))
    b = write_toy(toy_cohort(20, 5, regions=("frontal_L", "frontal_R"), prefix="b"), os.path.join(folder, "b.tsv"))
    _, result = build_case(binary, folder, "regions", a, b, expect_ok=False)
    assert_fails_naming(result, ["cerebellum"], "different regions")

    print("(e) a scan_id in two inputs")
    c = toy_cohort(20, 6, prefix="c")
    c.at[6, "scan_id"] = "a-007"
    c = write_toy(c, os.path.join(folder, "c.tsv"))
    _, result = build_case(binary, folder, "duplicate", a, c, expect_ok=False)
    assert_fails_naming(result, ["a-007"], "repeated scan_id")

    print("(f) sex X")
    invalid = toy_cohort(20, 7)
    invalid.at[3, "sex"] = "X"  # scan toy-004, line 5 of the file (after the header)
    _, result = build_case(binary, folder, "sex_x", write_toy(invalid, os.path.join(folder, "sex_x.tsv")),
                           expect_ok=False)
    assert_fails_naming(result, ["toy-004", r"\bline 5\b", r":5\b"], "invalid sex")

    print("(g) fewer scans than regression parameters")
    few = toy_cohort(3, 8).assign(sex=["F", "M", "F"], group=["control", "control", "patient"], site=["A", "B", "A"])
    tsv, result = build_case(binary, folder, "few", write_toy(few, os.path.join(folder, "few.tsv")))
    assert_no_missing_anywhere(tsv)
    if len(read_rows_if_any(os.path.join(tsv, "regression.tsv"))):
        fail("3 scans: regression.tsv has rows, but 3 scans cannot fit 5 parameters")
    assert_line_mentions(result, ["regression", "parameter"], what="3 scans")
    print("degenerate: every case skipped or failed as documented")


# --- report -----------------------------------------------------------------------------------

EXTERNAL = re.compile(r"<(?:script|img|image|iframe|link|object|embed|source|use)\b[^>]*\s(?:src|href|xlink:href|data)"
                      r"\s*=\s*[\"'](?!data:|#)", re.IGNORECASE)
GNUPLOT_COLOURS = {"purple": (0x94, 0x00, 0xd3), "green": (0x00, 0x9e, 0x73), "blue": (0x56, 0xb4, 0xe9),
                   "orange": (0xe6, 0x9f, 0x00)}


def check_self_contained(html):
    for needle in ('src="http', "src='http", "<script src=", "<link", "@import", "url(http"):
        if needle in html.lower():
            fail(f"report: not self-contained, contains {needle!r}")
    match = EXTERNAL.search(html)
    if match:
        fail(f"report: not self-contained, loads {html[match.start():match.start() + 120]!r}")


def count_plots(html):
    inline = len(re.findall(r"<svg\b", html, re.IGNORECASE))
    embedded = len(re.findall(r"data:image/svg\+xml", html, re.IGNORECASE))
    return inline, embedded


def chromium(work, page, *mode):
    """Runs headless Chromium on a file, trying --headless=new and then the old headless mode."""
    profile = os.path.join(work, "chromium-profile")
    errors = []
    for headless in ("--headless=new", "--headless"):
        command = ["chromium", headless, "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}", *mode,
                   "file://" + os.path.abspath(page)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            fail("chromium is not installed (Debian package chromium)")
        except subprocess.TimeoutExpired:
            errors.append(f"{headless}: timed out after 120 s")
            continue
        if result.returncode == 0:
            return result
        errors.append(f"{headless}: exit {result.returncode}: {tail(result.stderr, 5)}")
    fail("chromium failed:\n" + "\n".join(errors))


def screenshot(work, page, png):
    fresh(png)
    chromium(work, page, "--window-size=1200,6000", f"--screenshot={png}")
    if not os.path.isfile(png):
        fail(f"chromium wrote no screenshot {png}")
    from PIL import Image
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def pixel_summary(pixels):
    """Fraction of non-white pixels, count of saturated ones and of each gnuplot default colour."""
    non_white = (pixels < 245).any(axis=2).mean()
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    saturated = int(((spread >= 96) & (pixels.max(axis=2) >= 100)).sum())
    near = {name: int((np.abs(pixels - np.array(rgb)).sum(axis=2) <= 60).sum())
            for name, rgb in GNUPLOT_COLOURS.items()}
    return non_white, saturated, near


def plots_only(report, target):
    """The report with its tables hidden, so that the plots come within the screenshot's 6000 px."""
    with open(report, encoding="utf-8") as f:
        html = f.read()
    style = "<style>table, pre { display: none !important; }</style>"
    html = re.sub(r"(<head[^>]*>)", r"\1" + style, html, count=1, flags=re.IGNORECASE) if re.search(
        r"<head[^>]*>", html, re.IGNORECASE) else style + html
    with open(target, "w", encoding="utf-8") as f:
        f.write(html)
    return target


def drawn_svgs(dom):
    """Inline SVG elements in the rendered DOM, and how many draw something."""
    svgs = re.findall(r"<svg\b.*?</svg>", dom, re.IGNORECASE | re.DOTALL)
    drawn = [s for s in svgs if re.search(r"<(path|polyline|polygon|circle|ellipse|line|use)\b", s, re.IGNORECASE)]
    return len(svgs), len(drawn)


def check_report(binary, work):
    volumes_path, _ = synth(binary, work, 120, 3)
    fresh(os.path.join(work, "chromium-profile"))
    cohort = load_cohort(volumes_path)
    b_path = os.path.join(work, "b.tsv")
    perturbed_copy(volumes_path, b_path, seed=7)
    report = os.path.join(work, "report.html")
    fresh(report)
    build(binary, [volumes_path], os.path.join(work, "norms.h5"), os.path.join(work, "tsv"),
          "--report", report, "--compare", b_path)
    if not os.path.isfile(report):
        fail(f"{report}: missing")
    with open(report, encoding="utf-8") as f:
        html = f.read()
    check_self_contained(html)
    inline, embedded = count_plots(html)
    expected = len(measures_of(cohort)) + 1 + len(regions_of(cohort))  # volume-age, asymmetry, Bland-Altman
    print(f"  report: {len(html) / 1e6:.2f} MB, {inline} inline <svg>, {embedded} embedded SVG images, "
          f"expected at least {expected} plots")
    if inline + embedded < expected:
        fail(f"report: {inline + embedded} SVG plots, expected at least {expected} "
             f"({len(measures_of(cohort))} volume-age, 1 asymmetry, {len(regions_of(cohort))} Bland-Altman)")

    dom = chromium(work, report, "--dump-dom").stdout
    svgs, drawn = drawn_svgs(dom)
    print(f"  rendered DOM: {svgs} inline svg elements, {drawn} with paths or points")
    if svgs < inline or drawn < svgs:
        fail(f"report DOM: {svgs} svg elements ({inline} in the file), {drawn} of them draw anything")

    whole = pixel_summary(screenshot(work, report, os.path.join(work, "report.png")))
    plots = pixel_summary(screenshot(work, plots_only(report, os.path.join(work, "report_plots.html")),
                                     os.path.join(work, "report_plots.png")))
    for name, (non_white, saturated, near) in (("report.png", whole), ("report_plots.png", plots)):
        print(f"  {name}: {100 * non_white:.2f} % non-white, {saturated} saturated pixels, gnuplot colours {near}")
    if whole[0] < 0.01:
        fail(f"report.png is nearly blank: {100 * whole[0]:.2f} % non-white pixels")
    if max(whole[1], plots[1]) < 200:
        fail(f"report screenshots show no plot colours: {whole[1]} and {plots[1]} saturated pixels")
    print("report: self-contained, plots present and rendered")


CHECKS = {"statsmodels": check_statsmodels, "planted": check_planted, "degenerate": check_degenerate,
          "report": check_report}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--neurocohort", required=True, help="the neurocohort binary")
    parser.add_argument("--work", required=True, help="a scratch folder (created; this check's outputs replaced)")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        CHECKS[args.check](os.path.abspath(args.neurocohort), os.path.abspath(args.work))
    except CheckFailure as e:
        print(f"FAIL ({args.check}): {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
