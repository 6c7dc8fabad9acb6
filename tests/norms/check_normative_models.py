"""Checks the normative model families of `norms build --model`, `norms adapt` and the
calibration table against statsmodels, scipy and the planted truth of a synthetic cohort.

usage: check_normative_models.py --neurocohort BINARY --work DIR

One planted cohort (`synth --volumes-only`, 2,000 subjects from 8 sites with site offsets of
SD 0.04 in ln V, a spread 2.5 times larger at 0.5 years than at 11, right-skewed noise) is
used for everything:

mixed        `--model mixed` against statsmodels' MixedLM (REML) on the reference group: fixed
             effects, residual and site variance, REML log-likelihood and each site's
             predicted effect, to 1e-4 relative.
shash        `--model shash`: the same penalised likelihood maximised here by scipy.optimize
             (L-BFGS-B, analytic gradient) from a different start, for the ICV and three
             regions of different size; the log-likelihood, the
             site effects and the 3rd/50th/97th centile volumes at nine ages agree to 1e-4
             relative, and every scan's centile from `norms score` to 1e-4.
calibration  The calibration table's gaussian rows recomputed here (the same subject folds,
             statsmodels OLS per fold, MSLL, EXPV, SMSE, Anderson-Darling, centile error); the
             Gaussian model is miscalibrated on this cohort and shash is not (mean absolute
             centile error over the measures at most 0.01), and the planted site offsets lie in
             the 95 % intervals of site_effects.tsv.
adapt        The site with the largest planted offset is held out of the reference; 20 of its
             controls adapt the reference (`norms adapt`), and its other controls' centiles,
             miscalibrated before, are calibrated after.
bad input    A site with one scan, a constant measure and a two-valued measure: one line each,
             naming the site or measure, and no NaN written.
report       The report's calibration plot renders in headless Chromium.
"""
import argparse
import math
import os
import sys
import warnings

import h5py
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_norms import (CheckFailure, assert_close, chromium, drawn_svgs, fail, fresh, knot_positions,  # noqa: E402
                         load_cohort, measures_of, normative_design, run_nc, text_values, volume)

SUBJECTS, SITES, SITE_SD, SPREAD_RATIO, SKEW = 2000, 8, 0.04, 2.5, 0.8
GRID_MM = 3
FOLDS = 5
RTOL = 1e-4
CENTILES = np.arange(1, 100)
# scipy's fit takes seconds a measure: the global measure and regions of each size class
SCIPY_MEASURES = ("icv", "frontal_L", "occipital_R", "brainstem")


def synth_planted(binary, work):
    folder = os.path.join(work, "cohort")
    fresh(folder)
    run_nc(binary, "synth", "--out", folder, "--n", SUBJECTS, "--seed", 11, "--volumes-only", "--volumes-grid-mm",
           GRID_MM, "--sites", SITES, "--site-sd", SITE_SD, "--spread-ratio", SPREAD_RATIO, "--skew", SKEW)
    return (os.path.join(folder, "true_volumes.tsv"),
            pd.read_csv(os.path.join(folder, "sites.tsv"), sep="\t", dtype={"site": str}))


def build(binary, inputs, h5, *options, tsv=None):
    fresh(h5)
    extra = ["--tsv", tsv] if tsv else []
    if tsv:
        fresh(tsv)
    return run_nc(binary, "norms", "build", *inputs, "--out", h5, *extra, *options)


def reference_of(cohort):
    return cohort[cohort["group"] == "control"].copy()


def read_model(path):
    with h5py.File(path, "r") as f:
        g = f["normative"]
        model = {"family": f.attrs["normative_model"], "measure": text_values(g["measure"]),
                 "knots": g["knots"][()], "coefficients": g["coefficients"][()]}
        for name in ("sigma", "site_sd", "log_tail", "log_likelihood", "n"):
            model[name] = g[name][()]
        for name in ("log_scale", "skew", "xtx_inverse"):
            if name in g:
                model[name] = g[name][()]
        if "normative_sites" in f:
            s = f["normative_sites"]
            model["sites"] = text_values(s["site"])
            for name in ("effect", "variance", "n"):
                model["site_" + name] = s[name][()]
    return model


def site_codes(frame, sites):
    return frame["site"].map({s: i for i, s in enumerate(sites)}).to_numpy()


# --- mixed: statsmodels MixedLM ----------------------------------------------------------------

def check_mixed(binary, work, volumes_path, cohort):
    h5 = os.path.join(work, "mixed.h5")
    build(binary, [volumes_path], h5, "--model", "mixed", "--folds", 0)
    model = read_model(h5)
    reference = reference_of(cohort)
    compared = 0
    for k, measure in enumerate(model["measure"]):
        frame = reference.assign(y=np.log(volume(reference, measure))).dropna(subset=["y"])
        design = normative_design(frame, model["knots"])
        # Powell with tight tolerances: statsmodels' default gradient search stops about 1e-3 short in τ²
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.MixedLM(frame["y"], design, groups=frame["site"]).fit(reml=True, method="powell", xtol=1e-12,
                                                                           ftol=1e-14, maxiter=10000)
        for j, name in enumerate(design.columns):
            assert_close(model["coefficients"][k, j], fit.fe_params[name], f"mixed {measure} {name}",
                         atol=1e-6 * fit.bse_fe[name], rtol=RTOL)
        assert_close(model["sigma"][k] ** 2, fit.scale, f"mixed {measure} residual variance", rtol=RTOL)
        assert_close(model["site_sd"][k] ** 2, float(fit.cov_re.iloc[0, 0]), f"mixed {measure} site variance",
                     rtol=RTOL)
        assert_close(model["log_likelihood"][k], fit.llf, f"mixed {measure} REML log-likelihood", rtol=RTOL)
        for g, site in enumerate(model["sites"]):
            expected = float(fit.random_effects[site].iloc[0])
            assert_close(model["site_effect"][k, g], expected, f"mixed {measure} effect of site {site}",
                         atol=1e-4 * model["site_sd"][k], rtol=RTOL)
        compared += design.shape[1] + 3 + len(model["sites"])
    print(f"  mixed: {len(model['measure'])} measures, {compared} values equal to statsmodels MixedLM (REML) "
          f"to {RTOL:g}")
    return h5


# --- shash: the penalised likelihood in scipy ------------------------------------------------------

def shash_log_density(y, mu, log_sigma, eps, log_delta):
    sigma, delta = np.exp(log_sigma), np.exp(log_delta)
    r = (y - mu) / sigma
    h = delta * np.arcsinh(r) - eps
    return (log_delta - log_sigma - 0.5 * np.log1p(r * r) + np.logaddexp(h, -h) - math.log(2)
            - 0.5 * np.sinh(h) ** 2 - 0.5 * math.log(2 * math.pi))


def shash_z(y, mu, log_sigma, eps, log_delta):
    return np.sinh(np.exp(log_delta) * np.arcsinh((y - mu) / np.exp(log_sigma)) - eps)


def shash_at_z(z, mu, log_sigma, eps, log_delta):
    return mu + np.exp(log_sigma) * np.sinh((np.arcsinh(z) + eps) / np.exp(log_delta))


def fit_shash_scipy(x, y, site, sites, tau2):
    """Maximises sum ln f(y) - sum u^2 / (2 tau^2) with scipy's L-BFGS-B, written from the
    density's formula alone; starts from least squares, not from the C++ result."""
    n, p = x.shape

    def unpack(theta):
        return theta[:p], theta[p:2 * p], theta[2 * p:3 * p], theta[3 * p], theta[3 * p + 1:]

    def objective(theta):
        a, b, c, d, u = unpack(theta)
        mu, ls, eps, delta = x @ a + u[site], x @ b, x @ c, math.exp(d)
        r = (y - mu) / np.exp(ls)
        s = np.sqrt(1 + r * r)
        h = delta * np.arcsinh(r) - eps
        total = shash_log_density(y, mu, ls, eps, d).sum() - (u * u).sum() / (2 * tau2)
        dh = np.tanh(h) - np.sinh(h) * np.cosh(h)
        g_r = -r / (1 + r * r) + dh * delta / s
        d_mu = -g_r / np.exp(ls)
        grad = np.concatenate([x.T @ d_mu, x.T @ (-1 - g_r * r), x.T @ (-dh), [np.sum(1 + dh * delta * np.arcsinh(r))],
                               np.bincount(site, weights=d_mu, minlength=sites) - u / tau2])
        return -total / n, -grad / n

    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    start = np.zeros(3 * p + 1 + sites)
    start[:p] = beta
    start[p] = math.log(np.std(y - x @ beta))
    # L-BFGS-B can end on a failed line search a little short of the optimum, and where exactly
    # depends on the BLAS numpy runs on: restarting from there (a fresh curvature memory)
    # finishes the climb.
    result = None
    for _ in range(3):
        result = optimize.minimize(objective, start if result is None else result.x, jac=True, method="L-BFGS-B",
                                   options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-10})
        if np.abs(result.jac).max() <= 1e-7:
            break
    a, b, c, d, u = unpack(result.x)
    mu = x @ a + u[site]
    log_likelihood = shash_log_density(y, mu, x @ b, x @ c, d).sum()
    return {"a": a, "b": b, "c": c, "d": d, "u": u, "log_likelihood": log_likelihood,
            "penalised": log_likelihood - (u * u).sum() / (2 * tau2), "gradient": np.abs(result.jac).max()}


def check_shash(binary, work, volumes_path, cohort):
    h5 = os.path.join(work, "shash.h5")
    build(binary, [volumes_path], h5, "--model", "shash", "--folds", 0)
    model = read_model(h5)
    if model["family"] != "shash":
        fail(f"{h5}: normative_model is {model['family']}, expected shash")
    reference = reference_of(cohort)
    sites = model["sites"]
    scores = os.path.join(work, "shash_scores.tsv")
    fresh(scores)
    run_nc(binary, "norms", "score", volumes_path, "--reference", h5, "--out", scores)
    scored = pd.read_csv(scores, sep="\t", dtype={"scan_id": str})
    worst = {"log_likelihood": 0, "quantile": 0, "centile": 0}
    for k, measure in enumerate(model["measure"]):
        if measure not in SCIPY_MEASURES:
            continue
        frame = reference.assign(y=np.log(volume(reference, measure))).dropna(subset=["y"])
        x = normative_design(frame, model["knots"]).to_numpy()
        tau2 = model["site_sd"][k] ** 2
        ours = {"a": model["coefficients"][k], "b": model["log_scale"][k], "c": model["skew"][k],
                "d": model["log_tail"][k], "u": model["site_effect"][k]}
        theirs = fit_shash_scipy(x, frame["y"].to_numpy(), site_codes(frame, sites), len(sites), tau2)
        if theirs["gradient"] > 1e-5:
            fail(f"scipy did not converge on {measure} (gradient {theirs['gradient']:g})")
        assert_close(model["log_likelihood"][k], theirs["log_likelihood"], f"shash {measure} log-likelihood",
                     rtol=RTOL)
        worst["log_likelihood"] = max(worst["log_likelihood"],
                                      abs(model["log_likelihood"][k] / theirs["log_likelihood"] - 1))
        for g, site in enumerate(sites):
            assert_close(ours["u"][g], theirs["u"][g], f"shash {measure} effect of site {site}",
                         atol=1e-4 * math.sqrt(tau2), rtol=RTOL)
        grid = pd.DataFrame({"age": np.repeat([0.6, 1, 2, 3, 5, 7, 9, 10, 10.9], 2), "sex": ["F", "M"] * 9})
        xg = normative_design(grid, model["knots"]).to_numpy()
        for z in stats.norm.ppf([0.03, 0.5, 0.97]):
            mine = np.exp(shash_at_z(z, xg @ ours["a"], xg @ ours["b"], xg @ ours["c"], ours["d"]))
            other = np.exp(shash_at_z(z, xg @ theirs["a"], xg @ theirs["b"], xg @ theirs["c"], theirs["d"]))
            for i in range(len(grid)):
                assert_close(mine[i], other[i], f"shash {measure} centile {100 * stats.norm.cdf(z):.0f} at age "
                             f"{grid.age[i]} {grid.sex[i]}", rtol=RTOL)
            worst["quantile"] = max(worst["quantile"], float(np.abs(mine / other - 1).max()))
        # every scan's centile from `norms score`, against scipy's parameters
        whole = cohort.assign(y=np.log(volume(cohort, measure))).dropna(subset=["y"])
        xs = normative_design(whole, model["knots"]).to_numpy()
        u = np.array([theirs["u"][sites.index(s)] if s in sites else 0.0 for s in whole["site"]])
        expected = 100 * stats.norm.cdf(shash_z(whole["y"], xs @ theirs["a"] + u, xs @ theirs["b"],
                                                xs @ theirs["c"], theirs["d"]))
        got = scored[scored.measure == measure].set_index("scan_id").loc[whole["scan_id"], "centile"].to_numpy()
        worst["centile"] = max(worst["centile"], float(np.abs(got - expected).max()) / 100)
        if worst["centile"] > RTOL:
            fail(f"shash {measure}: a scan's centile differs from scipy's by {worst['centile']:g}")
    print(f"  shash: {len(SCIPY_MEASURES)} measures against scipy L-BFGS-B; largest relative difference: "
          f"log-likelihood {worst['log_likelihood']:.1e}, centile volumes {worst['quantile']:.1e}; scan centiles "
          f"{worst['centile']:.1e}")


# --- calibration ------------------------------------------------------------------------------------

def fnv1a(text):
    h = 1469598103934665603
    for byte in text.encode():
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    return h


def gaussian_cross_validation(reference, measure, knots):
    """Held-out y, z, ln density, mean and the trivial model's ln density, folds as the C++ makes them."""
    frame = reference.assign(y=np.log(volume(reference, measure))).dropna(subset=["y"])
    fold = frame["scan_id"].map(lambda s: fnv1a(s) % FOLDS)
    rows = []
    for k in range(FOLDS):
        train, test = frame[fold != k], frame[fold == k]
        fit = sm.OLS(train["y"], normative_design(train, knots)).fit()
        prediction = fit.get_prediction(normative_design(test, knots)).summary_frame()
        sd = np.sqrt(fit.scale + prediction["mean_se"] ** 2)
        trivial = stats.norm.logpdf(test["y"], train["y"].mean(), train["y"].std(ddof=0))
        rows.append(pd.DataFrame({"y": test["y"], "mean": prediction["mean"], "z": (test["y"] - prediction["mean"]) / sd,
                                  "log_density": stats.norm.logpdf(test["y"], prediction["mean"], sd),
                                  "trivial": trivial}))
    return pd.concat(rows)


def anderson_darling(z):
    """A^2 of z against N(0, 1), the case of a fully specified distribution."""
    z = np.sort(z)
    n = len(z)
    i = np.arange(1, n + 1)
    return -n - np.mean((2 * i - 1) * (stats.norm.logcdf(z) + stats.norm.logsf(z[::-1])))


def centile_error(z):
    centile = 100 * stats.norm.cdf(z)
    return float(np.mean([abs(np.mean(centile < q) - q / 100) for q in CENTILES]))


def check_calibration(binary, work, volumes_path, cohort, planted_sites):
    h5, tsv = os.path.join(work, "calibrated.h5"), os.path.join(work, "tsv")
    build(binary, [volumes_path], h5, "--model", "shash", tsv=tsv)
    table = pd.read_csv(os.path.join(tsv, "calibration.tsv"), sep="\t")
    model = read_model(h5)
    reference = reference_of(cohort)
    for measure in model["measure"]:
        held = gaussian_cross_validation(reference, measure, model["knots"])
        row = table[(table.measure == measure) & (table.model == "gaussian")].iloc[0]
        error = held["y"] - held["mean"]
        expected = {"n": len(held), "msll": float(np.mean(held["trivial"] - held["log_density"])),
                    "smse": float(np.mean(error ** 2) / np.var(held["y"])),
                    "expv": float(1 - np.var(error) / np.var(held["y"])),
                    "anderson_darling": anderson_darling(held["z"].to_numpy()),
                    "mace": centile_error(held["z"].to_numpy())}
        for column, value in expected.items():
            assert_close(row[column], value, f"calibration {measure} gaussian {column}", rtol=1e-6, atol=1e-9)
    mace = table.groupby("model")["mace"].mean()
    print("  calibration (held out, mean over measures): " + ", ".join(
        f"{m} MACE {mace[m]:.4f} (worst {table[table.model == m].mace.max():.4f})" for m in mace.index))
    if not mace["shash"] <= 0.01:
        fail(f"shash is not calibrated: mean absolute centile error {mace['shash']:.4f} > 0.01")
    if not (mace["gaussian"] > 0.01 and mace["gaussian"] > 1.5 * mace["shash"]):
        fail(f"the Gaussian model should be miscalibrated here: MACE {mace['gaussian']:.4f} "
             f"against shash {mace['shash']:.4f}")
    # planted site offsets, centred (the intercept takes their mean), inside the 95 % intervals
    effects = pd.read_csv(os.path.join(tsv, "site_effects.tsv"), sep="\t", dtype={"site": str})
    planted = planted_sites.set_index("site")["offset_log"]
    truth = effects["site"].map(planted - planted.mean())
    inside = (effects["ci_low"] <= truth) & (truth <= effects["ci_high"])
    icv = effects["measure"] == "icv"
    print(f"  site effects: {int(inside.sum())} of {len(inside)} 95 % intervals hold the planted offset "
          f"(icv: {int(inside[icv].sum())} of {int(icv.sum())}); largest |error| "
          f"{float((effects['effect'] - truth).abs().max()):.4f}")
    # The ICV carries the offsets exactly; a region's label count on the 3 mm grid responds to
    # the global scale with a gain near 1, not exactly 1, so its intervals are checked for the
    # offsets' pattern (correlation) rather than for containment.
    correlation = float(np.corrcoef(effects.loc[~icv, "effect"], truth[~icv])[0, 1])
    print(f"  regions: correlation of estimated and planted site offsets {correlation:.3f}")
    if not inside[icv].all() or correlation < 0.95:
        fail("planted site offsets not recovered:\n" + effects[~inside].to_string())
    return h5


# --- adapt ----------------------------------------------------------------------------------------------

def check_adapt(binary, work, volumes_path, cohort, planted_sites):
    new_site = planted_sites.loc[planted_sites["offset_log"].abs().idxmax(), "site"]
    raw = pd.read_csv(volumes_path, sep="\t", dtype=str, keep_default_na=False)
    held, rest = raw[raw.site == new_site], raw[raw.site != new_site]
    controls = held[held.group == "control"]
    local, test = controls.iloc[:20], controls.iloc[20:]
    paths = {name: os.path.join(work, f"{name}.tsv") for name in ("reference", "local", "test")}
    for name, frame in (("reference", rest), ("local", local), ("test", test)):
        frame.to_csv(paths[name], sep="\t", index=False)
    for family in ("shash", "mixed"):
        h5, adapted = os.path.join(work, f"ref_{family}.h5"), os.path.join(work, f"adapted_{family}.h5")
        build(binary, [paths["reference"]], h5, "--model", family, "--folds", 0)
        fresh(adapted)
        run_nc(binary, "norms", "adapt", h5, "--controls", paths["local"], "--out", adapted)
        errors = {}
        for name, reference in (("before", h5), ("after", adapted)):
            scores = os.path.join(work, f"scores_{family}_{name}.tsv")
            fresh(scores)
            run_nc(binary, "norms", "score", paths["test"], "--reference", reference, "--out", scores)
            z = pd.read_csv(scores, sep="\t").groupby("measure")["z"]
            errors[name] = (z.apply(lambda v: centile_error(v.to_numpy())).mean(), z.mean().mean())
        model = read_model(adapted)
        if model["sites"][-1] != new_site or not np.all(model["site_n"][:, -1] == 20):
            fail(f"{adapted}: the last site is {model['sites'][-1]} with n {model['site_n'][:, -1]}, "
                 f"expected {new_site} with 20 controls")
        print(f"  adapt ({family}): site {new_site}, planted offset "
              f"{float(planted_sites.set_index('site').offset_log[new_site]):+.3f}; {len(test)} held-out controls: "
              f"MACE {errors['before'][0]:.3f} -> {errors['after'][0]:.3f}, mean z {errors['before'][1]:+.2f} -> "
              f"{errors['after'][1]:+.2f}")
        # 20 controls estimate the offset to about ±0.013 in ln V, a quarter of the spread, which
        # alone leaves about 0.07 of centile error and ±0.25 in the mean z: the test is the size
        # of the improvement
        if not (errors["before"][0] > 0.2 and errors["after"][0] < min(0.12, errors["before"][0] / 3)
                and abs(errors["after"][1]) < 0.4):
            fail(f"adapt ({family}) did not bring site {new_site} back into calibration: {errors}")


# --- bad input --------------------------------------------------------------------------------------------

def check_bad_input(binary, work, volumes_path):
    raw = pd.read_csv(volumes_path, sep="\t", dtype=str, keep_default_na=False).iloc[:400].copy()
    raw.loc[raw.index[0], ["site", "group"]] = ["lonely", "control"]
    raw["constant_R"] = "12.5"
    rng = np.random.default_rng(3)
    raw["twovalued_L"] = np.where(rng.random(len(raw)) < 0.5, "10", "20")
    path = os.path.join(work, "bad.tsv")
    raw.to_csv(path, sep="\t", index=False)
    h5, tsv = os.path.join(work, "bad.h5"), os.path.join(work, "bad_tsv")
    result = build(binary, [path], h5, "--model", "shash", tsv=tsv)
    log = result.stdout + result.stderr
    for expected in ("site 'lonely' has 1 reference scan", "normative model of constant_R:"):
        if expected not in log:
            fail(f"bad input: the log does not say '{expected}':\n{log}")
    model = read_model(h5)
    if "constant_R" in model["measure"]:
        fail("the constant measure was fitted")
    for name in ("coefficients", "log_scale", "skew", "site_effect", "site_variance"):
        if not np.all(np.isfinite(model[name])):
            fail(f"bad input: /normative {name} holds a non-finite value")
    two = "twovalued_L" in model["measure"]
    print(f"  bad input: the one-scan site and the constant measure are named and left out; the two-valued "
          f"measure {'fitted (finite)' if two else 'left out with a reason'}; no NaN in NORMS.h5")
    if not two and "normative model of twovalued_L:" not in log:
        fail("the two-valued measure was left out without a line naming it")


def check_report(binary, work, volumes_path):
    report = os.path.join(work, "report.html")
    fresh(report, os.path.join(work, "chromium-profile"))
    build(binary, [volumes_path], os.path.join(work, "report.h5"), "--model", "shash", "--report", report)
    with open(report, encoding="utf-8") as f:
        html = f.read()
    if "<h2>Calibration</h2>" not in html or "fitted best" not in html:
        fail("report: no calibration section with the verdict")
    dom = chromium(work, report, "--dump-dom").stdout
    svgs, drawn = drawn_svgs(dom)
    if "calibration (held out)" not in dom or drawn < svgs:
        fail(f"report: the calibration plot did not render ({drawn} of {svgs} svgs draw)")
    print(f"  report: calibration section and plot rendered in Chromium ({svgs} plots)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurocohort", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    binary, work = os.path.abspath(args.neurocohort), os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    try:
        volumes_path, planted_sites = synth_planted(binary, work)
        cohort = load_cohort(volumes_path)
        check_mixed(binary, work, volumes_path, cohort)
        check_shash(binary, work, volumes_path, cohort)
        check_calibration(binary, work, volumes_path, cohort, planted_sites)
        check_adapt(binary, work, volumes_path, cohort, planted_sites)
        check_bad_input(binary, work, volumes_path)
        check_report(binary, work, volumes_path)
    except CheckFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("normative models: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
