"""Runs skimage.exposure.equalize_adapthist (Debian's python3-skimage) on a raw volume.

usage: skimage_clahe.py IN.raw OUT.raw NX NY NZ KERNEL CLIP NBINS
IN.raw holds float32 voxels i fastest (numpy shape (NZ, NY, NX)); KERNEL 0 means skimage's
default. The image is first scaled to [0, 1], as neurocohort's clahe() does. OUT.raw gets the
float32 result in the same layout.
"""
import sys

import numpy as np
from skimage.exposure import equalize_adapthist


def main(src, dst, nx, ny, nz, kernel, clip, nbins):
    image = np.fromfile(src, dtype=np.float32).reshape(int(nz), int(ny), int(nx)).astype(np.float64)
    image = (image - image.min()) / (image.max() - image.min())
    kernel_size = None if int(kernel) == 0 else int(kernel)
    out = equalize_adapthist(image, kernel_size=kernel_size, clip_limit=float(clip), nbins=int(nbins))
    out.astype(np.float32).tofile(dst)


if __name__ == "__main__":
    main(*sys.argv[1:])
