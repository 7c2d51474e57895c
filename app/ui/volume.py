"""Label volumes for the Microstructure page's slice viewer, one slice at a time."""
from __future__ import annotations

from pathlib import Path

import numpy as np


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
