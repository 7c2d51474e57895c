"""The virtual lab's other instruments: in-situ EIS during the first charge and a segmented tomography volume,
written as the files a lab's instruments write (an EC-Lab PEIS text export, a 3-phase label TIFF stack) so the demo's
EIS and microstructure data flow through the same readers as a lab's.

Like the virtual lab, a model of the seed's mechanism (An et al. 2023), not a validated physical model:
- EIS: the seed's circuit R0-p(R1,CPE1)-p(R2,CPE2)-W1 (Fig. S17), impedances computed by impedance.py. R1 is the
  virtual lab's interfacial resistance R0_int/a0 at the start of charge; above 3.8 V it grows in poorly contacted
  electrodes (a0 < 0.8, the cells with the 3.8 V plateau) and stays flat otherwise (the seed's Fig. 3f, S19).
- Tomography: NCM spheres (10-20 um diameter, the seed's particles) in a conductive binder; pores fill the cell's
  porosity, a share (1 - a0) of them on the NCM surface, so the volume's active-area fraction follows a0 (the
  seed's active surface: NCM touching binder; inactive: NCM facing pores).
Everything is seeded: the same cell and seed write byte-identical files.
"""
from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from virtual_lab.lab import ELECTRODE_AREA_CM2, PLATEAU_V, R0_OHM_CM2, CellResult

EIS_CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)-W1"
EIS_VOLTAGES_V = (3.6, 3.7, 3.8, 3.9, 4.0, 4.1, 4.2)
EIS_FREQUENCIES_HZ = np.logspace(5, -1, 37)          # 100 kHz -> 0.1 Hz, 6 per decade, as EC-Lab sweeps
BULK_OHM_CM2, CT_OHM_CM2 = 8.0, 15.0                  # membrane and charge-transfer resistance
INTERFACE_GROWTH_PER_V = 15.0                         # dR1/R1 per volt above 3.8 V per unit of (0.8 - a0)
LABELS = {"pore": 0, "ncm": 85, "binder": 170}
VOXEL_SIZE_M = 1.0e-6
NCM_VOLUME_FRAC = 0.45            # NCM : binder : CNT = 80 : 15 : 5 by mass (the seed's) is about half the solids
MAX_OVERLAP_FRAC = 0.15          # a new particle may share this much of its volume with those already placed
VOLUME_SHAPE = (48, 128, 128)    # voxels (z, y, x) of 1 um


def interface_ohm(result: CellResult, voltage_v: float) -> float:
    """Interfacial resistance (ohm) at a first-charge voltage."""
    a0 = result.active_area_frac
    growth = 1.0 + INTERFACE_GROWTH_PER_V * max(0.0, 0.8 - a0) * max(0.0, voltage_v - PLATEAU_V)
    return R0_OHM_CM2 / a0 * growth / ELECTRODE_AREA_CM2


def eis_spectrum(result: CellResult, voltage_v: float, seed: int = 0) -> np.ndarray:
    """Complex impedance (ohm) at EIS_FREQUENCIES_HZ, with 0.5 % complex read-out noise."""
    from impedance.models.circuits import CustomCircuit
    params = [BULK_OHM_CM2 / ELECTRODE_AREA_CM2, interface_ohm(result, voltage_v), 2e-6, 0.9,
              CT_OHM_CM2 / ELECTRODE_AREA_CM2, 5e-3, 0.8, 8.0]
    with warnings.catch_warnings():       # impedance.py warns whenever it simulates from given parameters
        warnings.simplefilter("ignore", UserWarning)
        z = CustomCircuit(EIS_CIRCUIT, initial_guess=params).predict(EIS_FREQUENCIES_HZ)
    rng = np.random.default_rng([seed, round(voltage_v * 1000)])
    return z * (1 + 0.005 * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size)))


def write_peis_mpt(result: CellResult, path: Path, *, voltages=EIS_VOLTAGES_V, seed: int = 0,
                   started: dt.datetime = dt.datetime(2023, 5, 2, 10, 0, 0)) -> Path:
    """One EC-Lab PEIS text export holding a spectrum per voltage step of the first charge (cycle number = step)."""
    columns = ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "|Z|/Ohm", "Phase(Z)/deg", "time/s", "<Ewe>/V",
               "cycle number")
    header = ["EC-Lab ASCII FILE", "", "", "Potentio Electrochemical Impedance Spectroscopy", "",
              f"Acquisition started on : {started:%m/%d/%Y %H:%M:%S}.000", "Device : virtual lab (cathode-lake)",
              "Comments : in-situ EIS during the first charge, written by cathode-lake's virtual lab", "",
              "\t".join(columns)]
    header[1] = f"Nb header lines : {len(header)}"
    rows, t = [], 0.0
    for step, voltage in enumerate(voltages, start=1):
        z = eis_spectrum(result, voltage, seed)
        for f, zi in zip(EIS_FREQUENCIES_HZ, z):
            t += 2.0 + 1.0 / f
            rows.append((f, zi.real, -zi.imag, abs(zi), np.degrees(np.angle(zi)), t, voltage, float(step)))
        t += 3600.0                              # charging to the next voltage step
    with open(path, "w", newline="", encoding="cp1252") as handle:
        handle.write("\n".join(header) + "\n")
        handle.writelines("\t".join(f"{v:.7E}" for v in row) + "\n" for row in rows)
    return Path(path)


def label_volume(result: CellResult, shape=VOLUME_SHAPE, seed: int = 0) -> np.ndarray:
    """A 3-phase label volume (uint8: LABELS) with the cell's porosity and a contact that falls with a0."""
    rng = np.random.default_rng(seed)
    is_ncm = np.zeros(shape, dtype=bool)
    target, tries = NCM_VOLUME_FRAC * is_ncm.size, 0
    while is_ncm.sum() < target and tries < 20_000:   # random sequential spheres, 10-20 um, overlapping little
        tries += 1
        centre, radius = rng.uniform(0, shape), rng.uniform(5.0, 10.0) * 1e-6 / VOXEL_SIZE_M
        lo = np.maximum(np.floor(centre - radius).astype(int), 0)
        hi = np.minimum(np.ceil(centre + radius).astype(int) + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        grid = np.ogrid[box]
        ball = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius ** 2
        if ball.any() and is_ncm[box][ball].mean() <= MAX_OVERLAP_FRAC:
            is_ncm[box] |= ball
    # Pores: a share (1 - a0) of the binder voxels touching NCM (the inactive surface), the rest of the cell's
    # porosity away from the particles; which voxels, a smooth random field decides.
    rough = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0).ravel()
    touching = ((ndimage.distance_transform_edt(~is_ncm) < 1.01) & ~is_ncm).ravel()
    n_pore = round(result.porosity_frac * is_ncm.size)
    n_touching = min(n_pore, round((1.0 - result.active_area_frac) * touching.sum()))
    volume = np.full(shape, LABELS["binder"], dtype=np.uint8)
    volume[is_ncm] = LABELS["ncm"]
    for pool, n in ((touching, n_touching), (~touching & ~is_ncm.ravel(), n_pore - n_touching)):
        candidates = np.flatnonzero(pool)
        volume.flat[candidates[np.argsort(rough[candidates], kind="stable")[:n]]] = LABELS["pore"]
    return volume


def write_label_tiff(result: CellResult, path: Path, *, shape=VOLUME_SHAPE, seed: int = 0) -> Path:
    """The label stack as a zlib-compressed TIFF (one page per slice) plus its sidecar <file>.json (voxel size,
    labels)."""
    import tifffile
    path = Path(path)
    tifffile.imwrite(path, label_volume(result, shape, seed), photometric="minisblack", metadata=None,
                     compression="zlib")
    sidecar = {"voxel_size_m": VOXEL_SIZE_M, "labels": LABELS}
    path.with_name(path.name + ".json").write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
    return path
