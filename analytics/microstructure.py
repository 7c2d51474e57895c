"""Microstructure beyond the ingest metrics: per-particle binder contact and phase percolation of a label volume.

Method (METHOD_VERSION micro-1), on a 3-phase volume (pore / NCM / binder), face (6-) connectivity throughout:
- Particles: the NCM phase split at necks: markers at the local maxima of the smoothed taxicab distance map
  (>= MARKER_MIN_VOXELS deep, one per 13^3 window; a cluster without one is a particle of its own), grown through
  the NCM one face-step per round (geodesic Voronoi, ties to the larger label; a watershed without its plateau and
  flooding artefacts).
  Plain connected components would merge a calendered electrode's NCM into one cluster (electrode.tiff: 96 % of
  the NCM is one component).
- Per particle: faces touching binder, pore and another particle; contact_frac = binder / (binder + pore) faces, the
  seed's active surface share (the same face counting as the ingest reader's active_area_frac, which the
  face-weighted mean of the particles reproduces exactly). Distribution statistics use particles of >= 27 voxels.
- Percolation (taufactor's definition): the share of a phase's volume in connected clusters touching both faces
  of the box along an axis; z = axis 0 (TIFF pages), which taufactor calls x.
The volume is held in memory (about 14 bytes per voxel at the peak); MAX_VOXELS guards against a huge stack.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import ndimage as ndi

from ingest.pipeline import identity
from ingest.readers.tomography import read_phases
from lake.errors import InputError

from . import common
from .runner import Unit

QUANTITY = "microstructure"
METHOD_VERSION = "micro-1"
TABLES = ("particle_contacts_history", "microstructure_stats_history")
PORE, NCM, BINDER = 0, 1, 2
SMOOTH_SIGMA, MARKER_WINDOW, MARKER_MIN_VOXELS, MIN_PARTICLE_VOXELS = 1.5, 13, 4, 27
MAX_VOXELS = 400_000_000


def load_phases(path: Path, voxel_size_m: float | None = None, labels: dict | None = None) -> tuple[np.ndarray, float]:
    """(phase volume with 0 pore / 1 NCM / 2 binder, voxel size in m) of a label TIFF (options as the reader's)."""
    return read_phases(path, voxel_size_m, labels, MAX_VOXELS)


def particles(phase: np.ndarray) -> tuple[np.ndarray, int]:
    """Label NCM particles (1..n, 0 elsewhere): markers at the maxima of the smoothed distance map, grown through
    the NCM phase one face-step at a time (a geodesic Voronoi split; ties go to the larger label)."""
    ncm = phase == NCM
    dist = ndi.gaussian_filter(ndi.distance_transform_cdt(ncm, metric="taxicab").astype(np.float32), SMOOTH_SIGMA)
    peaks = (dist == ndi.maximum_filter(dist, size=MARKER_WINDOW)) & ncm & (dist >= MARKER_MIN_VOXELS)
    markers, n = ndi.label(peaks)
    comp, n_comp = ndi.label(ncm)
    has = np.zeros(n_comp + 1, dtype=bool)
    has[np.unique(comp[peaks])] = True
    orphan = ncm & ~has[comp]                    # NCM clusters too thin for a marker: one particle each
    extra, m = ndi.label(orphan)
    markers[orphan] = n + extra[orphan]
    del dist, peaks, comp, extra
    labels = np.pad(markers.astype(np.int32), 1)   # a zero rim: neighbours never wrap around
    flat = labels.ravel()
    todo = np.flatnonzero(np.pad(ncm, 1).ravel() & (flat == 0))
    zy, y = labels.shape[1] * labels.shape[2], labels.shape[2]
    offsets = (1, -1, y, -y, zy, -zy)
    while todo.size:
        grown = flat[todo + offsets[0]]
        for off in offsets[1:]:
            np.maximum(grown, flat[todo + off], out=grown)
        fill = grown > 0
        if not fill.any():
            break
        flat[todo[fill]] = grown[fill]
        todo = todo[~fill]
    return labels[1:-1, 1:-1, 1:-1].copy(), n + m


def _faces(labels: np.ndarray, phase: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per particle (index 0..n): faces touching binder, pore and another particle."""
    out = {k: np.zeros(n + 1, np.int64) for k in ("binder", "pore", "particle")}
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        la, lb, pa_, pb = labels[tuple(a)], labels[tuple(b)], phase[tuple(a)], phase[tuple(b)]
        for mine, theirs, other in ((la, lb, pb), (lb, la, pa_)):
            own = mine > 0
            out["binder"] += np.bincount(mine[own & (other == BINDER)], minlength=n + 1)
            out["pore"] += np.bincount(mine[own & (other == PORE)], minlength=n + 1)
            out["particle"] += np.bincount(mine[own & (theirs > 0) & (theirs != mine)], minlength=n + 1)
    return out


def percolating_frac(mask: np.ndarray, axes=(0, 1, 2)) -> list[float]:
    """Per axis, the share of the phase's volume in face-connected clusters touching both box faces."""
    labels, _ = ndi.label(mask)
    sizes = np.bincount(labels.ravel())
    total = int(sizes[1:].sum())
    out = []
    for axis in axes:
        both = np.intersect1d(np.unique(np.take(labels, 0, axis=axis)), np.unique(np.take(labels, -1, axis=axis)))
        both = both[both > 0]
        out.append(float(sizes[both].sum() / total) if total else float("nan"))
    return out


def analyse(phase: np.ndarray, voxel_size_m: float) -> tuple[pa.Table, dict]:
    """(particle_contacts rows, microstructure_stats row) of one phase volume."""
    labels, n = particles(phase)
    faces = _faces(labels, phase, n)
    volume = np.bincount(labels.ravel(), minlength=n + 1)
    edge = set()
    for axis in range(3):
        for end in (0, -1):
            edge |= set(np.unique(np.take(labels, end, axis=axis)).tolist())
    ids = np.flatnonzero(volume[1:]) + 1
    surface = faces["binder"][ids] + faces["pore"][ids]
    with np.errstate(invalid="ignore", divide="ignore"):
        contact = np.where(surface > 0, faces["binder"][ids] / surface, np.nan)
    vol_m3 = volume[ids] * voxel_size_m ** 3
    table = pa.table({"particle_id": pa.array(ids, pa.int64()), "volume_m3": pa.array(vol_m3),
                      "equivalent_diameter_m": pa.array((6 * vol_m3 / np.pi) ** (1 / 3)),
                      "binder_faces": pa.array(faces["binder"][ids]), "pore_faces": pa.array(faces["pore"][ids]),
                      "particle_faces": pa.array(faces["particle"][ids]),
                      "contact_frac": pa.array(contact, from_pandas=True),
                      "touches_boundary": pa.array([int(i) in edge for i in ids])})
    keep = (volume[ids] >= MIN_PARTICLE_VOXELS) & np.isfinite(contact)
    c = contact[keep] if keep.any() else np.array([np.nan])
    stats = {"n_particles": int(ids.size), "contact_frac_mean": float(np.mean(c)),
             "contact_frac_p10": float(np.percentile(c, 10)), "contact_frac_median": float(np.median(c)),
             "contact_frac_p90": float(np.percentile(c, 90)), "poorly_contacted_frac": float(np.mean(c < 0.5)),
             **dict(zip(("pore_percolating_frac_z", "pore_percolating_frac_y", "pore_percolating_frac_x"),
                        percolating_frac(phase == PORE))),
             "ncm_percolating_frac_z": percolating_frac(phase == NCM, (0,))[0],
             "binder_percolating_frac_z": percolating_frac(phase == BINDER, (0,))[0]}
    return table, stats


def plan(read, options: dict) -> list[Unit]:
    rows = read("SELECT s.sha256, s.original_path, s.meta_json, m.cell_id FROM sources s JOIN microstructure m "
                "ON m.source_sha256 = s.sha256 WHERE s.status = 'ingested' AND s.format = 'label_tiff' "
                "ORDER BY s.sha256").to_pylist()
    return [Unit(r["sha256"], common.fingerprint(r["sha256"]), _compute(r)) for r in rows]


def _compute(row: dict):
    def compute() -> dict[str, pa.Table]:
        path = Path(row["original_path"] or "")
        if not path.is_file() or identity(path) != row["sha256"]:          # the volume and its sidecar
            raise InputError("the label volume is no longer at its ingest path (or its content changed); the lake "
                             "keeps its metrics, not the volume.", file=str(path), expected=f"sha256 {row['sha256']}")
        meta = json.loads(row["meta_json"] or "{}")
        phase, voxel = load_phases(path, meta.get("voxel_size_m"), meta.get("labels"))
        table, stats = analyse(phase, voxel)
        cell = {"cell_id": row["cell_id"], "source_sha256": row["sha256"]}
        n = table.num_rows
        for key, value in cell.items():
            table = table.append_column(key, pa.array([value] * n, pa.string()))
        return {"particle_contacts_history": table, "microstructure_stats_history": pa.Table.from_pylist(
            [{**cell, **stats}])}
    return compute
