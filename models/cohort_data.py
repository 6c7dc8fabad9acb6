"""Loading `neurocohort preprocess` output for training and evaluation.

Volumes are held as [k, j, i] arrays (i fastest, as neurocohort stores them). The model
sees the preprocessed 1 mm image z-scored inside the brain mask (0 outside), averaged to
2 mm over 2 x 2 x 2 blocks: exactly what neurocohort's trilinear resampling onto the
centred 2 mm grid gives, because `preprocess` crops every axis to an even size.
"""
import csv
import os

import nibabel
import numpy as np
import torch
import torch.nn.functional as F

REGIONS = [
    (1, "frontal_L", "L"), (2, "frontal_R", "R"), (3, "parietal_L", "L"), (4, "parietal_R", "R"),
    (5, "occipital_L", "L"), (6, "occipital_R", "R"), (7, "temporal_L", "L"), (8, "temporal_R", "R"),
    (9, "cerebellum", "-"), (10, "brainstem", "-"),
]
CLASSES = len(REGIONS) + 1
# Class index after a left-right mirror: left and right lobes swap.
MIRRORED_CLASS = [0, 2, 1, 4, 3, 6, 5, 8, 7, 9, 10]


def read_kji(path, dtype):
    return np.ascontiguousarray(np.asarray(nibabel.load(path).dataobj, dtype=dtype).transpose(2, 1, 0))


def zscore_in_mask(image, mask):
    inside = mask > 0
    values = image[inside]
    out = np.zeros_like(image, dtype=np.float32)
    out[inside] = (values - values.mean()) / max(float(values.std()), 1e-6)
    return out


class Scan:
    """One preprocessed scan: the 2 mm network input, soft 2 mm targets, 1 mm truth and mask."""

    def __init__(self, row, folder, factor):
        self.scan_id, self.modality = row["scan_id"], row["modality"]
        image = read_kji(os.path.join(folder, row["image"]), np.float32)
        self.mask = read_kji(os.path.join(folder, row["mask"]), np.uint8)
        self.labels = read_kji(os.path.join(folder, row["labels"]), np.int64)
        self.factor = factor
        x = torch.from_numpy(zscore_in_mask(image, self.mask))[None, None]
        self.input = F.avg_pool3d(x, factor)[0] if factor > 1 else x[0]
        onehot = F.one_hot(torch.from_numpy(self.labels), CLASSES).permute(3, 0, 1, 2).float()[None]
        self.target = (F.avg_pool3d(onehot, factor)[0] if factor > 1 else onehot[0]).half()


def load_scans(folder, factor, limit=None):
    with open(os.path.join(folder, "preprocessed.tsv"), newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["status"] == "ok" and r["labels"]]
    if not rows:
        raise SystemExit(f"{folder}/preprocessed.tsv lists no preprocessed scan with labels")
    return [Scan(r, folder, factor) for r in rows[:limit]]


def split_scans(scans, test_every):
    """Every `test_every`-th scan is held out (subjects alternate CT and MR, so both are)."""
    test = [s for n, s in enumerate(scans) if n % test_every == test_every - 1]
    train = [s for n, s in enumerate(scans) if n % test_every != test_every - 1]
    return train, test
