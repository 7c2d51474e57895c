"""BioLogic EC-Lab files: binary ``.mpr`` (via galvani, GPL-3, imported lazily) and the ``.mpt`` text export.

Both go through one column mapping, so an .mpr and its .mpt give the same rows:
- impedance techniques (a ``freq/Hz`` column) -> ``eis_points`` (z_imag = -(-Im(Z)), one spectrum per EC-Lab
  cycle number or frequency reset);
- everything else (GCPL, MB, ...) -> ``timeseries`` with BDF names and SI units; other columns kept as raw_*.
Rules: current_ampere = I/mA (or <I>/mA)/1000; when the .mpr holds neither (GCPL), <I> is rebuilt as EC-Lab does,
dq/Δt (positive = oxidation of the working electrode = charge of a cathode). cycle_count = EC-Lab "cycle number"
(0-based), or half cycle // 2 when the .mpr lacks it. step_index = Ns; step_count numbers each run of one Ns from 1.
Capacities per half cycle, ≥ 0: Q charge = max(Q charge/discharge, 0), Q discharge = max(-Q charge/discharge, 0).
EC-Lab writes local time without a zone: option ``timezone`` (IANA name) places it; default UTC with a warning.
"""
from __future__ import annotations

import io
import re
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from lake.errors import InputError

from . import Reading, register
from .eis import eis_table, library_version
from .text import decode_head, encoding_of, utf8_bytes

MPR_MAGIC = b"BIO-LOGIC MODULAR FILE\x1a"
MPT_MAGICS = (b"EC-Lab ASCII FILE", b"BT-Lab ASCII FILE")
INSTALL_HINT = "install the optional extra: pip install 'cathode-lake[biologic]'"
FLAG_NAMES = ("mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.")
# vendor column -> (BDF name, factor to SI); the first present column of each group wins
BDF_COLUMNS = {
    "test_time_second": (("time/s", 1.0),),
    "voltage_volt": (("Ewe/V", 1.0), ("<Ewe>/V", 1.0), ("Ecell/V", 1.0)),   # Ecell: BT-Lab
    "current_ampere": (("I/mA", 1e-3), ("<I>/mA", 1e-3)),
}
EIS_COLUMNS = ("freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm")


def snake(name: str) -> str:
    """EC-Lab column name -> raw_<snake_case>: '<Ewe>/V' -> raw_mean_ewe_v, '|Ewe|/V' -> raw_abs_ewe_v."""
    s = name.replace("µ", "u").replace("μ", "u").replace("%", "pct").replace("°", "deg")
    s = re.sub(r"\|([^|]+)\|", r"abs_\1", s)
    s = re.sub(r"<([^>]+)>", r"mean_\1", s)
    s = re.sub(r"^-", "neg_", s)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    return f"raw_{s or 'unnamed'}"


def _localize(naive: datetime | None, tz: str | None, path: Path, warnings: list[str]) -> float | None:
    """Unix seconds of EC-Lab's local start time in zone ``tz`` (UTC, with a warning, when not given)."""
    if naive is None:
        return None
    if tz is None:
        warnings.append("start time has no zone in the file; taken as UTC (give timezone='Europe/Berlin' etc.)")
        return naive.replace(tzinfo=dt_timezone.utc).timestamp()
    try:
        return naive.replace(tzinfo=ZoneInfo(tz)).timestamp()
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError("unknown timezone option.", file=str(path), expected="an IANA zone name such as "
                         "'Europe/Berlin'", found=tz) from exc


def _current_from_dq(cols: dict[str, np.ndarray]) -> np.ndarray | None:
    """<I>/mA as EC-Lab computes it for the export: dq/mA.h * 3600 / Δt (0 at the first point if dq is 0)."""
    if "dq/mA.h" not in cols or "time/s" not in cols:
        return None
    dq, t = np.asarray(cols["dq/mA.h"], float), np.asarray(cols["time/s"], float)
    dt = np.diff(t, prepend=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        current = np.where(dt > 0, dq * 3600.0 / dt, np.nan)
    current[(dq == 0) & ~np.isfinite(current)] = 0.0
    return current


def _timeseries(cols: dict[str, np.ndarray], start_unix: float | None) -> pa.Table:
    """BDF timeseries from EC-Lab columns (names as EC-Lab writes them)."""
    out: dict[str, pa.Array] = {}
    used: set[str] = set()
    for bdf, candidates in BDF_COLUMNS.items():
        for vendor, factor in candidates:
            if vendor in cols:
                out[bdf] = pa.array(np.asarray(cols[vendor], np.float64) * factor)
                used.add(vendor)
                break
    if "current_ampere" not in out and (derived := _current_from_dq(cols)) is not None:
        out["current_ampere"] = pa.array(derived * 1e-3, from_pandas=True)
    if start_unix is not None and "test_time_second" in out:
        out["unix_time_second"] = pa.array(start_unix + np.asarray(cols["time/s"], np.float64))
    if "cycle number" in cols:
        out["cycle_count"] = pa.array(np.asarray(cols["cycle number"]).astype(np.int64))
        used.add("cycle number")
    elif "half cycle" in cols:
        out["cycle_count"] = pa.array(np.asarray(cols["half cycle"]).astype(np.int64) // 2)
    if "Ns" in cols:
        ns = np.asarray(cols["Ns"]).astype(np.int64)
        out["step_index"] = pa.array(ns)
        out["step_count"] = pa.array(1 + np.cumsum(np.r_[False, ns[1:] != ns[:-1]]).astype(np.int64))
        used.add("Ns")
    if "Q charge/mA.h" in cols and "Q discharge/mA.h" in cols:
        out["charging_capacity_ah"] = pa.array(np.abs(np.asarray(cols["Q charge/mA.h"], float)) * 1e-3)
        out["discharging_capacity_ah"] = pa.array(np.abs(np.asarray(cols["Q discharge/mA.h"], float)) * 1e-3)
        used |= {"Q charge/mA.h", "Q discharge/mA.h"}
    elif "Q charge/discharge/mA.h" in cols:
        q = np.asarray(cols["Q charge/discharge/mA.h"], float) * 1e-3
        out["charging_capacity_ah"] = pa.array(np.maximum(q, 0.0))
        out["discharging_capacity_ah"] = pa.array(np.maximum(-q, 0.0))
    for name, values in cols.items():
        if name not in used:
            out[_unique(snake(name), out)] = _raw(values)
    return pa.table(out)


def _raw(values) -> pa.Array:
    """Vendor column as kept: integers and flags as int64, numbers as float64 (same for .mpr and .mpt)."""
    values = np.asarray(values)
    return pa.array(values.astype(np.int64 if values.dtype.kind in "biu" else np.float64))


def _unique(name: str, taken) -> str:
    n, candidate = 2, name
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _impedance(cols: dict[str, np.ndarray]) -> np.ndarray | None:
    """Z of every row, from Re(Z)/-Im(Z), or from |Z| and Phase(Z) (an .mpr of a Modulo Bat with PEIS)."""
    if "Re(Z)/Ohm" in cols and "-Im(Z)/Ohm" in cols:
        return np.asarray(cols["Re(Z)/Ohm"], np.float64) - 1j * np.asarray(cols["-Im(Z)/Ohm"], np.float64)
    if "|Z|/Ohm" in cols and "Phase(Z)/deg" in cols:
        return np.asarray(cols["|Z|/Ohm"], np.float64) * np.exp(1j * np.radians(np.asarray(cols["Phase(Z)/deg"],
                                                                                            np.float64)))
    return None


def _tables(path: Path, cols: dict[str, np.ndarray], start_unix: float | None) -> dict[str, pa.Table]:
    """Impedance rows (freq > 0) -> eis_points; the other rows (cycling, waits: freq = 0 or no freq column)
    -> timeseries. A Modulo Bat or GEIS sequence holds both; each table gets its own rows."""
    z = _impedance(cols) if "freq/Hz" in cols else None
    imp = (np.asarray(cols["freq/Hz"], np.float64) > 0) if z is not None else np.zeros(len(next(iter(cols.values()))),
                                                                                      bool)
    tables = {}
    if imp.any():
        sub = {k: np.asarray(v)[imp] for k, v in cols.items()}
        block = np.cumsum(np.r_[True, imp[1:] & ~imp[:-1]])[imp]      # a run of impedance rows = one sweep at least
        group = block * 1_000_000 + np.asarray(sub.get("cycle number", np.zeros(len(block))), np.int64)
        extra = {_unique(snake(k), ()): _raw(v) for k, v in sub.items() if k not in EIS_COLUMNS}
        tables["eis_points"] = eis_table(path, sub["freq/Hz"], z[imp], group, extra)
    if not imp.all():
        if "time/s" not in cols:
            raise InputError("no time/s column: not a technique this reader knows.", file=str(path),
                             expected="time/s or freq/Hz", found=sorted(cols)[:8])
        rest = {k: np.asarray(v)[~imp] for k, v in cols.items()} if imp.any() else cols
        tables["timeseries"] = _timeseries(rest, start_unix)
    return tables


def _meta(path: Path, kind: str, reader_version: str, started: datetime | None, technique: str | None,
          device: str | None = None) -> dict:
    return {"instrument": f"BioLogic {device}" if device else "BioLogic EC-Lab", "reader_version": reader_version,
            "file_kind": kind,
            "technique": technique, "started_at_local": started.isoformat() if started else None,
            "cycle_rule": "EC-Lab cycle number (0-based); .mpr without it: half cycle // 2"}


def _text_export(path: Path) -> Path | None:
    """The EC-Lab text export of the same run: `<stem>.mpt` beside the .mpr (any case of the suffix)."""
    return next((c for c in (path.with_suffix(".mpt"), path.with_suffix(".MPT")) if c.is_file()), None)


# ---- .mpr (galvani) ----------------------------------------------------------------------------------------
def _is_mpr(head: bytes, path: Path) -> bool:
    return head.startswith(MPR_MAGIC)


@register("biologic_mpr", suffixes=(".mpr",), sniff=_is_mpr, library="galvani (GPL-3, optional extra)",
          description="BioLogic EC-Lab binary data file (.mpr): GCPL/MB cycling or PEIS/GEIS", binary=True)
def read_mpr(path: Path, **options) -> Reading:
    path = Path(path)
    try:
        from galvani.BioLogic import MPRfile
    except ImportError as exc:
        raise InputError(f"reading .mpr needs galvani (GPL-3), which is not installed; {INSTALL_HINT}.",
                         file=str(path)) from exc
    with open(path, "rb") as handle:
        magic = handle.read(len(MPR_MAGIC))
        if magic != MPR_MAGIC:
            raise InputError("not a BioLogic .mpr file.", file=str(path), expected=repr(MPR_MAGIC), found=magic)
        handle.seek(0)
        try:
            mpr = MPRfile(handle)
            data = mpr.data
            cols = {}
            for name in data.dtype.names:
                if name == "flags":
                    cols.update({f: mpr.get_flag(f) for f in FLAG_NAMES if f in mpr.flags_dict})
                else:
                    cols[name] = np.array(data[name])
        except Exception as exc:  # galvani raises ValueError, AssertionError, struct errors on damaged files
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            export = _text_export(path)
            if isinstance(exc, NotImplementedError) and export:   # a column galvani does not know yet
                reading = read_mpt(export, **options)
                note = (f"galvani cannot read this .mpr ({detail}); its rows were read from the text export "
                        f"{export.name} beside it.")
                return Reading(reading.tables, reading.meta | {"file_kind": "mpr via mpt", "read_from": export.name},
                               (note, *reading.warnings))
            hint = " (export it as .mpt from EC-Lab and put it beside the .mpr)" if isinstance(
                exc, NotImplementedError) else ""
            raise InputError(f"galvani could not read this .mpr{hint}.", file=str(path),
                             expected="a complete EC-Lab .mpr", found=detail) from exc
    if not len(data):
        raise InputError("the .mpr holds no data points.", file=str(path))
    warnings: list[str] = []
    started = getattr(mpr, "timestamp", None)
    tables = _tables(path, cols, _localize(started, options.get("timezone"), path, warnings))
    return Reading(tables=tables, meta=_meta(path, "mpr", library_version("galvani"), started, None),
                   warnings=tuple(warnings))


# ---- .mpt (text export; own header rules + pyarrow CSV) ----------------------------------------------------
def _is_column_row(line: str) -> bool:
    """EC-Lab's column row: the flag columns first, a time/s column (an export saved without its header block)."""
    fields = line.rstrip("\r\n").split("\t")
    return fields[:2] == ["mode", "ox/red"] and "time/s" in fields


def _is_mpt(head: bytes, path: Path) -> bool:
    text = decode_head(head[:4096])
    return (text.startswith(tuple(m.decode() for m in MPT_MAGICS)) and "Nb header lines" in text[:400]
            or _is_column_row(text.split("\n", 1)[0]))


def _date_times(column: pa.Array, path: Path) -> np.ndarray:
    """BT-Lab's absolute time/s ('11/20/2024 11:38:41.707', local) as datetime64[us]."""
    import polars as pl

    try:
        parsed = pl.Series(column).str.strip_chars().str.to_datetime("%m/%d/%Y %H:%M:%S%.f", time_unit="us")
    except pl.exceptions.PolarsError as exc:
        raise InputError("time/s holds text that is not a date-time.", file=str(path), column="time/s",
                         expected="seconds or 'MM/DD/YYYY hh:mm:ss.fff'", found=column.slice(0, 1).to_pylist()) from exc
    return parsed.to_numpy()


def _parse_start(header: list[str]) -> datetime | None:
    for line in header:
        if line.startswith("Acquisition started on"):
            stamp = line.split(":", 1)[1].strip()
            for fmt in ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M:%S"):
                try:
                    return datetime.strptime(stamp, fmt)
                except ValueError:
                    continue
    return None


@register("biologic_mpt", suffixes=(".mpt",), sniff=_is_mpt, library="own header rules + pyarrow.csv",
          description="BioLogic EC-Lab text export (.mpt; LF or CRLF, decimal point or comma)")
def read_mpt(path: Path, **options) -> Reading:
    path = Path(path)
    raw = path.read_bytes()
    unicode = encoding_of(raw[:65536])          # UTF-8 (BOM or not) and UTF-16 exports; cp1252 is EC-Lab's own
    if unicode in ("utf-8-sig", "utf-16"):
        raw = utf8_bytes(path)
    lines = raw.split(b"\n")
    bare = _is_column_row(lines[0].decode("latin-1"))        # saved without the header block: line 1 = columns
    if not raw.startswith(MPT_MAGICS) and not bare:
        raise InputError("not an EC-Lab text export.", file=str(path), expected="first line 'EC-Lab ASCII FILE'",
                         found=raw[:20])
    found = re.match(rb"Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else b"")
    n_header = 1 if bare else int(found.group(1)) if found else 0
    if (n_header < 3 and not bare) or len(lines) <= n_header:
        raise InputError("header-line count missing or beyond the end of the file.", file=str(path), row=2,
                         expected="'Nb header lines : N' with N lines present", found=lines[1][:40] if
                         len(lines) > 1 else b"")
    encoding = options.get("encoding") or ("cp1252" if unicode == "cp1252" else "utf-8")
    header = [ln.rstrip(b"\r").decode(encoding, "replace") for ln in lines[:n_header]]
    names = header[-1].rstrip("\t").split("\t")
    body = b"\n".join(lines[n_header:])
    first = lines[n_header].rstrip(b"\r")
    if first.count(b"\t") + 1 == len(names) + 1:   # data rows with a trailing tab
        names.append("")
    decimal = options.get("decimal") or ("," if b"," in first else ".")
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=[f"c{i}" for i in range(len(names))], encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(decimal_point=decimal))
    except Exception as exc:  # pyarrow.ArrowInvalid: ragged or cut-off rows
        detail = " ".join(str(exc).split())[:200]
        raise InputError("the data table of this .mpt could not be read (truncated or edited?).", file=str(path),
                         expected=f"{len(names)} tab-separated columns per row after header line {n_header}",
                         found=detail) from exc
    if table.num_rows == 0:
        raise InputError("the .mpt holds no data rows.", file=str(path), row=n_header + 1)
    cols, started = {}, _parse_start(header)
    for i, name in enumerate(names):
        column = table.column(i)
        if name == "":
            continue
        if name == "time/s" and pa.types.is_string(column.type):      # BT-Lab option: date-times, not seconds
            stamps = _date_times(column, path)
            started = started or stamps[0].astype(datetime)
            column = pa.array((stamps - np.datetime64(started)) / np.timedelta64(1, "us") / 1e6)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise InputError("non-numeric value in a data column.", file=str(path), column=name,
                             expected=f"numbers with decimal '{decimal}'", found=column.slice(0, 1).to_pylist())
        cols[name] = column.to_numpy(zero_copy_only=False)
    warnings: list[str] = ["no header block: the start time is unknown, unix_time_second left empty"] if bare \
        and started is None else []
    technique = header[3].strip() if len(header) > 3 else None
    device = next((ln.split(":", 1)[1].strip() for ln in header if ln.startswith("Device :")), None)
    tables = _tables(path, cols, _localize(started, options.get("timezone"), path, warnings))
    return Reading(tables=tables, meta=_meta(path, "mpt", f"pyarrow {pa.__version__}", started, technique, device),
                   warnings=tuple(warnings))
