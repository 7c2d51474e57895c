"""Two-column spectra (Raman, FTIR, STXM) as CSV: the header names the technique and its abscissa.

Recognised headers (case and spacing ignored): a first column naming a Raman shift or wavenumber in cm-1
(`raman_shift_cm-1`, `Raman shift (cm-1)`, `wavenumber_cm-1` for FTIR) or a photon energy in eV (`energy_ev`,
`Energy (eV)` for STXM), and a second column `intensity` (or `counts`). Rows -> `spectra_points`.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from ingest.readers import Reading, register
from ingest.readers.tabular import header_names, load, numbers, required_values

TECHNIQUES = (("raman", r"raman", "cm-1"), ("ftir", r"wavenumber|ftir", "cm-1"), ("stxm", r"energy|ev\b", "eV"))


def _technique(head: bytes) -> tuple[str, str, str, str] | None:
    names = header_names(head)
    if len(names) < 2 or not re.search(r"intensity|counts", names[1], re.I):
        return None
    first = names[0].lower()
    for technique, pattern, unit in TECHNIQUES:
        if re.search(pattern, first) and (unit.lower() in first.replace(" ", "").replace("(", "_").replace(")", "")
                                          or technique == "stxm" and "ev" in first):
            return technique, unit, names[0], names[1]
    return None


def _is_spectrum(head: bytes, path: Path) -> bool:
    return _technique(head) is not None


@register("spectrum_csv", suffixes=(".csv", ".txt"), sniff=_is_spectrum, library="polars",
          description="two-column Raman / FTIR / STXM spectrum (x in cm-1 or eV, intensity)")
def read_spectrum(path: Path, **options) -> Reading:
    with open(path, "rb") as handle:
        technique, unit, x_name, y_name = _technique(handle.read(4096))
    frame = numbers(load(path, (x_name, y_name)), path, (x_name, y_name))
    required_values(frame, path, (x_name, y_name))
    points = frame.select(pl.lit(technique).alias("technique"), pl.col(x_name).alias("x"),
                          pl.lit(unit).alias("x_unit"), pl.col(y_name).alias("intensity"))
    return Reading({"spectra_points": points.to_arrow()}, {"technique": technique, "rows": points.height})
