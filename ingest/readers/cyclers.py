"""Cycler text/table exports: TRI-flattened Arbin CSV, Battery Data Format (BDF); Maccor is in maccor.py.

Also holds the helpers every cycler reader shares (neware.py imports them): the canonical time-series columns,
renaming vendor columns to BDF machine names, keeping the rest as ``raw_*``, and test-cumulative capacities.

Capacity rule (BDF): ``charging_capacity_ah``/``discharging_capacity_ah`` (and ``*_energy_wh``) are cumulative over
the whole test, never reset, both >= 0; ``net_capacity_ah`` = charging - discharging. Vendors write counters that
restart each step (Neware, Maccor) or maybe each cycle (Arbin); the vendor's own counter is kept too
(``step_*`` BDF names where the scope is certain, ``raw_*`` where it is not).
"""
from __future__ import annotations

import csv
import io
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from ingest.readers import Reading, register
from ingest.readers.text import head_lines, utf8_source
from lake.errors import CathodeLakeError, InputError

REQUIRED = ("test_time_second", "voltage_volt", "current_ampere")
INT_COLUMNS = ("record_index", "cycle_count", "step_count", "step_index", "step_id")
FLOAT_COLUMNS = (
    "test_time_second", "unix_time_second", "voltage_volt", "current_ampere", "step_time_second",
    "charging_capacity_ah", "discharging_capacity_ah", "net_capacity_ah", "cumulative_capacity_ah",
    "charging_energy_wh", "discharging_energy_wh", "net_energy_wh", "cumulative_energy_wh",
    "step_charging_capacity_ah", "step_discharging_capacity_ah", "step_net_capacity_ah", "step_capacity_ah",
    "step_charging_energy_wh", "step_discharging_energy_wh", "step_net_energy_wh", "step_energy_wh",
    "power_watt", "internal_resistance_ohm", "dc_internal_resistance_ohm", "ambient_temperature_celsius",
    "surface_temperature_celsius", "ambient_pressure_pa", "applied_pressure_pa",
)
ORDER = ("record_index", "test_time_second", "unix_time_second", "voltage_volt", "current_ampere",
         "cycle_count", "step_count", "step_index", "step_id", "step_type", "step_time_second")
_TEMPERATURE = re.compile(r"temperature_t\d+_celsius")
_STEP_ALIASES = {"pulse_step": "pulse", "cyclicvoltammetry": "cyclic_voltammetry"}

# BDF preferred labels -> machine names (BDF spec, battery-data-format docs).
BDF_LABELS = {
    "Record Index / 1": "record_index", "Test Time / s": "test_time_second", "Unix Time / s": "unix_time_second",
    "Voltage / V": "voltage_volt", "Current / A": "current_ampere", "Cycle Count / 1": "cycle_count",
    "Step Count / 1": "step_count", "Step Index / 1": "step_index", "Step ID": "step_id", "Step Type": "step_type",
    "Step Time / s": "step_time_second", "Charging Capacity / Ah": "charging_capacity_ah",
    "Discharging Capacity / Ah": "discharging_capacity_ah", "Net Capacity / Ah": "net_capacity_ah",
    "Cumulative Capacity / Ah": "cumulative_capacity_ah", "Charging Energy / Wh": "charging_energy_wh",
    "Discharging Energy / Wh": "discharging_energy_wh", "Net Energy / Wh": "net_energy_wh",
    "Cumulative Energy / Wh": "cumulative_energy_wh", "Step Capacity / Ah": "step_capacity_ah",
    "Step Energy / Wh": "step_energy_wh", "Step Net Capacity / Ah": "step_net_capacity_ah",
    "Step Net Energy / Wh": "step_net_energy_wh", "Step Charging Capacity / Ah": "step_charging_capacity_ah",
    "Step Discharging Capacity / Ah": "step_discharging_capacity_ah", "Power / W": "power_watt",
    "Internal Resistance / ohm": "internal_resistance_ohm", "Ambient Temperature / degC": "ambient_temperature_celsius",
    "Surface Temperature / degC": "surface_temperature_celsius", "Ambient Pressure / Pa": "ambient_pressure_pa",
    "Applied Pressure / Pa": "applied_pressure_pa",
    **{f"{kind}Temperature T{n} / degC": f"temperature_t{n}_celsius"
       for n in range(1, 10) for kind in ("", "Surface ")},
}
_BDF_NAMES = set(BDF_LABELS.values())


# ---------------------------------------------------------------- shared helpers

def snake(name: str) -> str:
    """'Spec. Cap.(mAh/g)' -> 'spec_cap_mah_g'; 'dV/dt' -> 'dv_dt'."""
    return re.sub(r"[^0-9a-z]+", "_", name.replace("µ", "u").replace("μ", "u").lower()).strip("_") or "column"


def step_type_expr(column: str) -> pl.Expr:
    """Vendor step names in lower snake case: 'CC DChg'/'CC_Dchg' -> 'cc_dchg', 'Pulse Step' -> 'pulse'."""
    text = pl.col(column).cast(pl.String).str.to_lowercase().str.replace_all(r"[^0-9a-z]+", "_")
    text = text.str.strip_chars("_")
    return text.replace(_STEP_ALIASES).alias("step_type")


def accumulate(df: pl.DataFrame, scope: list[str], pairs: dict[str, str], *, only_if_lower: bool = False
               ) -> pl.DataFrame:
    """Test-cumulative columns (``pairs``: counter -> new name) from counters that restart when ``scope`` changes.

    At each change of scope the previous row's value is carried forward; with ``only_if_lower`` only where the
    counter actually dropped (for vendors whose reset scope is not certain).
    """
    if not scope:
        return df.with_columns(pl.col(src).alias(dst) for src, dst in pairs.items())
    changed = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift()) for c in scope]) & (pl.int_range(pl.len()) > 0)
    exprs = []
    for src, dst in pairs.items():
        value, before = pl.col(src).fill_null(0.0), pl.col(src).fill_null(0.0).shift().fill_null(0.0)
        carry = changed & (value < before) if only_if_lower else changed
        exprs.append((value + pl.when(carry).then(before).otherwise(0.0).cum_sum()).alias(dst))
    return df.with_columns(exprs)


def with_net_capacity(df: pl.DataFrame) -> pl.DataFrame:
    """net_capacity_ah = charging - discharging (test-cumulative), when both are present."""
    if not {"charging_capacity_ah", "discharging_capacity_ah"} <= set(df.columns):
        return df
    net = pl.col("charging_capacity_ah") - pl.col("discharging_capacity_ah")
    return df.with_columns(net.alias("net_capacity_ah"))


def to_timeseries(df: pl.DataFrame, path: Path) -> pa.Table:
    """Canonical table: BDF names typed, any other column as raw_<snake>, unix_time_second always present."""
    names, seen = {}, set()
    for col in df.columns:
        canonical = col in INT_COLUMNS or col in FLOAT_COLUMNS or col == "step_type" or _TEMPERATURE.fullmatch(col)
        new = col if canonical or col.startswith("raw_") else f"raw_{snake(col)}"
        while new in seen:
            new += "_"
        names[col] = new
        seen.add(new)
    df = df.rename(names)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError("not a cycler time series.", file=str(path), expected=f"columns {', '.join(REQUIRED)}",
                         found=f"no {', '.join(missing)}")
    if df.height == 0:
        raise InputError("the file holds a header but no data rows.", file=str(path))
    if "unix_time_second" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.Float64).alias("unix_time_second"))
    casts = {c: pl.Int64 for c in INT_COLUMNS if c in df.columns}
    casts |= {c: pl.Float64 for c in df.columns if c in FLOAT_COLUMNS or _TEMPERATURE.fullmatch(c)}
    casts |= {c: pl.Float64 for c in df.columns if df.schema[c] == pl.Float32 and c not in casts}
    casts |= {c: pl.String for c in df.columns if c == "step_type" or df.schema[c] in (pl.Categorical, pl.Enum)}
    try:
        df = df.cast(casts, strict=True)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"a column is not numeric ({one_line(exc)}).", file=str(path)) from exc
    first = [c for c in ORDER if c in df.columns]
    canon = sorted(c for c in df.columns if c not in first and not c.startswith("raw_"))
    table = df.select(first + canon + [c for c in df.columns if c.startswith("raw_")]).to_arrow()
    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)
                        else f for f in table.schema])
    return table.cast(schema)


def iso_utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


@contextmanager
def library_errors(path: Path, expected: str, library: str):
    """Any failure of the parsing library becomes one InputError naming the file."""
    try:
        yield
    except CathodeLakeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every parser failure is reported the same way
        raise InputError(f"{library} could not read it.", file=str(path), expected=expected,
                         found=one_line(exc)) from exc


def read_csv(path: "Path | bytes", separator: str = ",", *, name: Path | None = None, **options) -> pl.DataFrame:
    """polars CSV with the settings every vendor export needs (UTF-8, UTF-16 or cp1252, see text.py; ``path`` may
    also be UTF-8 bytes); a last line cut short (file copied while the cycler was still writing) is an InputError."""
    source = io.BytesIO(path) if isinstance(path, bytes) else utf8_source(path)
    df = pl.read_csv(source, separator=separator, encoding="utf8-lossy", infer_schema_length=None,
                     truncate_ragged_lines=True, **options)
    if isinstance(source, io.BytesIO):
        last = source.getvalue()[-65536:].rsplit(b"\n", 1)[-1]
    else:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, 2) - 65536))
            last = handle.read().rsplit(b"\n", 1)[-1]
    if last.strip() and last.count(separator.encode()) + 1 < df.width:
        raise InputError("the last line is cut short: the file looks truncated.", file=str(name or path), row=df.height,
                         expected=f"{df.width} fields", found=f"{last.count(separator.encode()) + 1}")
    return df


def local_to_unix(column: str, fmt: str, timezone: str | None) -> pl.Expr:
    """Vendor wall-clock strings to UTC epoch seconds; null when the time zone is unknown."""
    if timezone is None:
        return pl.lit(None, pl.Float64).alias("unix_time_second")
    stamp = pl.col(column).str.strip_chars().str.to_datetime(fmt, strict=False).dt.replace_time_zone(
        timezone, ambiguous="earliest", non_existent="null")
    return (stamp.dt.epoch("ms").cast(pl.Float64) / 1000).alias("unix_time_second")


def local_time_warning(column: str) -> str:
    return (f"'{column}' is local wall-clock time without a time zone: unix_time_second left null "
            f"(pass timezone='Europe/Oslo' or similar to convert); the text is kept as raw_{snake(column)}.")


# ---------------------------------------------------------------- Arbin (TRI-flattened CSV)

_ARBIN = {"data_point": "record_index", "test_time": "test_time_second", "datetime": "unix_time_second",
          "step_time": "step_time_second", "step_index": "step_index", "cycle_index": "cycle_count",
          "current": "current_ampere", "voltage": "voltage_volt", "internal_resistance": "internal_resistance_ohm",
          "temperature": "temperature_t1_celsius", "aux_temperature_1": "temperature_t1_celsius"}
_ARBIN_COUNTERS = {"charge_capacity": "charging_capacity_ah", "discharge_capacity": "discharging_capacity_ah",
                   "charge_energy": "charging_energy_wh", "discharge_energy": "discharging_energy_wh"}


def _arbin_key(header: str) -> str:
    """'Current(A)', 'Current' -> 'current'; 'Test Time (s)' -> 'test_time' (native Arbin exports carry SI units in
    brackets and may spell names with spaces)."""
    return re.sub(r"\s+", "_", re.sub(r"\(.*\)$", "", header.strip()).strip().lower())


def _is_arbin(head: bytes, path: Path) -> bool:
    lines = head_lines(head, 1)
    keys = {_arbin_key(h) for h in lines[0].split(",")} if lines else set()
    return {"test_time", "cycle_index", "step_index", "voltage", "current"} <= keys


def _arbin_meta(path: Path) -> dict:
    """The TRI `<stem>_Metadata.csv` sidecar: test id, channel, schedule, start time."""
    sidecar = path.with_name(f"{path.stem}_Metadata.csv")
    if not sidecar.is_file():
        return {}
    with library_errors(sidecar, "an Arbin _Metadata.csv sidecar", "polars"):
        row = read_csv(sidecar).row(0, named=True)
    meta = {"arbin": {k: v for k, v in row.items() if k.strip()}}
    for key, name in (("iv_ch_id", "channel"), ("device_id", "device"), ("item_id", "barcode"),
                      ("schedule_file_name", "step_program"), ("test_id", "test_id")):
        if row.get(key) not in (None, ""):
            meta[name] = row[key]
    if row.get("first_start_datetime"):
        meta["started_at"] = iso_utc(float(row["first_start_datetime"]))
    if row.get("schedule_version"):
        meta["instrument"] = f"Arbin ({row['schedule_version']})"
    return meta


@register("arbin_csv", suffixes=(".csv",), sniff=_is_arbin, library="polars",
          description="Arbin CSV (TRI-flattened: Test_Time, Cycle_Index, …; reads *_Metadata.csv sidecar)")
def read_arbin(path: Path, **options) -> Reading:
    """Arbin current is positive on charge. Capacity counters may restart per cycle: accumulated where they drop."""
    path = Path(path)
    with library_errors(path, "an Arbin CSV export", "polars"):
        df = read_csv(path)
        keys = {c: _arbin_key(c) for c in df.columns}
        counters = {c: f"raw_{keys[c]}" for c in df.columns if keys[c] in _ARBIN_COUNTERS}
        df = df.rename({c: _ARBIN[k] for c, k in keys.items() if k in _ARBIN} | counters)
        if "unix_time_second" in df.columns and df.schema["unix_time_second"] == pl.String:
            df = df.rename({"unix_time_second": "raw_date_time"})
        scope = [c for c in ("cycle_count",) if c in df.columns]
        df = with_net_capacity(accumulate(df, scope, {raw: _ARBIN_COUNTERS[raw[4:]] for raw in counters.values()},
                                          only_if_lower=True))
    meta = _arbin_meta(path) | {"reader_version": f"polars {pl.__version__}"}
    notes = (local_time_warning("Date Time"),) if "raw_date_time" in df.columns else ()
    return Reading({"timeseries": to_timeseries(df, path)}, meta, notes)


# ---------------------------------------------------------------- Battery Data Format (CSV or Parquet)

def _bdf_header(names: list[str]) -> bool:
    names = {n.strip() for n in names}
    return ({"test_time_second", "voltage_volt", "current_ampere"} <= names
            or {"Test Time / s", "Voltage / V", "Current / A"} <= names)


def _is_bdf(head: bytes, path: Path) -> bool:
    if head.startswith(b"PAR1"):
        try:
            import pyarrow.parquet as pq
            return _bdf_header(pq.read_schema(path).names)
        except Exception:  # noqa: BLE001 - an unreadable footer is simply not BDF
            return False
    lines = head_lines(head, 1)
    return bool(lines) and _bdf_header(next(csv.reader(lines[:1])))


def _read_bdf_csv(path: Path) -> pa.Table:
    """BDF CSV through pyarrow's multi-threaded reader, the known columns typed up front (no inference pass)."""
    import pyarrow.csv as pacsv
    types = {}
    for label, name in list(BDF_LABELS.items()) + [(n, n) for n in _BDF_NAMES]:
        types[label] = (pa.int64() if name in INT_COLUMNS else pa.string() if name == "step_type"
                        else pa.float64())
    return pacsv.read_csv(utf8_source(path), read_options=pacsv.ReadOptions(encoding="utf8"),
                          convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))


@register("bdf", suffixes=(".bdf.csv", ".bdf.parquet", ".csv", ".parquet"), sniff=_is_bdf, library="polars/pyarrow",
          description="Battery Data Format, CSV or Parquet (machine names or preferred labels)")
def read_bdf(path: Path, **options) -> Reading:
    """BDF is already canonical: labels become machine names, unknown columns become raw_*."""
    path = Path(path)
    with open(path, "rb") as handle:
        is_parquet = handle.read(4) == b"PAR1"
    with library_errors(path, "a BDF CSV or Parquet file", "pyarrow" if is_parquet else "polars"):
        if is_parquet:
            import pyarrow.parquet as pq
            df = pl.from_arrow(pq.read_table(path))
        else:
            df = pl.from_arrow(_read_bdf_csv(path))
        df = df.rename({c: BDF_LABELS.get(c.strip(), c.strip()) for c in df.columns})
        df = df.rename({c: f"raw_{snake(c)}" for c in df.columns if c not in _BDF_NAMES})
    library = "pyarrow" if is_parquet else "polars"
    version = __import__(library).__version__
    return Reading({"timeseries": to_timeseries(df, path)}, {"reader_version": f"{library} {version}"})
