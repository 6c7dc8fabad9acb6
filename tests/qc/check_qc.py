"""QC against planted failures, end to end with the real binary and the shipped model.

Synthesises 40 MR and 8 CT subjects, plants failures in copies of some of them
(tests/qc/plant_failures.py), runs the cohort, then `neurocohort qc --images`, and checks:
  - every QC measure is in the results file under /qc with the documented shape (h5py);
  - sensitivity (planted failures flagged, or failed by the run) and the false-flag rate on the
    good scans reach the figures stated below (docs/qc.md reports them);
  - the QC page, rendered by headless Chromium, draws its thumbnails (none broken, colour in
    the thumbnail column);
  - `norms build --qc qc.tsv` leaves the flagged scans out and says so in its log, NORMS.h5
    and the report; `qc --reference` judges volumes against that reference.
Prints the per-kind table and the share of each scan's time spent on QC measures.

usage: check_qc.py NEUROCOHORT WORK
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# What this check reached on 2026-12-01 (docs/qc.md); it fails if a change makes QC worse.
MIN_SENSITIVITY = 1.0  # 13 of 13 planted failures
MAX_FALSE_FLAG_RATE = 0.021  # 1 of 48 good scans
PER_SCAN = ["mean_max_probability", "low_margin_fraction", "brain_share_of_head", "mask_border_share",
            "brain_median", "tissue_cnr", "air_fraction", "qc_seconds"]
PER_REGION = ["components", "outside_largest_share"]


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(command, accept=(0,)):
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode not in accept:
        fail(f"exit {result.returncode}: {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def make_cohort(binary, work):
    for name, modality, n, seed in (("mr", "mr", 40, 21), ("ct", "ct", 8, 22)):
        run([binary, "synth", "--out", os.path.join(work, name), "--n", str(n), "--seed", str(seed),
             "--modality", modality])
    cohort = os.path.join(work, "cohort")
    run(["/usr/bin/python3", os.path.join(HERE, "plant_failures.py"), cohort, "--cohort", os.path.join(work, "mr"),
         "--cohort", os.path.join(work, "ct"), "--seed", "5"])
    return cohort


def check_store(results):
    with h5py.File(results, "r") as f:
        scans, regions = len(f["scans/scan_id"]), len(f["regions/label"])
        for name in PER_SCAN:
            if f[f"qc/{name}"].shape != (scans,):
                fail(f"/qc/{name} has shape {f[f'qc/{name}'].shape}, expected ({scans},)")
        for name in PER_REGION:
            if f[f"qc/{name}"].shape != (scans, regions):
                fail(f"/qc/{name} has shape {f[f'qc/{name}'].shape}, expected ({scans}, {regions})")
        ok = np.array([s == b"ok" for s in f["scans/status"][:]])
        qc_seconds, seconds = f["qc/qc_seconds"][:][ok], f["scans/seconds"][:][ok]
        if not np.all(np.isfinite(f["qc/mean_max_probability"][:][ok])):
            fail("an ok scan has no mean_max_probability")
    share = qc_seconds.sum() / seconds.sum()
    print(f"QC measures: {qc_seconds.mean():.3f} s per scan of {seconds.mean():.2f} s "
          f"({100 * share:.2f} % of the scans' time, {ok.sum()} ok scans)")


def sensitivity_and_false_flags(cohort, qc_dir):
    planted = {row["scan_id"]: row for row in read_tsv(os.path.join(cohort, "planted.tsv"))}
    qc = {row["scan_id"]: row for row in read_tsv(os.path.join(qc_dir, "qc.tsv"))}
    if set(planted) != set(qc):
        fail(f"qc.tsv and planted.tsv list different scans: {sorted(set(planted) ^ set(qc))[:5]}")
    by_kind = {}
    for scan_id, p in planted.items():
        by_kind.setdefault(p["kind"], []).append((scan_id, qc[scan_id]))
    print(f"{'kind':20} {'scans':>5} {'flagged':>7}  flags")
    for kind, rows in sorted(by_kind.items()):
        flagged = sum(1 for _, r in rows if r["flags"])
        names = sorted({n for _, r in rows for n in r["flags"].split(",") if n})
        print(f"{kind:20} {len(rows):5} {flagged:7}  {','.join(names)}")
    for kind, rows in sorted(by_kind.items()):
        for scan_id, r in rows:
            if (kind == "good") == bool(r["flags"]):
                print(f"  {'false flag' if kind == 'good' else 'missed'}: {scan_id} ({kind}) {r['reasons']}")
    good = by_kind.pop("good")
    failures = [r for rows in by_kind.values() for r in rows]
    sensitivity = sum(1 for _, r in failures if r["flags"]) / len(failures)
    false_rate = sum(1 for _, r in good if r["flags"]) / len(good)
    print(f"sensitivity {100 * sensitivity:.1f} % ({len(failures)} planted failures), false-flag rate "
          f"{100 * false_rate:.1f} % ({len(good)} good scans)")
    if len(good) < 40:
        fail(f"only {len(good)} good scans; the check needs at least 40")
    if sensitivity < MIN_SENSITIVITY:
        fail(f"sensitivity {sensitivity:.3f} < {MIN_SENSITIVITY}")
    if false_rate > MAX_FALSE_FLAG_RATE:
        fail(f"false-flag rate {false_rate:.3f} > {MAX_FALSE_FLAG_RATE}")
    return {scan_id for scan_id, r in qc.items() if r["flags"] and r["status"] == "ok"}


def chromium(work, page, *mode):
    profile = os.path.join(work, "chromium-profile")
    shutil.rmtree(profile, ignore_errors=True)
    errors = []
    for headless in ("--headless=new", "--headless"):
        command = ["chromium", headless, "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}",
                   "--virtual-time-budget=10000", *mode, "file://" + os.path.abspath(page)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
        if result.returncode == 0:
            return result
        errors.append(f"{headless}: exit {result.returncode}: {result.stderr[-500:]}")
    fail("chromium failed:\n" + "\n".join(errors))


# Counts, once the page has loaded, the images drawn and the images that failed.
PROBE = """<script>window.addEventListener('load', () => setTimeout(() => {
  const images = Array.from(document.images);
  document.body.dataset.drawn = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.broken = images.filter(i => i.complete && i.naturalWidth === 0).length;
  document.body.dataset.total = images.length;
}, 500));</script>"""


def check_page(work, qc_dir, scans):
    page = os.path.join(qc_dir, "index.html")
    with open(page, encoding="utf-8") as f:
        html = f.read()
    thumbnails = len(re.findall(r'<img class="thumb" loading="lazy"', html))
    if thumbnails < scans * 0.9:
        fail(f"index.html has {thumbnails} thumbnails for {scans} scans")
    probe = os.path.join(qc_dir, "probe.html")
    with open(probe, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", PROBE + "</body>"))
    # Tall enough that every row is in view, so that no lazy image is left unrequested.
    dom = chromium(work, probe, "--window-size=1400,12000", "--dump-dom").stdout
    counts = {k: int(v) for k, v in re.findall(r'data-(drawn|broken|total)="(\d+)"', dom)}
    print(f"page: {thumbnails} thumbnails; in Chromium {counts}")
    if counts.get("total") != thumbnails or counts.get("drawn") != thumbnails or counts.get("broken", 1) != 0:
        fail(f"Chromium drew {counts.get('drawn')} of {thumbnails} thumbnails, {counts.get('broken')} broken")
    png = os.path.join(work, "qc_page.png")
    chromium(work, page, "--window-size=1400,3000", f"--screenshot={png}")
    from PIL import Image
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    # Green and blue overlay colours appear nowhere else on the page (badges are red, rows pink).
    coloured = int(((g - np.maximum(r, b) > 30) | (b - np.maximum(r, g) > 30)).sum())
    grey = int(((np.abs(r - g) < 8) & (np.abs(g - b) < 8) & (r > 40) & (r < 215)).sum())
    print(f"screenshot: {coloured} overlay-coloured pixels, {grey} grey (scan) pixels")
    if coloured < 2000 or grey < 20000:
        fail("the screenshot shows no drawn thumbnails (too few overlay or scan pixels)")


def check_exclusion(binary, work, results, qc_dir, flagged):
    norms = os.path.join(work, "norms.h5")
    report = os.path.join(work, "report.html")
    for path in (norms, report):
        if os.path.exists(path):
            os.remove(path)
    result = run([binary, "norms", "build", results, "--qc", os.path.join(qc_dir, "qc.tsv"), "--out", norms,
                  "--report", report])
    log = result.stdout + result.stderr
    match = re.search(r"(\d+) of (\d+) scans left out as flagged", log)
    if not match or int(match.group(1)) != len(flagged):
        fail(f"norms build should leave out {len(flagged)} flagged ok scans; its log says: {match and match.group(0)}")
    with h5py.File(norms, "r") as f:
        account = f.attrs["qc_exclusion"]
        account = account.decode() if isinstance(account, bytes) else account
    with open(report, encoding="utf-8") as f:
        if "left out as flagged" not in f.read():
            fail("the norms report does not say which scans were left out")
    print(f"norms build --qc: {account}")
    return norms


def check_reference(binary, work, results, norms):
    out = os.path.join(work, "qc_reference")
    shutil.rmtree(out, ignore_errors=True)
    run([binary, "qc", results, "--out", out, "--reference", norms])
    flagged = [r for r in read_tsv(os.path.join(out, "qc.tsv")) if "norm_outlier" in r["flags"].split(",")]
    print(f"qc --reference: {len(flagged)} scans with volumes beyond |z| 3.5 of the reference")
    if not flagged:
        fail("qc --reference flagged no volume of any planted failure")


def main():
    binary, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cohort = make_cohort(binary, work)
    results = os.path.join(work, "results.h5")
    # Exit 1: some planted failures fail the run outright (noise has no brain to strip).
    run([binary, "run", os.path.join(cohort, "manifest.tsv"), "--out", results,
         "--timings", os.path.join(work, "timings.json")], accept=(0, 1))
    with open(os.path.join(work, "timings.json")) as f:
        print("run timings:", json.load(f)["stage_seconds_per_scan"])
    check_store(results)
    qc_dir = os.path.join(work, "qc")
    run([binary, "qc", results, "--out", qc_dir, "--images"])
    flagged = sensitivity_and_false_flags(cohort, qc_dir)
    check_page(work, qc_dir, len(read_tsv(os.path.join(qc_dir, "qc.tsv"))))
    norms = check_exclusion(binary, work, results, qc_dir, flagged)
    check_reference(binary, work, results, norms)
    print("qc: planted failures flagged, page drawn, exclusion carried into norms")


if __name__ == "__main__":
    main()
