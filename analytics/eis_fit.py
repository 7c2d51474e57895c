"""EIS: equivalent-circuit fit of every impedance spectrum, interface resistance and ionic conductivity (Eq. 3).

Circuit (impedance.py notation) ``R0-p(R1,CPE1)-p(R2,CPE2)-W1``: bulk resistance R0 in series with two R||CPE arcs
and a semi-infinite Warburg W1 (the seed's Fig. S17 shape: bulk, interface, charge transfer, diffusion). The arcs are
ordered by time constant tau = (R Q)^(1/alpha): arc 1, the higher-frequency (mid-frequency in the seed's Nyquist
plots) is the interface, r_interface_ohm = R1; arc 2 is charge transfer, r_ct_ohm = R2.

Method (METHOD_VERSION eis-2):
1. Points with Z_imag > 0 (inductive: cables, high-frequency tail) are left out; fewer remaining points than circuit
   parameters (8) -> the fit is refused with that reason.
2. Global start: bounded least squares (modulus-weighted complex residual) in log10 space for R, Q and A_W, linear
   for alpha in [0.4, 1], from a data-based start plus 6 quasi-random starts (fixed seed: reproducible) inside
   bounds scaled to the spectrum's |Z|; the best is kept.
3. Polish with impedance.py (``CustomCircuit.fit``, same bounds, weight_by_modulus) for values and one-sigma errors
   (curve_fit covariance); if impedance.py fails or is worse, the global result stands with Jacobian errors.
4. sigma_s_cm = L / (R0 S) (Eq. 3) when the membrane thickness L and the area S are known (options, or the cell's
   ``membrane_thickness_um`` in cells.csv extra columns and ``electrode_area_cm2``).
5. The fitted circuit's impedance on CURVE_POINTS log-spaced frequencies across the fitted points is stored
   (eis_fit_points), so a chart draws the fit without evaluating circuits itself.
"""
from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
from scipy.optimize import least_squares
from scipy.stats import qmc

from lake.errors import InputError

from . import common
from .runner import Unit

QUANTITY = "eis"
METHOD_VERSION = "eis-2"                # 2: also stores the fitted curve (eis_fit_points)
TABLES = ("eis_fits_history", "eis_results_history", "eis_fit_points_history")
CURVE_POINTS = 120
CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)-W1"
NAMES = ("R0", "R1", "CPE1_0", "CPE1_1", "R2", "CPE2_0", "CPE2_1", "W1")
ROLES = ("r_bulk", "r_interface", "q_interface", "alpha_interface", "r_ct", "q_ct", "alpha_ct", "warburg")
UNITS = ("ohm", "ohm", "ohm^-1 s^a", "", "ohm", "ohm^-1 s^a", "", "ohm s^-0.5")
LOG = np.array([True, True, True, False, True, True, False, True])
N_STARTS, SEED = 6, 20230905
SWAP = [0, 4, 5, 6, 1, 2, 3, 7]


def model(p: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Impedance of the circuit at frequencies f (the same function impedance.py builds from CIRCUIT)."""
    r0, r1, q1, a1, r2, q2, a2, aw = p
    jw = 1j * 2 * np.pi * f
    return (r0 + 1 / (1 / r1 + q1 * jw ** a1) + 1 / (1 / r2 + q2 * jw ** a2)
            + aw * (1 - 1j) / np.sqrt(2 * np.pi * f))


def bounds(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = float(np.max(np.abs(z)))
    lo = np.array([scale * 1e-7, scale * 1e-6, 1e-13, 0.4, scale * 1e-6, 1e-13, 0.4, scale * 1e-7])
    hi = np.array([scale * 2, scale * 20, 1e2, 1.0, scale * 20, 1e2, 1.0, scale * 1e3])
    return lo, hi


def _to_x(p):
    return np.where(LOG, np.log10(np.maximum(p, 1e-300)), p)


def _to_p(x):
    return np.where(LOG, 10.0 ** x, x)


def _order(p: np.ndarray) -> np.ndarray:
    """Arc 1 = the shorter time constant (higher frequency)."""
    tau = [(p[1] * p[2]) ** (1 / p[3]), (p[4] * p[5]) ** (1 / p[6])]
    return p if tau[0] <= tau[1] else p[SWAP]


def _start(f: np.ndarray, z: np.ndarray) -> np.ndarray:
    r0 = max(float(np.min(z.real)), 1e-6 * float(np.max(np.abs(z))))
    span = max(float(np.ptp(z.real)), 1e-3 * float(np.max(np.abs(z))))
    return np.array([r0, span / 3, 1e-6, 0.85, span / 3, 1e-3, 0.85, span / 10])


def fit(frequency_hz, z_real_ohm, z_imag_ohm) -> dict:
    """Fit CIRCUIT to one spectrum; returns values, stderr, residual and the number of points used."""
    f = np.asarray(frequency_hz, float)
    z = np.asarray(z_real_ohm, float) + 1j * np.asarray(z_imag_ohm, float)
    keep = np.isfinite(f) & (f > 0) & np.isfinite(z) & (z.imag <= 0)
    if keep.sum() < len(NAMES):
        raise InputError(f"EIS fit refused: {int(keep.sum())} capacitive points (Z_imag <= 0) for a circuit of "
                         f"{len(NAMES)} parameters ({CIRCUIT}).", expected=f">= {len(NAMES)} points",
                         found=f"{int(keep.sum())} of {f.size}")
    f, z = f[keep], z[keep]
    lo, hi = bounds(z)
    xlo, xhi = _to_x(lo), _to_x(hi)

    def residual(x):
        d = (model(_to_p(x), f) - z) / np.abs(z)
        return np.concatenate([d.real, d.imag])

    starts = [np.clip(_to_x(_start(f, z)), xlo, xhi)]
    starts += list(qmc.scale(qmc.Sobol(len(NAMES), seed=SEED).random(16)[:N_STARTS], xlo, xhi))
    best = None
    for x0 in starts:
        with np.errstate(all="ignore"):
            res = least_squares(residual, x0, bounds=(xlo, xhi), method="trf", max_nfev=400, x_scale="jac")
        if best is None or res.cost < best.cost:
            best = res
    p = _order(_to_p(best.x))
    p, err = _polish(f, z, p, lo, hi)
    zfit = model(p, f)
    return {"values": p, "stderr": err, "n_points_used": int(f.size), "f_range_hz": (float(f.min()), float(f.max())),
            "residual_rms_ohm": float(np.sqrt(np.mean(np.abs(zfit - z) ** 2))),
            "residual_rel_frac": float(np.sqrt(np.mean(np.abs((zfit - z) / z) ** 2)))}


def _polish(f, z, p, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """impedance.py's bounded fit from the global start; the global result when impedance.py fails or is worse."""
    from impedance.models.circuits import CustomCircuit

    def cost(q):
        return float(np.sum(np.abs((model(q, f) - z) / z) ** 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            circuit = CustomCircuit(CIRCUIT, initial_guess=list(np.clip(p, lo * 1.0000001, hi * 0.9999999)))
            circuit.fit(f, z, bounds=(list(lo), list(hi)), weight_by_modulus=True, maxfev=20000)
        q, err = np.asarray(circuit.parameters_, float), np.asarray(circuit.conf_, float)
        if np.all(np.isfinite(q)) and cost(q) <= cost(p) * (1 + 1e-9):
            ordered = _order(q)
            return ordered, (err if ordered is q else err[SWAP])
    except Exception:  # impedance.py raises RuntimeError / ValueError / LinAlgError on hard spectra
        pass
    return p, _jacobian_err(f, z, p)


def _jacobian_err(f, z, p) -> np.ndarray:
    """One-sigma errors from the numerical Jacobian of the weighted residual (linear parameters)."""
    def r(q):
        d = (model(q, f) - z) / np.abs(z)
        return np.concatenate([d.real, d.imag])
    r0, jac = r(p), np.empty((2 * f.size, p.size))
    for k in range(p.size):
        h = p.copy()
        h[k] += max(abs(p[k]) * 1e-6, 1e-12)
        jac[:, k] = (r(h) - r0) / (h[k] - p[k])
    dof = max(r0.size - p.size, 1)
    cov = np.linalg.pinv(jac.T @ jac) * float(r0 @ r0) / dof
    return np.sqrt(np.clip(np.diag(cov), 0, None))


def conductivity_s_cm(r_ohm: float | None, thickness_cm: float | None, area_cm2: float | None) -> float | None:
    """Eq. 3: sigma = L / (R S), in S/cm."""
    if not (r_ohm and thickness_cm and area_cm2) or r_ohm <= 0:
        return None
    return thickness_cm / (r_ohm * area_cm2)


def result_rows(spectrum: dict, fitted: dict, area_cm2: float | None, thickness_cm: float | None):
    """(eis_fits rows, eis_results row) of one fitted spectrum."""
    p, err = fitted["values"], fitted["stderr"]
    base = {"spectrum_id": spectrum["spectrum_id"], "cell_id": spectrum.get("cell_id"), "circuit": CIRCUIT}
    params = [{**base, "parameter": n, "role": role, "value": float(v), "stderr": float(e), "unit": u,
               "residual_rms_ohm": fitted["residual_rms_ohm"]}
              for n, role, v, e, u in zip(NAMES, ROLES, p, err, UNITS)]
    result = {**base, "voltage_v": spectrum.get("voltage_v"), "n_points_used": fitted["n_points_used"],
              "r_bulk_ohm": float(p[0]), "r_interface_ohm": float(p[1]), "r_ct_ohm": float(p[4]),
              "r_interface_ohm_cm2": float(p[1]) * area_cm2 if area_cm2 else None,
              "r_ct_ohm_cm2": float(p[4]) * area_cm2 if area_cm2 else None, "warburg_ohm_s05": float(p[7]),
              "residual_rms_ohm": fitted["residual_rms_ohm"], "residual_rel_frac": fitted["residual_rel_frac"],
              "area_cm2": area_cm2, "thickness_cm": thickness_cm,
              "sigma_s_cm": conductivity_s_cm(float(p[0]), thickness_cm, area_cm2)}
    return pa.Table.from_pylist(params), pa.Table.from_pylist([result])


def curve_rows(spectrum: dict, fitted: dict, n: int = CURVE_POINTS) -> pa.Table:
    """eis_fit_points rows: the fitted circuit's impedance on ``n`` log-spaced frequencies, highest first."""
    f_min, f_max = fitted["f_range_hz"]
    f = np.logspace(np.log10(f_max), np.log10(f_min), n)
    with np.errstate(all="ignore"):
        z = model(np.asarray(fitted["values"], float), f)
    return pa.table({"spectrum_id": [spectrum["spectrum_id"]] * n, "cell_id": [spectrum.get("cell_id")] * n,
                     "point_index": pa.array(np.arange(n), pa.int64()), "frequency_hz": f,
                     "z_real_ohm": z.real, "z_imag_ohm": z.imag})


def plan(read, options: dict) -> list[Unit]:
    cells = common.cells(read)
    units = []
    for spectrum in read("SELECT * FROM eis_spectra ORDER BY spectrum_id").to_pylist():
        cell = cells.get(spectrum["cell_id"], {})
        area = common.number(options.get("area_cm2")) or common.number(cell.get("electrode_area_cm2"))
        um = common.number(options.get("thickness_um")) or common.number(
            cell.get("extra", {}).get("membrane_thickness_um"))
        thickness = um * 1e-4 if um else None
        units.append(Unit(spectrum["spectrum_id"], common.fingerprint(spectrum["n_points"], area, thickness),
                          _compute(read, spectrum, area, thickness)))
    return units


def _compute(read, spectrum: dict, area, thickness):
    def compute() -> dict[str, pa.Table]:
        pts = read("SELECT frequency_hz, z_real_ohm, z_imag_ohm FROM eis_points WHERE spectrum_id = ? "
                   "ORDER BY frequency_hz DESC", [spectrum["spectrum_id"]])
        try:
            fitted = fit(pts["frequency_hz"].to_numpy(), pts["z_real_ohm"].to_numpy(), pts["z_imag_ohm"].to_numpy())
        except InputError as exc:
            raise InputError(f"spectrum {spectrum['spectrum_id']} (cell {spectrum.get('cell_id')}): {exc}") from exc
        params, result = result_rows(spectrum, fitted, area, thickness)
        return {"eis_fits_history": params, "eis_results_history": result,
                "eis_fit_points_history": curve_rows(spectrum, fitted)}
    return compute
