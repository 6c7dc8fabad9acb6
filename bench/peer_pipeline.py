"""The Python script a study would otherwise write: `neurocohort run`'s per-scan work, one scan at a time.

usage: peer_pipeline.py MANIFEST.tsv --out RESULTS.h5 --timings TIMINGS.json [--model M.pt]
                        [--threads T] [--equalizer clahe|ahe] [--morphology ball|edt]

The peer that bench/end_to_end.py compares neurocohort with. It does the steps of neurocohort's
C++ (pipeline/, kernels/) with their parameters, using the libraries of the published studies:

  read        nibabel load + get_fdata (float32); the `labels` ground truth when the manifest has one
  preprocess  trilinear resampling to 1 mm from the NIfTI's affine, direction cosines included
              (scipy.ndimage.affine_transform, order 1), onto neurocohort's axis-aligned LPS grid;
              skull strip with scipy.ndimage binary morphology, ball structuring elements:
                CT: -10..100 HU, 5 mm erosion, largest 6-connected component, 5 mm dilation, outline
                restoration (5 one-voxel dilations inside the window), hole fill, 3 mm closing;
                MR: neurocohort's Otsu threshold, the same opening and component, hole fill,
                10 mm closing;
              crop to the mask's bounding box + 8 mm (even sizes); equalization inside the mask
  infer       torch.jit.load of the same TorchScript model (metadata.json from the archive): z-score
              inside the mask, resampling to the model's input spacing, 64³ windows at 50 % overlap,
              batch 2, softmax weighted by a Gaussian (sigma = patch / 8), probabilities trilinearly
              upsampled, argmax, 0 outside the mask, nearest neighbour back to the native grid
  measure     neurocohort's metrics (pipeline/measure.cpp) on the native grid: numpy.bincount volumes per
              label (mL, voxel volume from the header's pixdim, as ITK reads it); against the truth Dice,
              precision, recall, volume similarity and HD95: surface voxels by a 6-neighbour
              scipy.ndimage.binary_erosion (outside the grid counts as outside), exact distances by
              scipy.ndimage.distance_transform_edt(sampling=spacing), both in the union bounding box of
              the region in the two maps grown by one voxel, numpy.percentile's linear 95th percentile of
              each direction, the larger of the two; NaN where neurocohort has NaN
  write       one h5py file in neurocohort's layout (docs/hdf5-schema.md): per scan the label map under
              /labels/<scan_id> ([k, j, i], uint8 when every label fits, 64³ chunks, shuffle + gzip 4, grid
              attributes), then all six metrics and ICV into the scan's row, flushed per scan

--equalizer clahe (default) is skimage.exposure.equalize_adapthist with its defaults (tiles of an
eighth of each axis, clip limit 0.01), what the studies ran; neurocohort runs ITK-style AHE (radius
5, alpha = beta = 0.3), which the shipped model was trained on. The z-score evens out the scale
but not the local contrast, so with CLAHE the network sees other inputs and Dice differs.
--equalizer ahe is neurocohort's AHE ported to numpy: then the network input, and Dice, are
neurocohort's. --morphology edt computes the same masks from thresholded Euclidean distance
transforms (the ball is the set of offsets within the radius) in time independent of the radius;
scipy's ball erosions and dilations grow with the ball's volume (the 10 mm MR closing's ball
holds about 4,200 voxels).

Other differences: scipy's `constant` mode treats samples in the outer half voxel of the field of
view as outside, where neurocohort extends the border voxels (only the edge of the field of view
differs); write stores what neurocohort stores per scan (label map, metrics, ICV) but not its
bookkeeping columns (status, error, seconds, host, rank) or provenance attributes.

Scans run one at a time, as the studies' scripts did; torch uses --threads threads, numpy, scipy
and skimage one. Errors stop the run (no failure isolation). --timings writes neurocohort's JSON
shape ("scans", "scans_timed", "wall_seconds", "scans_per_minute", "stage_seconds_per_scan") plus
"configuration", "regions" and "per_scan" (each scan's stage seconds, ICV and per-region Dice).
As in neurocohort, the wall clock starts once the model is loaded and the results file created.
"""
import argparse
import csv
import json
import math
import os
import time
from dataclasses import dataclass

import h5py
import nibabel as nib
import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from skimage import exposure

STAGES = ("read", "preprocess", "infer", "measure", "write")
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "default", "resunet333.pt")
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])  # NIfTI affines are RAS; neurocohort (ITK) works in LPS

ISO_SPACING_MM = 1.0
CROP_MARGIN_MM = 8.0
CT_WINDOW_HU = (-10.0, 100.0)
CT_AIR_HU = -1000.0
CT_OPENING_MM, CT_CLOSING_MM = 5.0, 3.0
MR_OPENING_MM, MR_CLOSING_MM = 5.0, 10.0
AHE_RADIUS, AHE_ALPHA, AHE_BETA, AHE_LEVELS = 5, 0.3, 0.3, 256
WINDOW_OVERLAP = 0.5
WINDOW_BATCH = 2


# --- geometry -----------------------------------------------------------------------------------

@dataclass
class Grid:
    """A voxel grid in LPS millimetres: physical = origin + matrix @ index, matrix = direction · diag(spacing)."""
    shape: tuple
    matrix: np.ndarray
    origin: np.ndarray

    @property
    def spacing(self):
        return np.linalg.norm(self.matrix, axis=0)

    @property
    def voxel_ml(self):
        return abs(np.linalg.det(self.matrix)) / 1000.0


def nifti_grid(image):
    lps = RAS_TO_LPS @ image.affine[:3]
    return Grid(tuple(image.shape[:3]), lps[:, :3], lps[:, 3])


def isotropic_grid_over(grid, spacing_mm):
    """neurocohort's resampled_grid: the axis-aligned grid of `spacing_mm` centred on the bounding box of
    the input's voxel footprints, so that oblique (gantry-tilted) scans come out straight."""
    corners = np.array([[(n - 0.5) if (c >> a) & 1 else -0.5 for a, n in enumerate(grid.shape)] for c in range(8)])
    physical = corners @ grid.matrix.T + grid.origin
    lo, hi = physical.min(axis=0), physical.max(axis=0)
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
    shape = np.maximum(1, np.ceil((hi - lo) / spacing - 1e-6)).astype(int)
    origin = 0.5 * (lo + hi) - 0.5 * shape * spacing + 0.5 * spacing
    return Grid(tuple(int(n) for n in shape), np.diag(spacing), origin)


def resample(volume, source, target, order, outside):
    """`volume` on grid `source` sampled on grid `target` (order 1: trilinear, 0: nearest)."""
    to_source = np.linalg.inv(source.matrix)
    matrix = to_source @ target.matrix
    offset = to_source @ (target.origin - source.origin)
    return ndi.affine_transform(volume, matrix, offset=offset, output_shape=target.shape, order=order,
                                mode="constant", cval=outside)


# --- skull strip --------------------------------------------------------------------------------

def ball(radius_mm, spacing):
    """Offsets whose physical length is at most the radius (neurocohort's ball_rows)."""
    reach = [int(math.floor(radius_mm / s)) for s in spacing]
    axes = np.ogrid[tuple(slice(-r, r + 1) for r in reach)]
    return sum((a * s) ** 2 for a, s in zip(axes, spacing)) <= radius_mm ** 2 + 1e-9


def dilate(mask, radius_mm, spacing, method):
    if method == "edt":
        return ndi.distance_transform_edt(~mask, sampling=spacing) <= radius_mm + 1e-6
    return ndi.binary_dilation(mask, structure=ball(radius_mm, spacing))


def erode(mask, radius_mm, spacing, method):
    # Beyond the grid is neither brain nor background in neurocohort: the border does not erode.
    if method == "edt":
        return ndi.distance_transform_edt(mask, sampling=spacing) > radius_mm + 1e-6
    return ndi.binary_erosion(mask, structure=ball(radius_mm, spacing), border_value=1)


def largest_component(mask):
    labels, count = ndi.label(mask)  # 6-connected
    if count == 0:
        raise ValueError("skull strip: no brain component found")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def restore_outline(mask, window, radius_mm, spacing):
    """Geodesic dilation inside the window, one voxel at a time, as many voxels as the opening's radius:
    gives back the brain outline the opening shaved off, but not the scalp it cut away."""
    one_voxel = min(spacing)
    steps = int(round(radius_mm / one_voxel))
    return ndi.binary_dilation(mask, structure=ball(one_voxel, spacing), iterations=steps, mask=window)


def otsu_threshold(image, bins=256):
    """neurocohort's Otsu threshold: the upper edge of the last background bin of a 256-bin histogram.
    Not skimage.filters.threshold_otsu, which returns that bin's centre: half a bin lower lets more
    scalp into the window, so the masks, and the work compared, would differ."""
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        raise ValueError("Otsu threshold: the image is constant")
    scale = bins / (hi - lo)
    bin_of = np.minimum(bins - 1, ((image.ravel().astype(np.float64) - lo) * scale).astype(np.int64))
    histogram = np.bincount(bin_of, minlength=bins)
    levels = np.arange(bins)
    weight, mass = np.cumsum(histogram, dtype=float), np.cumsum(levels * histogram, dtype=float)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        between = weight * (total - weight) * (mass / weight - (total_mass - mass) / (total - weight)) ** 2
    between = np.nan_to_num(between[:-1], nan=-1.0)
    return np.float32(lo + (np.argmax(between) + 1) / scale)


def brain_mask(iso, ct, spacing, method):
    if ct:
        window = (iso >= CT_WINDOW_HU[0]) & (iso <= CT_WINDOW_HU[1])
        opening, closing = CT_OPENING_MM, CT_CLOSING_MM
    else:
        window = iso >= otsu_threshold(iso)
        opening, closing = MR_OPENING_MM, MR_CLOSING_MM
    mask = dilate(largest_component(erode(window, opening, spacing, method)), opening, spacing, method)
    if ct:
        mask = restore_outline(mask, window, opening, spacing)
    mask = ndi.binary_fill_holes(mask)
    return erode(dilate(mask, closing, spacing, method), closing, spacing, method)


# --- preprocess ---------------------------------------------------------------------------------

def crop_box(mask, margin):
    """The mask's bounding box grown by `margin` voxels and to an even size per axis; it may leave the grid."""
    lo, hi = [], []
    for axis in range(3):
        present = np.flatnonzero(np.any(mask, axis=tuple(a for a in range(3) if a != axis)))
        first, last = present[0] - margin, present[-1] + 1 + margin
        lo.append(first)
        hi.append(last + (last - first) % 2)
    return np.array(lo), np.array(hi)


def crop(volume, lo, hi):
    """volume[lo:hi] with zeros where the box leaves the grid."""
    out = np.zeros(tuple(hi - lo), dtype=volume.dtype)
    src = tuple(slice(max(l, 0), min(h, n)) for l, h, n in zip(lo, hi, volume.shape))
    dst = tuple(slice(s.start - l, s.stop - l) for s, l in zip(src, lo))
    out[dst] = volume[src]
    return out


def clahe_inside(image, mask):
    """skimage's CLAHE with its defaults (what the studies ran) on the brain: intensities scaled to [0, 1] by the
    brain's range (skimage takes [0, 1] floats), 0 outside."""
    inside = image[mask]
    lo, hi = inside.min(), inside.max()
    if hi <= lo:
        return image
    unit = np.where(mask, (image - lo) / (hi - lo), 0.0)
    return np.where(mask, exposure.equalize_adapthist(unit), 0.0).astype(np.float32)


def ahe_terms():
    """The bracketed term of ITK's AHE sum per level difference d (kernels/equalize/equalize_math.hpp)."""
    d = np.arange(-(AHE_LEVELS - 1), AHE_LEVELS) / (AHE_LEVELS - 1)
    return 0.5 * np.sign(d) * np.abs(2 * d) ** AHE_ALPHA - 0.5 * AHE_BETA * np.sign(d) * np.abs(2 * d)


def ahe_inside(image, mask):
    """neurocohort's equalizer ported to numpy: ITK's AHE (radius 5, alpha = beta = 0.3) over 256 levels, only
    brain voxels equalized and counted in the windows. Each level's window counts are a box filter of that
    level's indicator, so the cost is one box filter per level present."""
    inside = image[mask]
    lo, hi = inside.min(), inside.max()
    if hi <= lo:
        return image
    unit = (image - lo) / (hi - lo)
    level = np.clip((unit * np.float32(AHE_LEVELS - 1) + np.float32(0.5)).astype(np.int32), 0, AHE_LEVELS - 1)
    brain = np.flatnonzero(mask)
    own_level = level.ravel()[brain]
    size = 2 * AHE_RADIUS + 1

    def window_count(indicator):  # brain voxels of each window (clipped to the grid) where `indicator` holds
        box_mean = ndi.uniform_filter(indicator.astype(np.float32), size=size, mode="constant")
        return np.rint(box_mean.ravel()[brain] * size ** 3)

    terms = ahe_terms()
    term_sum = np.zeros(brain.size)
    for l in np.unique(own_level):
        term_sum += window_count(mask & (level == l)) * terms[own_level - l + AHE_LEVELS - 1]
    out = image.copy()
    u = unit.ravel()[brain] - 0.5
    out.ravel()[brain] = lo + (hi - lo) * (AHE_BETA * u + term_sum / window_count(mask) + 0.5)
    return out


EQUALIZERS = {"clahe": clahe_inside, "ahe": ahe_inside}


@dataclass
class Preprocessed:
    image: np.ndarray  # the equalized brain on `grid`
    mask: np.ndarray
    grid: Grid
    icv_ml: float


def preprocess(native, grid, ct, morphology, equalizer):
    iso_grid = isotropic_grid_over(grid, ISO_SPACING_MM)
    iso = resample(native, grid, iso_grid, order=1, outside=CT_AIR_HU if ct else 0.0)
    mask = brain_mask(iso, ct, iso_grid.spacing, morphology)
    icv_ml = float(mask.sum()) * iso_grid.voxel_ml
    lo, hi = crop_box(mask, int(math.ceil(CROP_MARGIN_MM / ISO_SPACING_MM)))
    mask = crop(mask, lo, hi)
    image = np.where(mask, crop(iso, lo, hi), 0.0).astype(np.float32)
    cropped = Grid(mask.shape, iso_grid.matrix, iso_grid.origin + iso_grid.matrix @ lo)
    return Preprocessed(EQUALIZERS[equalizer](image, mask), mask, cropped, icv_ml)


# --- inference ----------------------------------------------------------------------------------

@dataclass
class Model:
    module: torch.jit.ScriptModule
    label_ids: list
    names: list
    spacing_mm: list
    patch_kji: tuple  # metadata's patch_size is i, j, k; tensors are [k, j, i]
    zscore: bool


def load_model(path):
    extra = {"metadata.json": ""}
    module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    module.eval()
    meta = json.loads(extra["metadata.json"])
    return Model(module, [l["id"] for l in meta["labels"]], [l["name"] for l in meta["labels"]],
                 meta["input_spacing_mm"], tuple(meta["patch_size"][::-1]),
                 meta.get("normalisation", "zscore") == "zscore")


def zscore_inside(image, mask):
    inside = image[mask].astype(np.float64)
    sd = max(inside.std(), 1e-6)
    return np.where(mask, (image - inside.mean()) / sd, 0.0).astype(np.float32)


def window_starts(size, patch):
    if size <= patch:
        return [0]
    step = max(1, int(patch * (1 - WINDOW_OVERLAP)))
    return list(range(0, size - patch, step)) + [size - patch]


def gaussian_importance(patch):
    """1 at the centre, sigma = patch / 8 per axis, at least 1e-3."""
    axes = [np.exp(-0.5 * ((np.arange(p) - (p - 1) / 2) / (p / 8.0)) ** 2) for p in patch]
    w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return torch.from_numpy(np.maximum(w / w.max(), 1e-3).astype(np.float32))


@torch.no_grad()
def sliding_window_probabilities(model, volume):
    """Softmax probabilities [classes, k, j, i] of `volume` [k, j, i], windows blended by Gaussian importance."""
    patch = model.patch_kji
    size = volume.shape
    padded = torch.from_numpy(np.pad(volume, [(0, max(p - s, 0)) for p, s in zip(patch, size)]))
    weights = gaussian_importance(patch)
    corners = [(k, j, i) for k in window_starts(padded.shape[0], patch[0])
               for j in window_starts(padded.shape[1], patch[1]) for i in window_starts(padded.shape[2], patch[2])]
    total, norm = None, torch.zeros(padded.shape)
    for first in range(0, len(corners), WINDOW_BATCH):
        batch = corners[first:first + WINDOW_BATCH]
        windows = [tuple(slice(c, c + p) for c, p in zip(corner, patch)) for corner in batch]
        x = torch.stack([padded[w] for w in windows])[:, None]
        probabilities = torch.softmax(model.module(x), dim=1) * weights
        if total is None:
            total = torch.zeros((probabilities.shape[1],) + tuple(padded.shape))
        for b, w in enumerate(windows):
            total[(slice(None),) + w] += probabilities[b]
            norm[w] += weights
    return (total / norm)[:, :size[0], :size[1], :size[2]]


def segment(model, scan):
    """The label map on the preprocessed grid: probabilities on the model's grid, trilinearly upsampled
    (interpolating probabilities rather than labels keeps borders smooth), argmax, 0 outside the brain."""
    coarse_grid = isotropic_grid_over(scan.grid, model.spacing_mm)
    covered = np.array(coarse_grid.shape) * coarse_grid.spacing
    if not np.allclose(covered, np.array(scan.grid.shape) * scan.grid.spacing):
        raise ValueError("the model's input grid does not tile the preprocessed grid (input spacing must divide it)")
    image = zscore_inside(scan.image, scan.mask) if model.zscore else scan.image
    coarse = resample(image, scan.grid, coarse_grid, order=1, outside=0.0)
    probabilities = sliding_window_probabilities(model, np.ascontiguousarray(coarse.transpose(2, 1, 0)))
    fine = F.interpolate(probabilities[None], size=scan.mask.shape[::-1], mode="trilinear", align_corners=False)[0]
    classes = fine.argmax(dim=0).numpy().transpose(2, 1, 0)
    ids = np.array([0] + model.label_ids, dtype=np.uint16)
    return np.where(scan.mask, ids[classes], 0).astype(np.uint16)


# --- measure ------------------------------------------------------------------------------------

METRICS = ("volume_ml", "dice", "precision", "recall", "hd95_mm", "volume_similarity")  # neurocohort's
SIX_NEIGHBOURS = ndi.generate_binary_structure(3, 1)


def ratio(numerator, denominator):
    """Per region numerator / denominator, NaN where the denominator is 0 (neurocohort's undefined values)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def measure(labels, truth, label_ids, spacing):
    """neurocohort's per-region metrics (pipeline/measure.cpp) of a label map on its native grid, as
    {metric: values in label_ids order}. Without truth only volume_ml: neurocohort leaves the others NaN."""
    label_ids = np.asarray(label_ids)
    top = int(label_ids.max()) + 1
    predicted = np.bincount(labels.ravel(), minlength=top)[label_ids]
    metrics = {"volume_ml": predicted * (float(np.prod(spacing)) / 1000.0)}
    if truth is None:
        return metrics
    true = np.bincount(truth.ravel(), minlength=top)[label_ids]
    both = np.bincount(labels[labels == truth], minlength=top)[label_ids]
    return metrics | {"dice": ratio(2 * both, predicted + true), "precision": ratio(both, predicted),
                      "recall": ratio(both, true), "hd95_mm": hd95_per_region(labels, truth, label_ids, spacing),
                      "volume_similarity": 1.0 - ratio(np.abs(predicted - true), predicted + true)}


def hd95_per_region(labels, truth, label_ids, spacing):
    """HD95 of every region, each computed inside the union of its bounding boxes in the two maps grown by
    one voxel: the surfaces and their nearest neighbours all lie there, so the result is the whole grid's,
    at the cost of the region's neighbourhood."""
    top = int(max(label_ids))
    boxes = list(zip(ndi.find_objects(labels, top), ndi.find_objects(truth, top)))  # [l - 1]: label l's boxes
    values = []
    for label in label_ids:
        box = grown_union(boxes[label - 1], labels.shape)
        values.append(np.nan if box is None else hd95(labels[box] == label, truth[box] == label, spacing))
    return np.array(values)


def grown_union(boxes, shape):
    """The bounding box of the boxes that exist, grown by one voxel and clamped to the grid; None if none does."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    return tuple(slice(max(min(b[a].start for b in boxes) - 1, 0), min(max(b[a].stop for b in boxes) + 1, n))
                 for a, n in enumerate(shape))


def surface(region):
    """Region voxels with a 6-neighbour outside the region; beyond the grid counts as outside (border_value 0).
    The box around the region is grown by a voxel, so its edge is only ever outside the region or the grid's."""
    return region & ~ndi.binary_erosion(region, structure=SIX_NEIGHBOURS, border_value=0)


def hd95(a, b, spacing):
    """The larger of the two directed 95th percentiles of surface-to-surface distances in mm; NaN when either
    region is empty."""
    surface_a, surface_b = surface(a), surface(b)
    if not surface_a.any() or not surface_b.any():
        return np.nan
    return max(directed_percentile(surface_a, surface_b, spacing), directed_percentile(surface_b, surface_a, spacing))


def directed_percentile(source, target, spacing):
    """95th percentile (numpy's linear interpolation, as neurocohort) of the exact Euclidean distances from the
    source's voxels to the nearest target voxel."""
    distance = ndi.distance_transform_edt(~target, sampling=spacing)
    return float(np.percentile(distance[source], 95))


# --- write --------------------------------------------------------------------------------------

class ResultsFile:
    """One HDF5 file in neurocohort's layout (io/cohort_store.cpp); each scan's record flushed when written."""

    def __init__(self, path, scans, model):
        self.file = h5py.File(path, "w")
        text = h5py.string_dtype()
        rows, regions = len(scans), len(model.label_ids)
        self.file["scans/scan_id"] = np.array([s["scan_id"] for s in scans], dtype=object).astype(text)
        self.file["scans/modality"] = np.array([s["modality"] for s in scans], dtype=object).astype(text)
        self.file["regions/label"] = np.array(model.label_ids, dtype=np.int32)
        self.file["regions/name"] = np.array(model.names, dtype=object).astype(text)
        self.file.create_group("labels")
        self.icv = self.row_dataset("scans/icv_ml", (rows,))
        self.metrics = {m: self.row_dataset("metrics/" + m, (rows, regions)) for m in METRICS}

    def row_dataset(self, name, shape):
        """neurocohort's row datasets: float64 filled with NaN, extendable along the scan axis, chunks of up to
        1024 rows."""
        chunks = (min(max(shape[0], 1), 1024),) + tuple(max(n, 1) for n in shape[1:])
        return self.file.create_dataset(name, shape, dtype=np.float64, maxshape=(None,) + shape[1:], chunks=chunks,
                                        fillvalue=np.nan)

    def write(self, row, scan_id, icv_ml, metrics, labels, grid, spacing):
        """neurocohort's order: label map, every metric's row (NaN where not measured), ICV, then a flush."""
        self.write_labels(scan_id, labels, grid, spacing)
        for name, dataset in self.metrics.items():
            dataset[row] = metrics.get(name, np.full(dataset.shape[1], np.nan))
        self.icv[row] = icv_ml
        self.file.flush()

    def write_labels(self, scan_id, labels, grid, spacing):
        """/labels/<scan_id> as neurocohort stores it: [k, j, i] (its memory order), uint8 when every label fits
        and uint16 otherwise, 64³ chunks, shuffle + gzip 4, the native grid's spacing, origin and row-major
        direction (LPS) as attributes."""
        dtype = np.uint8 if labels.max() < 256 else np.uint16
        data = np.ascontiguousarray(labels.transpose(2, 1, 0), dtype=dtype)
        dataset = self.file.create_dataset("labels/" + scan_id, data=data, chunks=tuple(min(n, 64) for n in data.shape),
                                           shuffle=True, compression="gzip", compression_opts=4)
        dataset.attrs["spacing"] = np.asarray(spacing, dtype=np.float64)
        dataset.attrs["origin"] = grid.origin
        dataset.attrs["direction"] = (grid.matrix / grid.spacing).ravel()

    def close(self):
        self.file.close()


# --- the cohort ---------------------------------------------------------------------------------

def read_manifest(path):
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        row["image"] = os.path.join(folder, row["image"])
        row["labels"] = os.path.join(folder, row["labels"]) if row.get("labels") else None
    return rows


@dataclass
class NativeScan:
    image: np.ndarray
    grid: Grid
    spacing: np.ndarray  # the header's pixdim, where ITK takes the spacing from
    truth: np.ndarray  # None without ground truth


def header_spacing(image):
    """The voxel spacing neurocohort (ITK) measures with: pixdim. On oblique scans the affine's column lengths
    differ from it by float32 rounding (1e-8 relative on the demo cohort's tilted CT)."""
    return np.array(image.header.get_zooms()[:3], dtype=np.float64)


def read_truth(path, image):
    """The expert labels on the scan's grid. Labels drawn on the scan share its grid; anything else is brought
    onto it."""
    labels = nib.load(path)
    truth = np.asarray(labels.dataobj).astype(np.uint16)
    if truth.shape != image.shape[:3] or not np.allclose(labels.affine, image.affine, atol=1e-4):
        truth = resample(truth, nifti_grid(labels), nifti_grid(image), order=0, outside=0)
    return truth


def read_scan(scan):
    image = nib.load(scan["image"])
    native = image.get_fdata(dtype=np.float32)
    truth = read_truth(scan["labels"], image) if scan["labels"] else None
    return NativeScan(native, nifti_grid(image), header_spacing(image), truth)


def process(scan, row, model, results, morphology, equalizer):
    """One scan through the five stages; returns its stage seconds, ICV and Dice."""
    seconds = {}
    clock = time.perf_counter()

    def lap(stage):
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    native = read_scan(scan)
    lap("read")
    pre = preprocess(native.image, native.grid, scan["modality"].upper() == "CT", morphology, equalizer)
    lap("preprocess")
    labels = resample(segment(model, pre), pre.grid, native.grid, order=0, outside=0)
    lap("infer")
    metrics = measure(labels, native.truth, model.label_ids, native.spacing)
    lap("measure")
    results.write(row, scan["scan_id"], pre.icv_ml, metrics, labels, native.grid, native.spacing)
    lap("write")
    dice = metrics.get("dice")
    return {"scan_id": scan["scan_id"], "modality": scan["modality"], "seconds": seconds, "icv_ml": pre.icv_ml,
            "dice": None if dice is None else [None if math.isnan(d) else float(d) for d in dice]}


def timings_json(per_scan, wall_seconds, model, configuration):
    n = len(per_scan)
    return {"scans": n, "scans_timed": n, "wall_seconds": wall_seconds,
            "scans_per_minute": 60.0 * n / wall_seconds if wall_seconds > 0 else 0.0,
            "stage_seconds_per_scan": {s: sum(p["seconds"][s] for p in per_scan) / n if n else 0.0 for s in STAGES},
            "configuration": configuration, "regions": model.names, "per_scan": per_scan}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--out", required=True, help="results file (HDF5)")
    parser.add_argument("--timings", required=True, help="throughput JSON, neurocohort's shape plus per-scan Dice")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="TorchScript model with embedded metadata.json")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--morphology", choices=("ball", "edt"), default="ball",
                        help="ball: scipy binary morphology with ball structuring elements (the studies' way); "
                             "edt: the same masks from thresholded distance transforms")
    parser.add_argument("--equalizer", choices=tuple(EQUALIZERS), default="clahe",
                        help="clahe: skimage's equalize_adapthist (the studies' way); "
                             "ahe: neurocohort's ITK-style AHE ported to numpy (same network input, same Dice)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    scans = read_manifest(args.manifest)
    model = load_model(args.model)
    results = ResultsFile(args.out, scans, model)
    start = time.perf_counter()
    per_scan = []
    for row, scan in enumerate(scans):
        per_scan.append(process(scan, row, model, results, args.morphology, args.equalizer))
        print(f"{scan['scan_id']}: " + ", ".join(f"{s} {t:.2f} s" for s, t in per_scan[-1]["seconds"].items()),
              flush=True)
    wall = time.perf_counter() - start
    results.close()
    with open(args.timings, "w") as f:
        configuration = {"threads": args.threads, "morphology": args.morphology, "equalizer": args.equalizer,
                         "model": os.path.abspath(args.model)}
        json.dump(timings_json(per_scan, wall, model, configuration), f, indent=2)


if __name__ == "__main__":
    main()
