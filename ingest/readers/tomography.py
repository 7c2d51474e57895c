"""Segmented tomography: a 3-phase label TIFF stack (pore / NCM / binder) -> one ``microstructure`` row.

The volume is read with tifffile slice by slice (memory-mapped when stored uncompressed and contiguous) and
processed in chunks of ``chunk_slices`` z-slices; the last slice of each chunk is carried to count the faces
across the chunk boundary exactly once. Metrics, all on voxel faces (no periodic wrap):
- ``<phase>_frac``: volume fraction; ``porosity_frac`` = ``pore_frac``; ``pore_volume_m3`` = pore voxels × voxel³.
- ``ssa_<phase>_per_m``: faces between the phase and any other phase / total volume (taufactor's face-count
  specific surface area, 1/m).
- ``active_area_frac``: NCM–binder faces / (NCM–binder + NCM–pore faces), the seed paper's active surface
  (NCM in direct contact with the conductive binder) as a share of the NCM surface not touching other NCM.
Options (read options win over a sidecar ``<file>.json`` or ``<stem>.json``): ``voxel_size_m`` and ``labels``
({"pore": 0, "ncm": 85, "binder": 170}); optional ``chunk_slices``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingest.limits import MAX_PAGE_PIXELS, TIFF_MAGICS
from lake.errors import InputError

from . import Reading, register
from .eis import library_version

PHASES = ("pore", "ncm", "binder")
ALIASES = {"pores": "pore", "void": "pore", "nmc": "ncm", "am": "ncm", "cbd": "binder"}
CHUNK_VOXELS = 1 << 25          # default chunk: about 32 M voxels
SIDECAR_HINT = ('a sidecar <file>.json such as {"voxel_size_m": 3.90625e-7, '
                '"labels": {"pore": 0, "ncm": 85, "binder": 170}}')


def _options(path: Path, options: dict) -> tuple[float, dict[str, int], dict]:
    """voxel_size_m and labels from the read options, else from the sidecar JSON; checked."""
    sidecar: dict = {}
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file():
            try:
                sidecar = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"sidecar is not valid JSON ({exc}).", file=str(candidate)) from exc
            except RecursionError:
                raise InputError(f"sidecar is nested too deeply to read; expected {SIDECAR_HINT}.",
                                 file=str(candidate)) from None
            if not isinstance(sidecar, dict):
                raise InputError("sidecar must be a JSON object.", file=str(candidate), found=type(sidecar).__name__)
            break
    merged = {**sidecar, **{k: v for k, v in options.items() if v is not None}}
    for key in ("voxel_size_m", "labels"):
        if key not in merged:
            raise InputError(f"'{key}' is unknown: give the read option {key}=... or {SIDECAR_HINT}.", file=str(path))
    try:
        voxel = float(merged["voxel_size_m"])
    except (TypeError, ValueError):
        voxel = float("nan")
    if not np.isfinite(voxel) or voxel <= 0:
        raise InputError("voxel_size_m must be a length in metres > 0.", file=str(path),
                         expected="e.g. 3.90625e-7", found=merged["voxel_size_m"])
    raw = merged["labels"]
    labels = {ALIASES.get(str(k).lower(), str(k).lower()): v for k, v in raw.items()} if isinstance(raw, dict) else {}
    if sorted(labels) != sorted(PHASES) or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                                   for v in labels.values()) or len(set(labels.values())) != 3:
        raise InputError("labels must map exactly the phases pore, ncm, binder to three distinct integers.",
                         file=str(path), expected='{"pore": 0, "ncm": 85, "binder": 170}', found=raw)
    return voxel, {k: int(labels[k]) for k in PHASES}, merged


def _slice_reader(tif, path: Path):
    """(shape_zyx, get(z0, z1) -> ndarray, warning) without loading the whole volume where avoidable."""
    series = tif.series[0]
    shape = tuple(int(n) for n in series.shape if n != 1)
    if len(shape) != 3:
        raise InputError("not a 3-D label volume (a truncated stack also reads as fewer pages).", file=str(path),
                         expected="a stack of 2-D slices (z, y, x)",
                         found=f"shape {tuple(series.shape)}")
    if series.dtype.kind not in "biu":
        raise InputError("labels must be stored as integers.", file=str(path), expected="an integer TIFF",
                         found=str(series.dtype))
    if series.dataoffset is not None:                   # uncompressed and contiguous: memory map
        mm = np.memmap(path, dtype=series.dtype.newbyteorder(tif.byteorder), mode="r",
                       offset=series.dataoffset, shape=shape)
        return shape, lambda z0, z1: np.asarray(mm[z0:z1]), None
    pages = series.pages
    if len(pages) == shape[0]:                          # one page per slice (compressed stacks)
        return shape, lambda z0, z1: np.stack([pages[i].asarray().reshape(shape[1:]) for i in range(z0, z1)]), None
    MAX_PAGE_PIXELS.check(int(np.prod(shape, dtype=np.int64)), path, "a volume whose TIFF layout is read whole")
    volume = series.asarray().reshape(shape)            # unusual layout: whole volume, once
    return shape, lambda z0, z1: volume[z0:z1], "TIFF layout is not one page per slice; the volume was read whole"


def _pair_faces(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Faces between neighbouring voxels a|b, per unordered phase pair (pore-ncm, pore-binder, ncm-binder)."""
    differ = a != b
    if not differ.any():
        return np.zeros(3, np.int64)
    counts = np.bincount(a[differ] * np.uint8(3) + b[differ], minlength=9)
    return np.array([counts[1] + counts[3], counts[2] + counts[6], counts[5] + counts[7]], np.int64)


def label_metrics(get, shape: tuple[int, int, int], labels: dict[str, int], chunk_slices: int,
                  path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Voxel counts per phase and face counts per phase pair, streaming over z in chunks."""
    voxels, faces = np.zeros(3, np.int64), np.zeros(3, np.int64)
    previous = None
    for z0 in range(0, shape[0], chunk_slices):
        raw = get(z0, min(z0 + chunk_slices, shape[0]))
        phase = np.full(raw.shape, 255, np.uint8)
        for k, name in enumerate(PHASES):
            hit = raw == labels[name]
            phase[hit] = k
            voxels[k] += np.count_nonzero(hit)
        if (phase == 255).any():
            found = np.unique(raw[phase == 255])[:5].tolist()
            raise InputError("the volume holds label values the labels map does not name.", file=str(path),
                             expected=f"only {sorted(labels.values())}", found=found)
        faces += _pair_faces(phase[:, :, :-1], phase[:, :, 1:]) + _pair_faces(phase[:, :-1, :], phase[:, 1:, :])
        faces += _pair_faces(phase[:-1], phase[1:])
        if previous is not None:
            faces += _pair_faces(previous, phase[0])
        previous = phase[-1].copy()
        del raw, phase
    return voxels, faces


def _is_tiff(head: bytes, path: Path) -> bool:
    return head[:4] in TIFF_MAGICS


def read_phases(path: Path, voxel_size_m: float | None = None, labels: dict | None = None,
                max_voxels: int | None = None) -> tuple[np.ndarray, float]:
    """(volume of phase indices 0 pore / 1 NCM / 2 binder (PHASES order), voxel size in m) of a label TIFF, whole in
    memory; voxel size and labels as the reader takes them (options, else the sidecar)."""
    import tifffile
    path = Path(path)
    voxel, labels, _ = _options(path, {"voxel_size_m": voxel_size_m, "labels": labels})
    try:
        with tifffile.TiffFile(path) as tif:
            shape, get, _ = _slice_reader(tif, path)
            if max_voxels and int(np.prod(shape)) > max_voxels:
                raise InputError("the volume is too large to analyse in memory.", file=str(path),
                                 expected=f"<= {max_voxels} voxels", found=f"{shape}")
            raw = get(0, shape[0])
    except InputError:
        raise
    except Exception as exc:  # tifffile errors on truncated or odd files
        raise InputError(f"tifffile could not read the volume ({type(exc).__name__}: {exc}).", file=str(path)) from exc
    phase = np.full(raw.shape, 255, np.uint8)
    for k, name in enumerate(PHASES):
        phase[raw == labels[name]] = k
    if (phase == 255).any():
        raise InputError("the volume holds label values the labels map does not name.", file=str(path),
                         expected=f"only {sorted(labels.values())}", found=np.unique(raw[phase == 255])[:5].tolist())
    return phase, voxel


@register("label_tiff", suffixes=(".tif", ".tiff"), sniff=_is_tiff, library="tifffile",
          description="3-phase tomography label volume (TIFF stack: pore / NCM / binder) -> microstructure metrics")
def read_label_tiff(path: Path, **options) -> Reading:
    path = Path(path)
    voxel, labels, merged = _options(path, options)
    import tifffile

    warnings: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            shape, get, note = _slice_reader(tif, path)
            chunk = int(options.get("chunk_slices") or max(1, CHUNK_VOXELS // (shape[1] * shape[2])))
            if chunk < 1:
                raise InputError("chunk_slices must be >= 1.", file=str(path), found=chunk)
            voxels, faces = label_metrics(get, shape, labels, chunk, path)
    except InputError:
        raise
    except Exception as exc:  # tifffile: TiffFileError, ValueError, zlib errors on truncated pages ...
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise InputError("tifffile could not read this TIFF.", file=str(path),
                         expected="a complete TIFF label stack", found=detail) from exc
    if note:
        warnings.append(note)
    missing = [f"{name}={labels[name]}" for k, name in enumerate(PHASES) if voxels[k] == 0]
    if missing:
        raise InputError("a labelled phase does not occur in the volume (wrong label value?).", file=str(path),
                         expected="every label value present", found=", ".join(missing))
    total = int(voxels.sum())
    pore_ncm, pore_binder, ncm_binder = (int(f) for f in faces)
    phase_faces = {"pore": pore_ncm + pore_binder, "ncm": pore_ncm + ncm_binder, "binder": pore_binder + ncm_binder}
    ncm_surface = ncm_binder + pore_ncm
    row = {"shape_z": shape[0], "shape_y": shape[1], "shape_x": shape[2], "voxel_size_m": voxel}
    row |= {f"{name}_frac": voxels[k] / total for k, name in enumerate(PHASES)}
    row |= {"porosity_frac": row["pore_frac"], "pore_volume_m3": float(voxels[0]) * voxel ** 3}
    row |= {f"ssa_{name}_per_m": phase_faces[name] / (total * voxel) for name in PHASES}
    row |= {"active_area_frac": ncm_binder / ncm_surface if ncm_surface else float("nan"),
            "ncm_binder_faces": ncm_binder, "ncm_pore_faces": pore_ncm}
    ints = {"shape_z", "shape_y", "shape_x", "ncm_binder_faces", "ncm_pore_faces"}
    table = pa.table({k: pa.array([v], pa.int64() if k in ints else pa.float64()) for k, v in row.items()})
    meta = {"instrument": merged.get("instrument", "tomography label volume"), "reader_version":
            library_version("tifffile"), "labels": labels, "voxel_size_m": voxel}
    return Reading(tables={"microstructure": table}, meta=meta, warnings=tuple(warnings))
