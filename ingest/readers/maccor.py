"""Maccor text exports, in the variants MIMS versions and export templates write (cellpy's and yadg's readers list
the same ones):
- raw export: one "Today's Date … Date of Test … Filename … Procedure … Comment/Barcode" line, then
  ``Rec#, Cyc#, Step, Test (Sec)|Test (Min)|TestTime, Step (Sec)|…, Amp-hr, Watt-hr, Amps, Volts, State, …,
  DPt Time``;
  TestTime as ``0d 00:00:00.0000`` in some versions (the EIS cycler record);
- the KIT/SIMBA template: ``Name:``/``Channel:``/… metadata lines, a blank line, ``Rec, Cycle P, Cycle C, Step,
  TestTime, StepTime, Cap. [Ah], Ener. [Wh], Current [A], Voltage [V], Md, …`` with times in minutes, decimal point or
  comma, a trailing tab;
- a comma-separated export (two preamble lines, ``Rec, Cycle C, Step, Test Time (sec), …, Current, Voltage``).
Rules: the header is found by content in the first lines; the decimal mark is the file's (a comma only where Volts
has no point; otherwise commas group thousands, as WMG's exports write them); current is signed by State/Md (C +,
D −) where the file has one, else taken as written (already signed); capacities/energies restart each step and are
accumulated (cyclers.accumulate); cycle_count is the vendor's (Cyc# counts from 0, Cycle C from 1; Cycle P kept raw);
DPt Time becomes unix time only with a timezone and a day/month order the dates themselves settle.
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from ingest.readers import Reading, register
from ingest.readers.cyclers import (accumulate, library_errors, local_time_warning, local_to_unix, read_csv,
                                    to_timeseries, with_net_capacity)
from ingest.readers.text import head_lines
from lake.errors import InputError

_STATES = {"C": "chg", "D": "dchg", "R": "rest", "O": "other", "S": "status"}
# canonical name -> vendor headers (lower case, first present wins)
_NAMES = {"record_index": ("rec#", "rec"), "cycle_count": ("cyc#", "cycle c"), "step_index": ("step",),
          "voltage_volt": ("volts", "voltage [v]", "voltage"), "_current": ("amps", "current [a]", "current"),
          "_capacity": ("amp-hr", "cap. [ah]", "capacity"), "_energy": ("watt-hr", "ener. [wh]", "energy"),
          "_state": ("state", "md"), "_stamp": ("dpt time",), "temperature_t1_celsius": ("temp 1",),
          "dc_internal_resistance_ohm": ("dcir/ohms",)}
# time headers -> seconds per unit (None: numbers in minutes, or 'Nd hh:mm:ss' text)
_TIMES = {"test_time_second": {"test (sec)": 1.0, "test time (sec)": 1.0, "test (min)": 60.0, "testtime": None,
                                "test time": None},
          "step_time_second": {"step (sec)": 1.0, "step time (sec)": 1.0, "step (min)": 60.0, "steptime": None,
                               "step time": None}}
_STAMPS = {"month first": ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%d-%b-%y %I:%M:%S %p"),
           "day first": ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %I:%M:%S %p", "%d-%b-%y %I:%M:%S %p")}
LINES = 40


def _split(line: str) -> list[str]:
    return [f.strip().strip('"').lower() for f in re.split("\t" if "\t" in line else ",", line)]


def _header_row(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        fields = set(_split(line))
        if fields & {"rec#", "rec"} and fields & {"cyc#", "cycle c", "cycle p"} and "step" in fields:
            return i
    return None


def _is_maccor(head: bytes, path: Path) -> bool:
    return _header_row(head_lines(head, LINES)) is not None


def _meta(lines: list[str]) -> dict:
    """The raw export's first line, or the template's 'Key:<tab>value' lines."""
    text = "\t".join(lines)
    fields = dict(re.findall(r"(Date of Test|Filename|Procedure|Comment/Barcode|Name|Channel|Started|Tester)"
                             r":?[\t ,]+([^\t]*?)\s*(?=\t|\s\w+:|$)", text))
    meta = {"instrument": "Maccor" + (f" ({fields['Tester']})" if fields.get("Tester") else "")}
    comment = fields.get("Comment/Barcode", "")
    if re.fullmatch(r"[\w.\-]+", comment):      # a barcode is one token; free text is kept as a comment
        meta["barcode"] = comment
    elif comment:
        meta["comment"] = comment
    if fields.get("Procedure"):
        meta["step_program"] = fields["Procedure"]
    if fields.get("Date of Test") or fields.get("Started"):
        meta["test_date_local"] = fields.get("Date of Test") or fields["Started"]
    channel = re.search(r"\.(\d{3})$", fields.get("Filename", "") or fields.get("Name", ""))
    if fields.get("Channel", "").isdigit() or channel:  # Maccor names the data file by channel: *.052 = channel 52
        meta["channel"] = int(fields["Channel"]) if fields.get("Channel", "").isdigit() else int(channel.group(1))
    return meta


def _number(col: str, comma: bool, strict: bool = True) -> pl.Expr:
    """Vendor numbers: '0,1377' where the file's decimal mark is a comma, else ',' groups thousands ('1,234.5')."""
    text = pl.col(col).cast(pl.String).str.strip_chars()
    text = text.str.replace(",", ".", literal=True) if comma else text.str.replace_all(",", "", literal=True)
    return text.cast(pl.Float64, strict=strict)


def _comma_decimal(df: pl.DataFrame, probe: str | None) -> bool:
    """The file's decimal mark, judged on a column that always has decimals (Volts): a comma only if no point."""
    if probe is None:
        return False
    values = df[probe].drop_nulls()
    return bool(values.str.contains(",", literal=True).any()) and not bool(values.str.contains(".", literal=True)
                                                                           .any())


def _seconds(col: str, per_unit: float | None, comma: bool) -> pl.Expr:
    if per_unit is not None:
        return _number(col, comma) * per_unit
    text = pl.col(col).cast(pl.String).str.strip_chars()
    parts = text.str.extract_groups(r"^(\d+)d\s+(\d+):(\d+):(\d+(?:[.,]\d+)?)$")
    clock = (parts.struct[0].cast(pl.Float64) * 86400 + parts.struct[1].cast(pl.Float64) * 3600
             + parts.struct[2].cast(pl.Float64) * 60 + parts.struct[3].str.replace(",", ".").cast(pl.Float64))
    return pl.coalesce(clock, _number(col, comma, strict=False) * 60.0)   # a bare number under 'TestTime': minutes


def _date_order(df: pl.DataFrame, col: str) -> str | None:
    """'month first' or 'day first' for the 'a/b/yyyy' stamps of a column, from a value over 12 in either place;
    None when every date reads both ways (then no time is guessed). Text months ('23-Nov-23') are unambiguous."""
    parts = df.select(pl.col(col).str.extract_groups(r"^\s*(\d{1,2})/(\d{1,2})/").alias("p")).unnest("p")
    if parts.width < 2 or parts[:, 0].null_count() == parts.height:
        return "month first"
    first, second = (parts[:, i].cast(pl.Int64, strict=False).max() or 0 for i in (0, 1))
    return "day first" if first > 12 else "month first" if second > 12 else None


def _stamp(col: str | None, timezone: str | None, order: str | None) -> pl.Expr:
    if col is None or timezone is None or order is None:
        return pl.lit(None, pl.Float64).alias("unix_time_second")
    return pl.coalesce([local_to_unix(col, fmt, timezone) for fmt in _STAMPS[order]]).alias("unix_time_second")


@register("maccor_text", suffixes=(".txt", ".csv"), sniff=_is_maccor, library="polars",
          description="Maccor text export (raw *.NNN = channel, KIT/SIMBA template, comma-separated; times in s, "
                      "min or 'Nd hh:mm:ss')")
def read_maccor(path: Path, *, timezone: str | None = None, **options) -> Reading:
    path = Path(path)
    with open(path, "rb") as handle:
        lines = head_lines(handle.read(16384), LINES)
    skip = _header_row(lines)
    if skip is None:
        raise InputError("not a Maccor text export.", file=str(path), expected="a 'Rec#/Rec, Cyc#/Cycle C, Step …' "
                         "table header in the first lines", found=lines[:2])
    separator = "\t" if "\t" in lines[skip] else ","
    with library_errors(path, "a Maccor text export", "polars"):
        df = read_csv(path, separator=separator, skip_rows=skip, null_values=["N/A"], quote_char=None,
                      infer_schema=False)
        df = df.rename({c: c.strip() for c in df.columns})
        lower = {c.lower(): c for c in df.columns}
        found = {name: next((lower[v] for v in vendor if v in lower), None) for name, vendor in _NAMES.items()}
        times = {name: next(((lower[v], f) for v, f in units.items() if v in lower), None)
                 for name, units in _TIMES.items()}
        rec = found["record_index"]
        df = df.filter(pl.col(rec).str.strip_chars().str.len_chars() > 0)
        order = _date_order(df, found["_stamp"]) if found["_stamp"] and timezone else "month first"
        comma = _comma_decimal(df, found["voltage_volt"])
        state = (pl.col(found["_state"]).str.strip_chars() if found["_state"] else None)
        amps = _number(found["_current"], comma) if found["_current"] else pl.lit(None, pl.Float64)
        if state is None:               # no State column: the current is already signed
            state = pl.when(amps > 0).then(pl.lit("C")).when(amps < 0).then(pl.lit("D")).otherwise(pl.lit("R"))
        exprs = [pl.when(state == "C").then(amps.abs()).when(state == "D").then(-amps.abs()).otherwise(amps)
                 .alias("current_ampere"), state.replace(_STATES).str.to_lowercase().alias("step_type"),
                 _stamp(found["_stamp"], timezone, order)]
        exprs += [_seconds(col, unit, comma).alias(name) for name, hit in times.items() if hit
                  for col, unit in [hit]]
        exprs += [(_number(col, comma) if name != "record_index" and not name.endswith(("count", "index"))
                   else _number(col, comma).cast(pl.Int64)).alias(name)
                  for name, col in found.items() if col and not name.startswith("_")]
        for kind, col in (("capacity", found["_capacity"]), ("energy", found["_energy"])):
            if col:
                exprs += [pl.when(state == s).then(_number(col, comma)).otherwise(0.0).alias(f"_{s}{kind}")
                          for s in "CD"]
        used = {c for name, c in found.items() if c and name not in ("_state", "_stamp", "_capacity", "_energy")}
        used |= {hit[0] for hit in times.values() if hit}
        df = df.select([*exprs, *[pl.col(c) for c in df.columns if c not in used]])
        before = df.height
        needed = [c for c in ("voltage_volt", "test_time_second") if c in df.columns]   # else to_timeseries says
        df = df.filter(*[pl.col(c).is_not_null() for c in needed]) if needed else df
        pairs = {f"_{s}{k}": f"{'charging' if s == 'C' else 'discharging'}_{u}" for s in "CD"
                 for k, u in (("capacity", "capacity_ah"), ("energy", "energy_wh")) if f"_{s}{k}" in df.columns}
        scope = [c for c in ("cycle_count", "step_index") if c in df.columns]
        df = with_net_capacity(accumulate(df, scope, pairs, only_if_lower=True).drop(list(pairs)))
    meta = _meta(lines[:skip]) | {"reader_version": f"polars {pl.__version__}", "header_line": skip + 1}
    notes = [] if timezone or not found["_stamp"] else [local_time_warning(found["_stamp"])]
    if order is None:
        notes.append(f"'{found['_stamp']}': every date reads as day/month and as month/day; unix_time_second left "
                     "null rather than guessed.")
    if df.height < before:
        notes.append(f"{before - df.height} row(s) without a voltage or test time (a line cut short) were dropped.")
    return Reading({"timeseries": to_timeseries(df, path)}, meta, tuple(notes))
