"""The DICOM route against peers, on `synth --format dicom` (a PACS-like tree: a gantry-tilted
CT, an MR, an untilted CT, each beside the series a PACS also holds, plus junk).

1. pydicom (Debian's python3-pydicom) reads every series file of the tree and fails on the junk.
2. `index` decides every planted series as dicom_truth.tsv says, skips the junk with reasons,
   and names scans by the documented keyed hash; the key file is owner-only.
3. Ages, sexes and sites equal the synthetic truth.
4. No patient name or ID reaches the manifest, the reports, the log or the results file
   (unless --keep-identifiers).
5. What `run` reads (`neurocohort convert`) equals dcm2niix's conversion of the same series:
   voxel for voxel where untilted, in physical space against dcm2niix's tilt-corrected output.
6. `run` on the indexed manifest gives the volumes of `run` on the NIfTI version of the cohort:
   equal where untilted, within interpolation tolerance for the tilted CT.

usage: check_dicom_cohort.py NEUROCOHORT WORK_DIR
"""
import csv
import glob
import hashlib
import hmac
import os
import shutil
import stat
import subprocess
import sys

import h5py
import nibabel as nib
import numpy as np
import pydicom
from scipy.ndimage import map_coordinates

binary, work = sys.argv[1:3]
shutil.rmtree(work, ignore_errors=True)
cohort = os.path.join(work, "cohort")
KEY = "dicom-route-test-key"


def run(*args, **kw):
    result = subprocess.run([binary, *args], capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{args[0]} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout + result.stderr


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# Seed 4 with half the CTs tilted: sub-0001 tilted CT, sub-0002 MR, sub-0003 untilted CT.
logs = run("synth", "--out", cohort, "--n", "3", "--seed", "4", "--oblique-fraction", "0.5", "--format", "dicom")
truth = rows(os.path.join(cohort, "dicom_truth.tsv"))
subjects = {r["scan_id"]: r for r in rows(os.path.join(cohort, "manifest.tsv"))}

# ---- 1. pydicom reads the tree ----
series_files = 0
for r in truth:
    path = os.path.join(cohort, r["folder"])
    if r["expected"] == "skipped":
        continue
    for f in sorted(glob.glob(os.path.join(path, "IM*"))):
        ds = pydicom.dcmread(f)
        assert ds.SeriesInstanceUID == r["series_uid"], f
        series_files += 1
    ds = pydicom.dcmread(sorted(glob.glob(os.path.join(path, "IM*")))[0])
    assert ds.pixel_array.shape == (ds.Rows, ds.Columns), path
for r in truth:
    if r["expected"] != "skipped":
        continue
    path = os.path.join(cohort, r["folder"])
    if r["role"] == "dicomdir":
        assert pydicom.dcmread(path).file_meta.MediaStorageSOPClassUID == "1.2.840.10008.1.3.10"
        continue
    try:
        pydicom.dcmread(path).pixel_array
        raise AssertionError(f"pydicom read the planted {r['role']} {path}")
    except AssertionError:
        raise
    except Exception:
        pass
print(f"pydicom read {series_files} series files; the text file and the truncated file fail, the DICOMDIR reads")

# ---- 2. index ----
with open(os.path.join(cohort, "sites.tsv"), "w") as f:
    f.write("institution\tsite\n")
    for site in "ABC":
        f.write(f"Synthetic Children's Hospital {site}\t{site}\n")
manifest = os.path.join(cohort, "dicom_manifest.tsv")
key_file = os.path.join(cohort, "pseudonym_key.tsv")
logs += run("index", os.path.join(cohort, "dicom"), "--out", manifest, "--salt", KEY, "--site-map",
            os.path.join(cohort, "sites.tsv"), "--key-out", key_file)
assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600, oct(os.stat(key_file).st_mode)


def pseudonym(study, series):
    message = b"series\0" + study.encode() + b"\0" + series.encode()
    return "s-" + hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()[:16]


report = {r["scan_id"]: r for r in rows(os.path.join(cohort, "index_report.tsv"))}
skipped = {os.path.relpath(r["path"], cohort): r["reason"] for r in rows(os.path.join(cohort, "index_skipped.tsv"))}
for r in truth:
    if r["expected"] == "skipped":
        assert r["folder"] in skipped, f"{r['role']} {r['folder']} not listed in index_skipped.tsv"
        print(f"  {r['role']:>18}: skipped ({skipped[r['folder']]})")
        continue
    got = report[pseudonym(r["study_uid"], r["series_uid"])]
    assert got["decision"] == r["expected"], f"{r['subject']} {r['role']}: {got['decision']} ({got['reason']})"
    print(f"  {r['subject']} {r['role']:>12}: {got['decision']} ({got['reason']})")

# ---- 3. demographics ----
indexed = rows(manifest)
assert len(indexed) == 3, len(indexed)
by_uid = {r["series_uid"]: r for r in truth}
for row in indexed:
    uid = row["image"].rsplit("#", 1)[1]
    subject = subjects[by_uid[uid]["subject"]]
    assert row["scan_id"] == pseudonym(by_uid[uid]["study_uid"], uid)
    assert row["sex"] == subject["sex"] and row["site"] == subject["site"] and row["modality"] == subject["modality"]
    true_age, age = float(subject["age"]), float(row["age"])
    if subject["scan_id"] == "sub-0003":  # exported without a birth date: PatientAge, completed units
        expected = np.floor(true_age) if true_age >= 2 else np.floor(true_age * 12) / 12
        assert abs(age - expected) < 1e-3, (age, true_age)
    else:
        assert abs(age - true_age) < 0.005, (age, true_age)
print("ages, sexes and sites equal the synthetic truth")

# ---- 5. what run reads against dcm2niix ----
def load(path):
    image = nib.load(path)
    return image.get_fdata(dtype=np.float32), image.affine


def physical_difference(ours_path, theirs_path):
    a, A = load(ours_path)
    b, B = load(theirs_path)
    ijk = np.indices(a.shape).reshape(3, -1)[:, ::53]
    world = A[:3, :3] @ ijk + A[:3, 3:4]
    bijk = np.linalg.solve(B[:3, :3], world - B[:3, 3:4])
    inside = np.all((bijk > 1) & (bijk < np.array(b.shape)[:, None] - 2), axis=0)
    va = a.reshape(-1)[np.ravel_multi_index(ijk, a.shape)]
    vb = map_coordinates(b, bijk, order=1)
    head = inside & (va > (-500 if va.min() < -500 else 20))
    return np.abs(va[head] - vb[head]), head.sum()


convert_dir = os.path.join(work, "dcm2niix")
os.makedirs(convert_dir)
for row in indexed:
    folder, uid = row["image"].rsplit("#", 1)
    ours = os.path.join(convert_dir, row["scan_id"] + "_ours.nii")
    run("convert", os.path.join(cohort, row["image"]), "--out", ours)
    subprocess.run(["dcm2niix", "-z", "n", "-o", convert_dir, "-f", row["scan_id"], os.path.join(cohort, folder)],
                   check=True, capture_output=True)
    tilted = os.path.join(convert_dir, row["scan_id"] + "_Tilt_1.nii")
    if os.path.exists(tilted):
        diff, n = physical_difference(ours, tilted)
        print(f"  {row['scan_id']} tilted CT against dcm2niix's tilt-corrected output: mean |diff| {diff.mean():.3f}"
              f" HU, p99 {np.percentile(diff, 99):.2f} HU over {n} head voxels")
        assert diff.mean() < 0.5 and np.percentile(diff, 99) < 2, "tilt correction disagrees with dcm2niix"
    else:
        a, A = load(ours)
        b, B = load(os.path.join(convert_dir, row["scan_id"] + ".nii"))
        ca, cb = nib.as_closest_canonical(nib.Nifti1Image(a, A)), nib.as_closest_canonical(nib.Nifti1Image(b, B))
        assert ca.shape == cb.shape, (ca.shape, cb.shape)
        affine_error = np.abs(ca.affine - cb.affine).max()
        voxel_error = np.abs(ca.get_fdata() - cb.get_fdata()).max()
        print(f"  {row['scan_id']} {row['modality']} against dcm2niix: affine max |diff| {affine_error:.2e} mm, "
              f"voxels max |diff| {voxel_error:g}")
        assert affine_error < 1e-3 and voxel_error == 0

# ---- 6. run on both manifests ----
logs += run("run", manifest, "--out", os.path.join(work, "dicom.h5"))
logs += run("run", os.path.join(cohort, "manifest.tsv"), "--out", os.path.join(work, "nifti.h5"))


def volumes(path, key_of):
    with h5py.File(path) as f:
        images = [x.decode() for x in f["scans/image"][:]]
        v = f["metrics/volume_ml"][:]
        icv = f["scans/icv_ml"][:]
        return {key_of(image): (icv[n], v[n]) for n, image in enumerate(images)}


from_dicom = volumes(os.path.join(work, "dicom.h5"), lambda image: by_uid[image.rsplit("#", 1)[1]]["subject"])
from_nifti = volumes(os.path.join(work, "nifti.h5"), lambda image: os.path.basename(image).split(".")[0])
for subject, (icv, regions) in sorted(from_dicom.items()):
    icv_n, regions_n = from_nifti[subject]
    worst = np.max(np.abs(regions / regions_n - 1))
    tilted = subject == "sub-0001"
    print(f"  {subject}: ICV {icv:.3f} mL from DICOM, {icv_n:.3f} mL from NIfTI; worst region {100 * worst:.4f} %")
    if tilted:
        assert abs(icv / icv_n - 1) < 0.01 and worst < 0.05, "tilted CT volumes moved beyond interpolation"
    else:
        # The same voxels; the geometry differs only by NIfTI's float32 header against DICOM's decimals.
        assert abs(icv / icv_n - 1) < 1e-4 and worst < 1e-3, "an untilted series must give the NIfTI volumes"

# ---- 4. identity stays out ----
identity = [f"SYNTH^{s}" for s in subjects] + [f"NCSYN{n:05d}" for n in range(1, 4)]
outputs = [manifest, os.path.join(cohort, "index_report.tsv"), os.path.join(cohort, "index_skipped.tsv"),
           os.path.join(work, "dicom.h5")]
for path in outputs:
    content = open(path, "rb").read()
    for secret in identity:
        assert secret.encode() not in content, f"{secret} found in {path}"
for secret in identity:
    assert secret not in logs, f"{secret} found in the logs"
assert "NCSYN00001" in open(key_file).read(), "the key file links pseudonyms to PatientID"
kept = os.path.join(cohort, "kept.tsv")
run("index", os.path.join(cohort, "dicom"), "--out", kept, "--salt", KEY, "--keep-identifiers")
assert {r["patient_id"] for r in rows(kept)} == {"NCSYN00001", "NCSYN00002", "NCSYN00003"}
print("no patient name or ID in the manifest, reports, results or logs; --keep-identifiers keeps them")
