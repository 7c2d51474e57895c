"""Spectroscopy: two-column spectra to the long table, and local state-of-charge ratios per spectrum.

Method (METHOD_VERSION spectro-1):
- Raman E_g/A_1g (seed Fig. 3h; higher = higher local SOC): over 380-680 cm-1, a least-squares fit of a linear
  baseline plus two pseudo-Voigt peaks (E_g near 475, A_1g near 555 cm-1; shared Gauss/Lorentz mix); the ratio is
  the fitted E_g height over the A_1g height, both above the baseline (overlapping tails are modelled, not counted).
- STXM Ni L3 (seed: 1.37 to 0.75 across a Cal particle): intensities at 854.4 eV (Ni4+) and 852.0 eV (Ni3+), each
  the mean over +-0.1 eV of the spectrum linearly interpolated, minus the pre-edge baseline (a straight line fitted
  over 845-850 eV, extrapolated); ratio = I(854.4) / I(852.0).
- A spectrum with fewer than MIN_POINTS points in the window, or not covering it, is refused (InputError).
"""
from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
from scipy.optimize import curve_fit

from lake.errors import InputError

from . import common
from .runner import Unit

QUANTITY = "spectroscopy"
METHOD_VERSION = "spectro-1"
TABLES = ("spectroscopy_ratios_history",)
MIN_POINTS = 20
RAMAN_WINDOW, EG_CM1, A1G_CM1 = (380.0, 680.0), 475.0, 555.0
STXM_PRE_EDGE, NI3_EV, NI4_EV, STXM_HALF_EV = (845.0, 850.0), 852.0, 854.4, 0.1


def _window(x, y, lo, hi, what):
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    inside = (x >= lo) & (x <= hi)
    if inside.sum() < MIN_POINTS or x.min() > lo + 0.1 * (hi - lo) or x.max() < hi - 0.1 * (hi - lo):
        raise InputError(f"{what}: the spectrum does not cover {lo:g}-{hi:g} with enough points.",
                         expected=f">= {MIN_POINTS} points spanning {lo:g}-{hi:g}",
                         found=f"{int(inside.sum())} points, {x.min() if x.size else 'nan'}-"
                               f"{x.max() if x.size else 'nan'}")
    order = np.argsort(x[inside])
    return x[inside][order], y[inside][order]


def _pv(x, height, centre, fwhm, eta):
    g = np.exp(-4 * np.log(2) * ((x - centre) / fwhm) ** 2)
    lor = 1 / (1 + 4 * ((x - centre) / fwhm) ** 2)
    return height * (eta * lor + (1 - eta) * g)


def _raman_model(x, b0, b1, h1, c1, w1, h2, c2, w2, eta):
    return b0 + b1 * (x - 530.0) + _pv(x, h1, c1, w1, eta) + _pv(x, h2, c2, w2, eta)


def raman_eg_a1g(x, y) -> dict:
    """E_g/A_1g peak-height ratio of a Raman spectrum (see the module doc)."""
    x, y = _window(x, y, *RAMAN_WINDOW, "Raman Eg/A1g")
    span = float(np.ptp(y)) or 1.0
    base = float(np.min(y))
    p0 = [base, 0.0, span / 2, EG_CM1, 50, span, A1G_CM1, 50, 0.5]
    lo = [-np.inf, -np.inf, 0, 445, 5, 0, 525, 5, 0]
    hi = [np.inf, np.inf, 10 * span, 505, 150, 10 * span, 590, 150, 1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, _ = curve_fit(_raman_model, x, y, p0=p0, bounds=(lo, hi), maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"Raman Eg/A1g: the two-peak fit did not converge ({exc}).") from exc
    if p[5] <= 0:
        raise InputError("Raman Eg/A1g: no A1g peak near 555 cm-1.", found=f"height {p[5]:.3g}")
    return {"ratio_name": "raman_eg_a1g", "ratio": float(p[2] / p[5]), "numerator_intensity": float(p[2]),
            "denominator_intensity": float(p[5])}


def stxm_ni4_ni3(x, y) -> dict:
    """Ni4+/Ni3+ intensity ratio of a Ni L3-edge STXM spectrum (see the module doc)."""
    x, y = _window(x, y, STXM_PRE_EDGE[0], NI4_EV + 0.6, "STXM Ni4+/Ni3+")
    pre = (x >= STXM_PRE_EDGE[0]) & (x <= STXM_PRE_EDGE[1])
    if pre.sum() < 2:
        raise InputError("STXM Ni4+/Ni3+: too few pre-edge points (845-850 eV) for the baseline.",
                         expected=">= 2", found=int(pre.sum()))
    slope, intercept = np.polyfit(x[pre], y[pre], 1)

    def level(e):
        grid = np.linspace(e - STXM_HALF_EV, e + STXM_HALF_EV, 21)
        return float(np.mean(np.interp(grid, x, y) - (slope * grid + intercept)))
    ni4, ni3 = level(NI4_EV), level(NI3_EV)
    if ni3 <= 0:
        raise InputError("STXM Ni4+/Ni3+: no intensity above the pre-edge at 852.0 eV.", found=ni3)
    return {"ratio_name": "stxm_ni4_ni3", "ratio": ni4 / ni3, "numerator_intensity": ni4, "denominator_intensity": ni3}


METHODS = {"raman": raman_eg_a1g, "stxm": stxm_ni4_ni3}


def plan(read, options: dict) -> list[Unit]:
    rows = read("SELECT spectrum_id, any_value(cell_id) AS cell_id, any_value(technique) AS technique, count(*) AS n, "
                "max(lake_version) AS v FROM spectra_points GROUP BY spectrum_id ORDER BY spectrum_id").to_pylist()
    return [Unit(r["spectrum_id"], common.fingerprint(r["n"], r["v"]), _compute(read, r)) for r in rows]


def _compute(read, spectrum: dict):
    def compute() -> dict[str, pa.Table]:
        method = METHODS.get((spectrum["technique"] or "").lower())
        if method is None:
            raise InputError(f"no ratio method for technique '{spectrum['technique']}'.",
                             expected=" or ".join(METHODS), found=spectrum["technique"])
        pts = read("SELECT x, intensity FROM spectra_points WHERE spectrum_id = ? ORDER BY x",
                   [spectrum["spectrum_id"]])
        try:
            ratio = method(pts["x"].to_numpy(), pts["intensity"].to_numpy())
        except InputError as exc:
            raise InputError(f"spectrum {spectrum['spectrum_id']}: {exc}") from exc
        return {"spectroscopy_ratios_history": pa.Table.from_pylist([{
            "spectrum_id": spectrum["spectrum_id"], "cell_id": spectrum["cell_id"],
            "technique": spectrum["technique"].lower(), **ratio}])}
    return compute
