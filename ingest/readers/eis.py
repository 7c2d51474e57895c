"""Impedance spectra in vendor text formats, parsed by impedance.py (``impedance.preprocessing.readFile``).

Every reader returns ``tables["eis_points"]`` with ``spectrum_index`` (0 for a single sweep), ``frequency_hz``,
``z_real_ohm`` and ``z_imag_ohm``; Z = z_real + j*z_imag, so z_imag is negative for a capacitive response.
impedance.py already returns Z with that sign for every format used here. Detection is by each vendor's header
signature; this module only checks what impedance.py does not (empty result, non-finite values, a cut-off last row).
"""
from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa

from lake.errors import InputError

from . import Reading, register
from .text import decode_head, encoding_of, utf8_bytes


def library_version(dist: str) -> str:
    """``"<dist> <version>"`` for meta['reader_version']; 'unknown' if the distribution is not installed."""
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return f"{dist} unknown"


def spectrum_index(freq: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
    """0-based sweep number: a new spectrum starts where ``group`` (e.g. a cycle number) changes, or where the
    frequency turns back against the direction of the first step (a reset, e.g. 1 Hz -> 100 kHz)."""
    freq = np.asarray(freq, dtype=float)
    new = np.zeros(len(freq), dtype=bool)
    if len(freq) > 1:
        step = np.diff(freq)
        direction = np.sign(step[np.flatnonzero(step)[0]]) if np.any(step) else -1.0
        new[1:] = np.sign(step) == -direction
    if group is not None:
        group = np.asarray(group)
        new[1:] |= group[1:] != group[:-1]
    return np.cumsum(new).astype(np.int64)


def eis_table(path: Path, freq, z, group=None, extra: dict | None = None) -> pa.Table:
    """Validate (f, Z) and build the eis_points table; ``extra`` columns are appended as given (raw_*)."""
    freq = np.asarray(freq, dtype=np.float64)
    z = np.asarray(z, dtype=np.complex128)
    if freq.size == 0:
        raise InputError("no impedance points found.", file=str(path), expected="at least one data row",
                         found="0 rows")
    if freq.shape != z.shape:
        raise InputError("frequency and impedance columns differ in length.", file=str(path),
                         expected=f"{freq.size} impedance values", found=z.size)
    bad = np.flatnonzero(~np.isfinite(freq) | (freq <= 0) | ~np.isfinite(z))
    if bad.size:
        i = int(bad[0])
        raise InputError("frequency must be a finite number > 0 and Z finite.", file=str(path), row=i,
                         expected="f > 0 and finite Z", found=f"f={freq[i]}, Z={z[i]}")
    columns = {"spectrum_index": pa.array(spectrum_index(freq, group), pa.int64()),
               "frequency_hz": pa.array(freq), "z_real_ohm": pa.array(z.real), "z_imag_ohm": pa.array(z.imag)}
    columns.update(extra or {})
    return pa.table(columns)


def _check_last_row(source: Path, path: Path) -> None:
    """A file cut off mid-row (no final newline and fewer fields than the row before) is refused."""
    with open(source, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 8192))
        tail = handle.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    if len(lines) < 2:
        return
    def fields(line: bytes) -> int:
        return len(re.split(rb"[\t,;]|\s+", line.strip()))
    if fields(lines[-1]) < fields(lines[-2]):
        raise InputError("the file ends in the middle of a data row (truncated copy?).", file=str(path),
                         expected=f"{fields(lines[-2])} fields in the last row", found=lines[-1][-40:].decode(
                             "latin-1"))


@contextmanager
def _as_utf8(path: Path):
    """impedance.py opens files itself (mostly as UTF-8): a UTF-16, BOM or cp1252 export is handed over re-encoded."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    if encoding_of(head) == "utf-8":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cathode-eis-") as folder:
        copy = Path(folder) / path.name
        copy.write_bytes(utf8_bytes(path))
        yield copy


def _read(path: Path, instrument: str, label: str, model: str | None = None) -> Reading:
    """Parse with impedance.py's reader for ``instrument``; any library failure becomes one InputError."""
    from impedance.preprocessing import readFile

    path = Path(path)
    if path.stat().st_size == 0:
        raise InputError(f"empty file, not a {label} spectrum.", file=str(path))
    with _as_utf8(path) as source:
        _check_last_row(source, path)
        try:
            freq, z = readFile(str(source), instrument=instrument)
        except Exception as exc:  # impedance.py raises IndexError, ValueError, UnboundLocalError ... on bad input
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise InputError(f"impedance.py could not read this {label} file.", file=str(path),
                             expected=f"a complete {label} impedance export", found=detail) from exc
    meta = {"instrument": label if not model else f"{label} ({model})", "reader_version":
            library_version("impedance"), "impedance_py_instrument": instrument}
    table = eis_table(path, freq, z)
    meta["n_spectra"] = int(table["spectrum_index"][-1].as_py()) + 1
    return Reading(tables={"eis_points": table}, meta=meta)


def _text(head: bytes) -> str:
    return decode_head(head)


def _model(head: bytes, pattern: str) -> str | None:
    found = re.search(pattern, _text(head), re.MULTILINE)
    return found.group(1).strip() if found else None


# ---- sniffers: one vendor header signature each ----------------------------------------------------------
def _is_gamry(head: bytes, path: Path) -> bool:
    text = _text(head)
    return text.startswith("EXPLAIN") and re.search(r"^TAG\tEIS", text, re.MULTILINE) is not None


ZPLOT_COLUMNS = ("freq(hz)", "ampl", "bias", "time(sec)", "z'(a)", "z''(b)")


def _is_zplot(head: bytes, path: Path) -> bool:
    """ZPlot's full export ('ZPLOT2 ASCII' + comments), or the bare one: '"ZPlotW …' title lines or none, then the
    column row Freq(Hz), Ampl, Bias, Time(Sec), Z'(a), Z''(b) (impedance.py reads Z from columns 4 and 5)."""
    text = _text(head)
    if text.startswith("ZPLOT2 ASCII"):
        return True
    titled = text.lstrip('"').lower().startswith("zplot")     # '"ZPlotW …' title line(s) before the columns
    for line in text.splitlines()[:20 if titled else 1]:
        fields = tuple(f.strip().strip('"').lower() for f in re.split(r"\t|, ?", line))
        if fields[:6] == ZPLOT_COLUMNS:
            return True
    return False


def _is_parstat(head: bytes, path: Path) -> bool:
    first = _text(head).split("\n", 1)[0]
    return all(k in first for k in ("Frequency (Hz)", "Zre (ohms)", "Zim (ohms)"))


def _is_versastudio(head: bytes, path: Path) -> bool:
    text = _text(head)
    return text.startswith("<Application>") and "Name=VersaStudio" in text


def _is_autolab(head: bytes, path: Path) -> bool:
    text = _text(head)
    return (not text.startswith("ZPLOT2") and re.search(r"^\W*Freq \(Hz\).*Z'\(a\).*Z''\(b\)", text, re.MULTILINE)
            is not None and re.search(r"^[-+0-9.eE]+(,[-+0-9.eE]+){5,}\s*$", text, re.MULTILINE) is not None)


def _is_chi(head: bytes, path: Path) -> bool:
    text = _text(head)
    return "A.C. Impedance" in text and re.search(r"^Freq/Hz, Z'/ohm", text, re.MULTILINE) is not None


# ---- registered readers ----------------------------------------------------------------------------------
@register("gamry_dta", suffixes=(".dta",), sniff=_is_gamry, library="impedance.py",
          description="Gamry EXPLAIN impedance spectrum (.DTA, EISPOT/EISGALV; decimal point or comma)")
def read_gamry(path: Path, **options) -> Reading:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    return _read(path, "gamry", "Gamry", _model(head, r"^PSTAT\tPSTAT\t([^\t\r\n]+)"))


@register("zplot_z", suffixes=(".z",), sniff=_is_zplot, library="impedance.py",
          description="Scribner ZPlot/ZView impedance sweep (.z, 'ZPLOT2 ASCII' or bare column table)")
def read_zplot(path: Path, **options) -> Reading:
    return _read(path, "zplot", "Scribner ZPlot")


@register("parstat_txt", suffixes=(".txt",), sniff=_is_parstat, library="impedance.py",
          description="Princeton Applied Research PARSTAT impedance text export")
def read_parstat(path: Path, **options) -> Reading:
    return _read(path, "parstat", "PAR PARSTAT")


@register("versastudio_par", suffixes=(".par",), sniff=_is_versastudio, library="impedance.py",
          description="PAR VersaSTAT/VersaStudio impedance experiment (.par)")
def read_versastudio(path: Path, **options) -> Reading:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    return _read(path, "versastudio", "PAR VersaStudio", _model(head, r"^Type=(\S+)"))


@register("autolab_txt", suffixes=(".txt",), sniff=_is_autolab, library="impedance.py",
          description="Metrohm Autolab impedance text export (comma-separated, Freq (Hz), Z'(a), Z''(b))")
def read_autolab(path: Path, **options) -> Reading:
    return _read(path, "autolab", "Metrohm Autolab")


@register("chi_txt", suffixes=(".txt",), sniff=_is_chi, library="impedance.py",
          description="CH Instruments A.C. impedance text export")
def read_chi(path: Path, **options) -> Reading:
    with open(path, "rb") as handle:
        head = handle.read(8192)
    return _read(path, "chinstruments", "CH Instruments", _model(head, r"^Instrument Model:\s*(.+)$"))


def _is_powersuite(head: bytes, path: Path) -> bool:
    return [f.strip() for f in _text(head).split("\n", 1)[0].split("\t")] == ["Frequency", "Zre", "Zimg"]


@register("powersuite_txt", suffixes=(".txt",), sniff=_is_powersuite, library="impedance.py",
          description="Princeton Applied Research PowerSuite impedance text export (Frequency, Zre, Zimg)")
def read_powersuite(path: Path, **options) -> Reading:
    return _read(path, "powersuite", "PAR PowerSuite")


# ---- Maccor AC impedance export (no library reads it: a fixed table under a fixed preamble) ----------------
def _is_maccor_eis(head: bytes, path: Path) -> bool:
    text = _text(head)
    return text.startswith("MACCOR") and "AC Impedance" in text.split("\n", 1)[0] and "Freq(Hz)" in text


@register("maccor_eis", suffixes=(".041", ".txt"), sniff=_is_maccor_eis, library="own rules (numpy)",
          description="Maccor AC-impedance export (MACCOR, INC. AC Impedance Test; Freq(Hz), Z'(a), Z''(b))")
def read_maccor_eis(path: Path, **options) -> Reading:
    """Z = Z'(a) + j Z''(b) (Phase_Angle = atan2(Z'', Z') in the file); Polar(V) holds ω = 2πf, kept raw."""
    path = Path(path)
    lines = utf8_bytes(path).decode("utf-8", errors="replace").splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("Freq(Hz)\t")), None)
    if at is None:
        raise InputError("no impedance table.", file=str(path), expected="a 'Freq(Hz)<tab>…' column row",
                         found=lines[:1])
    names = lines[at].split("\t")
    rows = [(n, line.split("\t")) for n, line in enumerate(lines[at + 1:], start=at + 2) if line.strip()]
    width = min(len(fields) for _, fields in rows) if rows else 0
    if width < 5:
        raise InputError("the impedance table has rows without Z'(a) and Z''(b).", file=str(path),
                         expected="at least 5 tab-separated fields per row", found=width)
    values = np.full((len(rows), width), np.nan)
    for k, (n, fields) in enumerate(rows):
        try:
            values[k] = [float(f) if f.strip() else np.nan for f in fields[:width]]
        except ValueError as exc:
            raise InputError("a value is not a number.", file=str(path), row=n, found=fields[:5]) from exc
    col = {name: values[:, i] for i, name in enumerate(names[:width])}
    extra = {f"raw_{re.sub(r'[^0-9a-z]+', '_', k.lower()).strip('_')}": pa.array(v) for k, v in col.items()
             if k not in ("Freq(Hz)", "Z'(a)", "Z''(b)") and not np.isnan(v).all()}
    table = eis_table(path, col["Freq(Hz)"], col["Z'(a)"] + 1j * col["Z''(b)"], None, extra)
    head = "\n".join(lines[:at])
    meta = {"instrument": "Maccor AC impedance", "reader_version": "cathode-lake own rules",
            "step_program": lines[2].strip() if len(lines) > 2 else None, "n_spectra": 1}
    start = re.search(r"Start Date:\s*(.+?)\s+Start Time:\s*(\S+)", head)
    if start:
        meta["test_date_local"] = f"{start.group(1)} {start.group(2)}"
    return Reading({"eis_points": table}, meta)
