"""Builds a QC test cohort: the scans of synthetic cohorts plus failures planted in copies of them.

Every scan of every input cohort (written by `neurocohort synth`) goes into OUT unchanged
("good"), hard-linked into OUT/images (copied where a hard link is impossible). Then about a
dozen failures are planted, each a new scan made from a source scan and listed with the
source's demographics: a field of view that cuts the brain, a modality that lies, pure noise,
inverted contrast, a phantom, skull strips that leak, a lost and a fragmented region.

OUT/manifest.tsv lists all scans with an empty labels column (QC works without ground truth);
OUT/planted.tsv says, for each scan_id, its kind ("good" or the failure), its source scan and
what was done. The output is the same for the same seed and inputs.

usage: plant_failures.py OUT --cohort DIR [--cohort DIR ...] [--seed N]
"""
import argparse
import csv
import functools
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

FRONTAL_L, PARIETAL_L = 1, 3  # label values of the synth label maps


@dataclass
class Scan:
    scan_id: str  # as listed in OUT, prefixed where ids of cohorts collide
    row: dict  # the source manifest row (demographics)
    image: Path
    mask: Path  # true brain mask
    labels: Path  # ground-truth label map
    modality: str


def read_cohorts(folders):
    """Scans of all cohorts; a cohort whose ids collide with earlier ones gets the prefix c<k>-."""
    scans, header = [], None
    for k, folder in enumerate(map(Path, folders), start=1):
        with open(folder / "manifest.tsv", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            rows, header = list(reader), header or reader.fieldnames
        taken = {s.scan_id for s in scans}
        prefix = f"c{k}-" if any(row["scan_id"] in taken for row in rows) else ""
        if any(prefix + row["scan_id"] in taken for row in rows):
            sys.exit(f"{folder}: scan ids collide with an earlier cohort even with prefix {prefix}")
        for row in rows:
            image = folder / row["image"]
            scans.append(Scan(prefix + row["scan_id"], row, image, folder / "masks" / image.name,
                              folder / row["labels"], row["modality"].upper()))
    return scans, header


class SourcePicker:
    """Hands out source scans of a modality in a seeded order, so consecutive failures come from
    different subjects; it starts over when a modality's scans run out (small test cohorts)."""

    def __init__(self, scans, rng):
        self.pools = {m: [scans[i] for i in rng.permutation(len(scans)) if scans[i].modality == m]
                      for m in ("MR", "CT")}
        self.used = {"MR": 0, "CT": 0}

    def next(self, modality):
        pool = self.pools[modality]
        if not pool:
            return None
        self.used[modality] += 1
        return pool[(self.used[modality] - 1) % len(pool)]


def link_or_copy(source, target):
    target.unlink(missing_ok=True)  # a rerun into the same OUT replaces the file
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)


def load(scan):
    img = nib.load(scan.image)
    return img, img.get_fdata(dtype=np.float32)


def load_map(path):
    return np.asanyarray(nib.load(path).dataobj)


def like(source_img, data, modality, affine=None):
    """An image on the source's grid (or the given affine) with the source's header:
    CT stays in HU as int16, MR becomes float32."""
    header = source_img.header.copy()
    if modality == "CT":
        if data.dtype.kind == "f":  # rint on integer input would give float16 and lose HU
            data = np.rint(data)
        data = np.clip(data, -32768, 32767).astype(np.int16)
    else:
        data = data.astype(np.float32)
    header.set_data_dtype(data.dtype)
    return nib.Nifti1Image(data, source_img.affine if affine is None else affine, header)


def head_mask(v):
    """The head: voxels above 10 % of the 99th percentile (above the MR background noise), the
    largest piece only, with holes filled so the dark skull and CSF count as head."""
    pieces, n = ndimage.label(v > 0.1 * np.percentile(v, 99))
    largest = np.argmax(np.bincount(pieces.ravel())[1:]) + 1 if n else 0
    return ndimage.binary_fill_holes(pieces == largest)


def superior_axis(affine):
    """The voxel axis closest to superior (works for oblique affines), and whether superior is
    at its high-index end."""
    codes = nib.aff2axcodes(affine)
    axis = codes.index("S") if "S" in codes else codes.index("I")
    return axis, codes[axis] == "S"


def axis_named(affine, letters):
    codes = nib.aff2axcodes(affine)
    return next(a for a in range(3) if codes[a] in letters)


def cut_top_of_brain(scan, rng, fraction=0.3):
    img, mask = nib.load(scan.image), load_map(scan.mask) > 0
    axis, superior_is_high = superior_axis(img.affine)
    present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
    first, last = present[0], present[-1]
    n_cut = int(round(fraction * (last - first + 1)))
    affine = img.affine.copy()
    if superior_is_high:
        keep = slice(0, last + 1 - n_cut)
    else:
        keep = slice(first + n_cut, None)
        affine[:3, 3] += affine[:3, axis] * keep.start  # the first kept slice becomes index 0
    index = [slice(None)] * 3
    index[axis] = keep
    data = np.asanyarray(img.dataobj)[tuple(index)]
    return like(img, data, scan.modality, affine), (
        f"top {fraction:.0%} of the brain cut off ({n_cut} of {last - first + 1} brain slices "
        f"along voxel axis {axis} removed, and everything above)")


def list_as_other_modality(scan, rng):
    other = "MR" if scan.modality == "CT" else "CT"
    return scan.image, f"{scan.modality} scan listed as {other}, image unchanged"


def pure_noise(scan, rng, rician):
    img, v = load(scan)
    level = float(np.median(v[load_map(scan.mask) > 0]))  # the source's intensity scale
    if rician:  # magnitude of a complex signal at brain level with noise of half that level
        noise = np.hypot(level + 0.5 * level * rng.standard_normal(v.shape, dtype=np.float32),
                         0.5 * level * rng.standard_normal(v.shape, dtype=np.float32))
        detail = f"pure Rician noise (signal {level:.0f}, sigma {0.5 * level:.0f})"
    else:
        noise = np.abs(level * rng.standard_normal(v.shape, dtype=np.float32))
        detail = f"pure Gaussian magnitude noise (sigma {level:.0f})"
    return like(img, noise, scan.modality), detail + " on the source's grid"


def invert_head_contrast(scan, rng):
    img, v = load(scan)
    head, p99 = head_mask(v), np.percentile(v, 99)
    v[head] = np.clip(p99 - v[head], 0, None)  # MR magnitudes stay non-negative
    return like(img, v, scan.modality), f"contrast inverted inside the head (v -> {p99:.0f} - v)"


def ellipsoid_phantom(scan, rng, diameters_mm=(140, 170, 130)):
    img, v = load(scan)
    mask = load_map(scan.mask) > 0
    level = float(np.median(v[mask]))
    # The ellipsoid is axis-aligned in world (RAS, mm) space and centred on the brain's centroid.
    ijk = np.ogrid[tuple(slice(0, n) for n in v.shape)]
    centre = nib.affines.apply_affine(img.affine, np.argwhere(mask).mean(axis=0))
    radius2 = 0
    for r, diameter in enumerate(diameters_mm):
        world = sum(img.affine[r, c] * ijk[c] for c in range(3)) + img.affine[r, 3]
        radius2 = radius2 + ((world - centre[r]) / (diameter / 2)) ** 2
    inside = radius2 <= 1
    phantom = np.zeros(v.shape, np.float32)
    phantom[inside] = level * (1 + 0.03 * rng.standard_normal(int(inside.sum()), dtype=np.float32))
    return like(img, phantom, scan.modality), (
        f"uniform ellipsoid {'x'.join(map(str, diameters_mm))} mm of intensity {level:.0f} "
        f"with 3 % noise")


def fill_scalp_with_brain_intensity(scan, rng):
    img, v = load(scan)
    mask = load_map(scan.mask) > 0
    level = float(np.median(v[mask]))
    # Skull, CSF and scalp look like brain, so an Otsu strip keeps the whole head.
    v[head_mask(v) & ~mask] = level
    return like(img, v, scan.modality), f"head outside the brain set to the brain's median {level:.0f}"


def erase_bone(scan, rng, bone_hu=300, tissue_hu=40):
    img = nib.load(scan.image)
    v = np.array(img.dataobj)
    bone = v > bone_hu
    v[bone] = tissue_hu  # without bone, a CT strip has no skull to stop at
    return like(img, v, scan.modality), f"bone (> {bone_hu} HU, {bone.sum()} voxels) set to {tissue_hu} HU"


def drown_frontal_left(scan, rng):
    img, v = load(scan)
    mask, region = load_map(scan.mask) > 0, load_map(scan.labels) == FRONTAL_L
    darkest = float(np.percentile(v[mask], 2))  # CSF and the darkest tissue
    sigma = 0.03 * float(np.median(v[mask]))
    v[region] = np.clip(darkest + sigma * rng.standard_normal(int(region.sum()), dtype=np.float32), 0, None)
    return like(img, v, scan.modality), f"frontal_L set to CSF-like intensity {darkest:.0f} with mild noise"


def fragment_parietal_left(scan, rng, period_mm=8, slab_voxels=3):
    img, v = load(scan)
    region = load_map(scan.labels) == PARIETAL_L
    background = float(np.median(v[~head_mask(v)]))
    slabs = np.zeros((1, 1, 1), bool)
    for axis in (axis_named(img.affine, "AP"), axis_named(img.affine, "SI")):
        period = max(slab_voxels + 1, int(round(period_mm / np.linalg.norm(img.affine[:3, axis]))))
        first = np.flatnonzero(region.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        # Slabs start half a period into the region, so the first one does not just trim an edge.
        cut = (np.arange(v.shape[axis]) - first - period // 2) % period < slab_voxels
        slabs = slabs | cut.reshape([-1 if a == axis else 1 for a in range(3)])
    v[region & slabs] = background
    pieces = ndimage.label(region & ~slabs)[1]
    return like(img, v, scan.modality), (
        f"parietal_L cut into {pieces} pieces by {slab_voxels}-voxel background slabs "
        f"every {period_mm} mm along A-P and S-I")


# kind, source modality, how it is made; the order fixes which source each failure gets.
PLAN = [
    ("fov_cut", "MR", cut_top_of_brain),
    ("fov_cut", "CT", cut_top_of_brain),
    ("modality_lie", "CT", list_as_other_modality),
    ("modality_lie", "MR", list_as_other_modality),
    ("noise", "MR", functools.partial(pure_noise, rician=True)),
    ("noise", "MR", functools.partial(pure_noise, rician=False)),
    ("inverted", "MR", invert_head_contrast),
    ("inverted", "MR", invert_head_contrast),
    ("phantom", "MR", ellipsoid_phantom),
    ("leaky_strip", "MR", fill_scalp_with_brain_intensity),
    ("leaky_strip", "CT", erase_bone),
    ("lost_region", "MR", drown_frontal_left),
    ("fragmented_region", "MR", fragment_parietal_left),
]


def write_tsv(path, columns, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for manifest.tsv, planted.tsv and images/")
    parser.add_argument("--cohort", action="append", required=True, help="a `neurocohort synth` folder")
    parser.add_argument("--seed", type=int, default=0, help="picks the sources and the noise")
    args = parser.parse_args()

    scans, columns = read_cohorts(args.cohort)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    manifest, planted = [], []

    def add(scan_id, source, modality, kind, detail):
        manifest.append({**source.row, "scan_id": scan_id, "image": f"images/{scan_id}.nii.gz",
                         "modality": modality, "labels": ""})
        planted.append({"scan_id": scan_id, "kind": kind, "source": source.scan_id, "detail": detail})

    for scan in scans:
        link_or_copy(scan.image, args.out / "images" / f"{scan.scan_id}.nii.gz")
        add(scan.scan_id, scan, scan.modality, "good", f"untouched scan from {scan.image.parent.parent}")

    rng = np.random.default_rng(args.seed)
    picker = SourcePicker(scans, rng)
    taken = {s.scan_id for s in scans}
    for kind, modality, make in PLAN:
        source = picker.next(modality)
        if source is None:
            print(f"skipped {kind}: no {modality} scan in the cohorts", file=sys.stderr)
            continue
        scan_id = f"{source.scan_id}-{kind}"
        scan_id = scan_id if scan_id not in taken else scan_id + "-2"
        taken.add(scan_id)
        start = time.monotonic()
        result, detail = make(source, rng)
        target = args.out / "images" / f"{scan_id}.nii.gz"
        if isinstance(result, Path):
            link_or_copy(result, target)
        else:
            target.unlink(missing_ok=True)  # never write through a hard link into a source cohort
            nib.save(result, target)
        listed = ("MR" if modality == "CT" else "CT") if kind == "modality_lie" else modality
        add(scan_id, source, listed, kind, detail)
        print(f"{scan_id}: {detail} ({time.monotonic() - start:.1f} s)")

    write_tsv(args.out / "manifest.tsv", columns, manifest)
    write_tsv(args.out / "planted.tsv", ["scan_id", "kind", "source", "detail"], planted)
    print(f"wrote {len(scans)} good and {len(planted) - len(scans)} planted scans into {args.out}")


if __name__ == "__main__":
    main()
