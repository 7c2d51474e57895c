"""Label volumes for the Microstructure page: one slice at a time, and per-particle contact fractions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_CONTACT_VOXELS = 96 ** 3          # per-particle contacts are counted on a central box of at most this size


def open_volume(path: Path):
    """(shape_zyx, get_slice(z)) for a label TIFF stack, reading one page at a time."""
    import tifffile
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        shape = tuple(int(n) for n in series.shape if n != 1)
    if len(shape) != 3:
        raise ValueError(f"{path} is not a 3-D label stack (shape {shape})")

    def get(z: int) -> np.ndarray:
        return tifffile.imread(path, key=int(z)).reshape(shape[1:])
    return shape, get


def central_box(path: Path, max_voxels: int = MAX_CONTACT_VOXELS) -> np.ndarray:
    """The central sub-volume (whole volume when small enough)."""
    shape, get = open_volume(path)
    edge = max(8, int(round(max_voxels ** (1 / 3))))
    lo = [max(0, (n - edge) // 2) for n in shape]
    hi = [min(n, lo[i] + edge) for i, n in enumerate(shape)]
    return np.stack([get(z)[lo[1]:hi[1], lo[2]:hi[2]] for z in range(lo[0], hi[0])])


def particle_contacts(volume: np.ndarray, labels: dict[str, int]) -> np.ndarray:
    """Per connected NCM particle: faces touching binder / faces touching binder or pore (NaN-free, surfaced only)."""
    from scipy import ndimage
    ncm = volume == labels["ncm"]
    particles, n = ndimage.label(ncm)
    if n == 0:
        return np.zeros(0)
    binder_faces = np.zeros(n + 1, np.int64)
    open_faces = np.zeros(n + 1, np.int64)
    for axis in range(3):
        a = np.moveaxis(volume, axis, 0)
        p = np.moveaxis(particles, axis, 0)
        for neighbour, owner in ((a[1:], p[:-1]), (a[:-1], p[1:])):     # both faces of every voxel pair
            is_ncm = owner > 0
            to_binder = is_ncm & (neighbour == labels["binder"])
            to_pore = is_ncm & (neighbour == labels["pore"])
            binder_faces += np.bincount(owner[to_binder], minlength=n + 1)
            open_faces += np.bincount(owner[to_binder | to_pore], minlength=n + 1)
    surfaced = open_faces[1:] > 0
    return binder_faces[1:][surfaced] / open_faces[1:][surfaced]
