"""Neware: BTS 8.x .ndax and legacy .nda binaries (read by fastnda), and BTSDA CSV exports (read by polars).

Cycle numbering is BTSDA's Cycle Index: the stored counter (fastnda ``cycle_mode="raw"``) unless it is of the
loop-only kind BTSDA does not show (rule in neware_cycles.py); where a file has none, fastnda derives it (``"auto"``);
the reading says which in ``warnings`` and ``meta["cycle_count_rule"]``.
Neware current is positive on charge; Neware capacities/energies restart at every step: the vendor value is kept as
``step_net_capacity_ah`` (sign of the current) and the BDF test-cumulative columns are built from it.
"""
from __future__ import annotations

import logging
import re
import shutil
import tempfile
import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from ingest.readers import Reading, register
from ingest.readers.cyclers import (accumulate, head_lines, iso_utc, library_errors, local_time_warning,
                                    local_to_unix, one_line, read_csv, snake, step_type_expr, to_timeseries,
                                    with_net_capacity)
from ingest.readers.neware_cycles import vendor_cycles
from ingest.readers.text import utf8_bytes
from lake.errors import InputError

_FASTNDA = {"index": "record_index", "total_time_s": "test_time_second", "unix_time_s": "unix_time_second",
            "voltage_V": "voltage_volt", "step_time_s": "step_time_second", "cycle_count": "cycle_count",
            "step_count": "step_count", "step_index": "step_index"}
_NDAX_MEMBERS = (b"data.ndc", b"TestInfo.xml", b"VersionInfo.xml", b"EditStep.xml", b"Step.xml")


# ---------------------------------------------------------------- fastnda (.ndax / .nda)

def _is_ndax(head: bytes, path: Path) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    if any(name in head for name in _NDAX_MEMBERS):
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return "data.ndc" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _is_nda(head: bytes, path: Path) -> bool:
    return head.startswith(b"NEWARE")


class _Captured(logging.Handler):
    """Collects what fastnda logs (it reports the raw-cycle fallback via logging, not warnings)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def _as_suffix(path: Path, suffix: str):
    """fastnda picks its parser by suffix: a file renamed to '.dat' is handed over under a linked name."""
    if path.suffix.lower() == suffix:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cathode-neware-") as folder:
        alias = Path(folder) / f"data{suffix}"
        try:
            alias.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, alias)
        yield alias


def _fastnda_read(path: Path, suffix: str) -> tuple[pl.DataFrame, dict, list[str]]:
    import fastnda

    handler, logger = _Captured(), logging.getLogger("fastnda")
    logger.addHandler(handler)
    kind = f"a Neware {suffix} file (BTS {'8.x zip of .ndc' if suffix == '.ndax' else 'binary, NEWARE magic'})"
    try:
        with warnings.catch_warnings(record=True) as caught, _as_suffix(path, suffix) as source:
            warnings.simplefilter("always")
            with library_errors(path, kind, f"fastnda {fastnda.__version__}"):
                df = fastnda.read(source, cycle_mode="raw")
            try:
                metadata = fastnda.read_metadata(source)
            except Exception as exc:  # noqa: BLE001 - metadata is a bonus; the data was read
                metadata = {}
                handler.messages.append(f"metadata not read: {one_line(exc)}")
    finally:
        logger.removeHandler(handler)
    notes = handler.messages + [" ".join(str(w.message).split()) for w in caught]
    return df, metadata, notes


def _from_fastnda(df: pl.DataFrame) -> pl.DataFrame:
    """fastnda default columns -> BDF names; aux temperatures -> temperature_t<aux id>_celsius."""
    renames, order = dict(_FASTNDA), 0
    for col in df.columns:
        aux = re.fullmatch(r"aux(\d*)_(.+)", col)
        if aux and aux.group(2) == "temperature_degC":
            order += 1
            renames[col] = f"temperature_t{aux.group(1) or order}_celsius"
        elif aux:
            renames[col] = "raw_" + snake(re.sub(r"_V$", "_volt", re.sub(r"_degC$", "_celsius", col)))
    net = pl.col("capacity_mAh").cast(pl.Float64) / 1000
    energy = pl.col("energy_mWh").cast(pl.Float64) / 1000
    df = df.rename({k: v for k, v in renames.items() if k in df.columns}).with_columns(
        (pl.col("current_mA").cast(pl.Float64) / 1000).alias("current_ampere"),
        step_type_expr("step_type"),
        net.alias("step_net_capacity_ah"), energy.alias("step_net_energy_wh"),
        net.clip(lower_bound=0).alias("_chg"), (-net).clip(lower_bound=0).alias("_dchg"),
        energy.clip(lower_bound=0).alias("_echg"), (-energy).clip(lower_bound=0).alias("_edchg"),
    ).drop("current_mA", "capacity_mAh", "energy_mWh")
    df = accumulate(df, ["step_count"], {"_chg": "charging_capacity_ah", "_dchg": "discharging_capacity_ah",
                                         "_echg": "charging_energy_wh", "_edchg": "discharging_energy_wh"})
    return with_net_capacity(df.drop("_chg", "_dchg", "_echg", "_edchg"))


def _text(node, *keys):
    """Nested lookup in fastnda's XML dicts; None when any level is missing."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node.get("Value") if isinstance(node, dict) and "Value" in node else node


def _step_program(step: dict, name: str | None) -> str | None:
    """'testdc.xml: 5 steps: Rest, CC_Chg, CC_DChg, Rest, End' from the .ndax Step.xml."""
    from fastnda import step_type_map

    info = step.get("Step_Info") if isinstance(step, dict) else None
    if not isinstance(info, dict):
        return None
    count = int(info.get("Num", 0) or 0)
    codes = [str(_text(info, f"Step{i}", "Step_Type")) for i in range(1, count + 1)]
    kinds = [step_type_map.get(int(c), f"type {c}") if c.isdigit() else f"type {c}" for c in codes]
    return f"{name or 'steps'}: {count} steps: {', '.join(kinds)}"[:500]


def _ndax_meta(md: dict) -> dict:
    info = _text(md, "TestInfo", "TestInfo") or {}
    version = _text(md, "VersionInfo", "ZwjVersion", "CurrClientVer") or _text(md, "Step", "client_version")
    meta = {"barcode": info.get("Barcode") or None, "channel": info.get("ChlID"), "device": info.get("DevID"),
            "unit": info.get("UnitID"), "test_id": info.get("TestID"), "remark": info.get("Remark"),
            "current_range_ma": info.get("CurrRange"), "started_local": info.get("StartTime"),
            "instrument": f"Neware {version}" if version else "Neware BTS",
            "step_program": _step_program(md.get("Step") or {}, info.get("StepName"))}
    mass = _text(md, "Step", "Head_Info", "SCQ")  # active mass in µg (NewareNDA, fastnda read it the same way)
    if mass not in (None, "", "0"):
        meta["active_mass_mg"] = float(mass) / 1000
    return meta


def _nda_meta(md: dict) -> dict:
    version = str(md.get("bts_version") or md.get("client_version") or md.get("server_version") or "")
    meta = {"barcode": md.get("barcode"), "remark": md.get("remarks"), "test_id": md.get("test_id"),
            "nda_version": md.get("nda_version"), "creator": md.get("creator"), "test_name": md.get("sn"),
            "instrument": f"Neware {version if version.startswith('BTS') else f'BTS {version}'}".strip()}
    if md.get("active_mass_mg"):
        meta["active_mass_mg"] = float(md["active_mass_mg"])
    return meta


def _check_bts9_length(path: Path) -> None:
    """BTS9 headers hold u64 {begin, length} pointers to the test-info (offset 34) and data (offset 82) blocks;
    fastnda reads what is there, so a cut file would pass silently without this check."""
    with open(path, "rb") as handle:
        header, size = handle.read(98), handle.seek(0, 2)
    ends = [int.from_bytes(header[o:o + 8], "little") + int.from_bytes(header[o + 8:o + 16], "little")
            for o in (34, 82) if int.from_bytes(header[o:o + 8], "little")]
    if ends and max(ends) > size:
        raise InputError("the header points past the end of the file: it looks truncated.", file=str(path),
                         expected=f"at least {max(ends)} bytes", found=f"{size} bytes")


def _reading(path: Path, suffix: str, meta_of, cycle_mode: str | None = None) -> Reading:
    import fastnda

    df, metadata, notes = _fastnda_read(path, suffix)
    auto = any("Raw cycle column missing" in n for n in notes)
    with library_errors(path, f"a Neware {suffix} file", "fastnda"):
        canonical = _from_fastnda(df)
    rule = "fastnda auto (file has no cycle index)"
    if not auto:
        canonical, rule, cycle_notes = vendor_cycles(canonical, cycle_mode)
        notes += cycle_notes
    table = to_timeseries(canonical, path)
    if suffix == ".nda" and metadata.get("nda_version") in (129, 130):
        _check_bts9_length(path)
    meta = {k: v for k, v in meta_of(metadata).items() if v not in (None, "")}
    meta["cycle_count_rule"] = rule
    meta["reader_version"] = f"fastnda {fastnda.__version__}"
    first = canonical.select(pl.col("unix_time_second") - pl.col("test_time_second")).row(0)[0]
    if first is not None:
        meta["started_at"] = iso_utc(first)
    if suffix == ".nda" and (meta.get("nda_version") or 0) < 100:
        notes.append("unix_time_second: legacy NDA stores wall-clock time without a time zone; it may be local time.")
    if auto:
        notes.insert(0, "cycle_count: the file has no vendor cycle index; fastnda derived it with cycle_mode='auto'.")
    return Reading({"timeseries": table}, meta, tuple(dict.fromkeys(notes)))


@register("neware_ndax", suffixes=(".ndax",), sniff=_is_ndax, library="fastnda",
          description="Neware BTS 8.x binary (.ndax)")
def read_ndax(path: Path, *, cycle_mode: str | None = None, **options) -> Reading:
    return _reading(Path(path), ".ndax", _ndax_meta, cycle_mode)


@register("neware_nda", suffixes=(".nda",), sniff=_is_nda, library="fastnda",
          description="Neware legacy binary (.nda, BTS 7/9)", binary=True)
def read_nda(path: Path, *, cycle_mode: str | None = None, **options) -> Reading:
    return _reading(Path(path), ".nda", _nda_meta, cycle_mode)


# ---------------------------------------------------------------- BTSDA CSV export

# base name (unit stripped) -> (BDF name, is a per-step counter)
_BTSDA = {"datapoint": "record_index", "cycle index": "cycle_count", "step index": "step_index",
          "step count": "step_count", "current": "current_ampere", "voltage": "voltage_volt",
          "power": "power_watt", "chg. cap.": "step_charging_capacity_ah", "dchg. cap.": "step_discharging_capacity_ah",
          "chg. energy": "step_charging_energy_wh", "dchg. energy": "step_discharging_energy_wh"}
_TIMES = {"time": "step_time_second", "cumulative time": "test_time_second", "total time": "test_time_second"}
_SCALE = {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "v": 1.0, "mv": 1e-3, "w": 1.0, "mw": 1e-3, "ah": 1.0, "mah": 1e-3,
          "mas": 1e-3 / 3600, "wh": 1.0, "mwh": 1e-3, "mws": 1e-3 / 3600}


def _split_unit(header: str) -> tuple[str, str | None]:
    """'Chg. Cap.(Ah)' -> ('chg. cap.', 'ah'); 'Step Type' -> ('step type', None)."""
    match = re.fullmatch(r"\s*(.*?)\s*\(([^()]*)\)\s*", header)
    if not match:
        return header.strip().lower(), None
    return match.group(1).lower(), match.group(2).replace("µ", "u").replace("μ", "u").lower()


def _is_btsda_csv(head: bytes, path: Path) -> bool:
    lines = head_lines(head, 1)
    names = {_split_unit(h)[0] for h in lines[0].split(",")} if lines else set()
    return {"cycle index", "step index", "step type", "voltage"} <= names


def _seconds(column: str) -> pl.Expr:
    """BTSDA durations 'h:mm:ss(.fff)', hours may exceed 24 ('144:01:18'); numbers pass through."""
    parts = pl.col(column).cast(pl.String).str.strip_chars().str.extract_groups(
        r"^(?:(\d+)-)?(\d+):(\d+):(\d+(?:\.\d+)?)$")
    seconds = (parts.struct[0].cast(pl.Float64).fill_null(0) * 86400 + parts.struct[1].cast(pl.Float64) * 3600
               + parts.struct[2].cast(pl.Float64) * 60 + parts.struct[3].cast(pl.Float64))
    return pl.coalesce(pl.col(column).cast(pl.Float64, strict=False), seconds)


def _btsda_column(col: str, timezone: str | None) -> pl.Expr | None:
    """The canonical column a BTSDA header becomes, or None to keep it as raw_*."""
    base, unit = _split_unit(col)
    temperature = re.fullmatch(r"t(\d+)", base)
    if base in _BTSDA and (unit is None or unit in _SCALE):
        return (pl.col(col).cast(pl.Float64) * _SCALE.get(unit, 1.0)).alias(_BTSDA[base])
    if base in _TIMES:
        return _seconds(col).alias(_TIMES[base])
    if temperature:
        return pl.col(col).cast(pl.Float64).alias(f"temperature_t{temperature.group(1)}_celsius")
    if base == "step type":
        return step_type_expr(col)
    if base == "date":
        return local_to_unix(col, "%Y-%m-%d %H:%M:%S%.f", timezone)
    return None


def _btsda_mass(df: pl.DataFrame) -> dict:
    """Active mass implied by the export's specific-capacity column (BTSDA divides by the mass it was given)."""
    if not {"Capacity(Ah)", "Spec. Cap.(mAh/g)"} <= set(df.columns):
        return {}
    ratio = df.filter(pl.col("Spec. Cap.(mAh/g)") > 1).select(
        (pl.col("Capacity(Ah)") * 1e6 / pl.col("Spec. Cap.(mAh/g)")).median()).item()
    return {"active_mass_mg": float(f"{ratio:.4g}"), "active_mass_rule": "Capacity(Ah) / Spec. Cap.(mAh/g)"} \
        if ratio else {}


@register("neware_btsda_csv", suffixes=(".csv",), sniff=_is_btsda_csv, library="polars",
          description="Neware BTSDA CSV export (Cycle Index, Step Index, Step Type, …)")
def read_btsda_csv(path: Path, *, timezone: str | None = None, **options) -> Reading:
    """Units come from the headers (A/mA/µA, V/mV, Ah/mAh/mAs, Wh/mWh/mWs); Date is local time."""
    path = Path(path)
    with library_errors(path, "a Neware BTSDA CSV export", "polars"):
        df = read_csv(path)
    return _btsda_reading(df, path, timezone)


def _btsda_reading(df: pl.DataFrame, path: Path, timezone: str | None) -> Reading:
    notes = []
    with library_errors(path, "a Neware BTSDA CSV export", "polars"):
        exprs = {col: _btsda_column(col, timezone) for col in df.columns}
        kept = [c for c, e in exprs.items() if e is None or _split_unit(c)[0] == "date"]  # -> raw_*
        df = df.select([e for e in exprs.values() if e is not None] + kept)
        scope = [c for c in ("cycle_count", "step_index") if c in df.columns]
        pairs = {f"step_{kind}_{q}": f"{kind}_{q}" for kind in ("charging", "discharging")
                 for q in ("capacity_ah", "energy_wh") if f"step_{kind}_{q}" in df.columns}
        df = with_net_capacity(accumulate(df, scope, pairs))
    if timezone is None and "Date" in df.columns:
        notes.append(local_time_warning("Date"))
    meta = {"instrument": "Neware BTSDA export", "reader_version": f"polars {pl.__version__}",
            "cycle_count_rule": "vendor cycle index (BTSDA Cycle Index)"} | _btsda_mass(df)
    return Reading({"timeseries": to_timeseries(df, path)}, meta, tuple(notes))


# ---------------------------------------------------------------- BTSDA CSV export, all three layers

def _fields(line: str) -> list[str]:
    return [f.strip().strip('"') for f in line.split(",")]


def _is_btsda_layers(head: bytes, path: Path) -> bool:
    """Cycle rows, step rows (one leading empty field) and record rows (two) interleaved under three headers."""
    lines = head_lines(head, 3)
    return (len(lines) == 3 and _split_unit(_fields(lines[0])[0])[0] in ("cycle index", "cycle id")
            and lines[1].startswith(",") and not lines[1].startswith(",,") and lines[2].startswith(",,"))


@register("neware_btsda_layers", suffixes=(".csv",), sniff=_is_btsda_layers, library="polars",
          description="Neware BTSDA CSV export with cycle, step and record layers interleaved")
def read_btsda_layers(path: Path, *, timezone: str | None = None, **options) -> Reading:
    """Each record row inherits the cycle index of the cycle row and the step index/type of the step row above it;
    the records are then read as a flat BTSDA export (cycle and step summaries are BTSDA's, derived, not kept)."""
    path = Path(path)
    lines = utf8_bytes(path).decode("utf-8", errors="replace").splitlines()
    step_head, record_head = _fields(lines[1]), _fields(lines[2])
    keys = {_split_unit(h)[0]: i for i, h in enumerate(step_head)}
    s_index, s_type = keys.get("step index", keys.get("step id")), keys.get("step type", keys.get("step name"))
    if s_index is None:
        raise InputError("the step layer has no step index.", file=str(path), row=2,
                         expected="'Step Index' in the second header line", found=lines[1][:80])
    skip = next((i for i, h in enumerate(record_head) if h), 2)   # leading empty fields = leading commas
    names = record_head[skip:]
    taken = {_split_unit(h)[0] for h in names}
    inherited = [(name, at) for name, at in (("Cycle Index", 0), ("Step Index", s_index), ("Step Type", s_type))
                 if at is not None and name.lower() not in taken]   # (column, field of its layer's row)
    out, values = [",".join([n for n, _ in inherited] + names)], {}
    for line in lines[3:]:
        if not line.strip():
            continue
        depth = 0 if not line.startswith(",") else 1 if not line.startswith(",,") else 2
        if depth < 2:
            fields = line.split(",")
            values.update({n: fields[at].strip() if at < len(fields) else "" for n, at in inherited
                           if (n == "Cycle Index") == (depth == 0)})
        else:
            out.append(",".join([values.get(n, "") for n, _ in inherited] + [line[skip:]]))
    with library_errors(path, "a Neware BTSDA layered CSV export", "polars"):
        df = read_csv("\n".join(out).encode(), name=path)
    return _btsda_reading(df, path, timezone)
