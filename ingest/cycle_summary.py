"""Per-cycle summaries of a cycler time series (BDF columns) -> rows of the `cycles` table.

Capacities and energies are summed over the steps of a cycle, each step contributing its counter's rise
(max - min): right whether the vendor resets the counter every step (Neware, Maccor) or accumulates it over the
test (BDF). Without capacity counters the current is integrated over time. Mean voltages are time-weighted over
the samples with current of that sign. A file without a cycle column gets cycles inferred from the current: a
charge step that follows a discharge step opens a new cycle. A cycle ended at its last sample: `ended_at` is that
sample's `unix_time_second` (UTC), null when the file logs only test time.

Sums run in row order with numpy's reduceat, so the same file gives bit-identical summaries every time.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

METHOD_VERSION = "cycle_summary 2"
NEEDED = ("test_time_second", "current_ampere", "voltage_volt", "cycle_count", "step_count", "step_index",
          "charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh", "discharging_energy_wh",
          "unix_time_second")


def can_summarise(table: pa.Table) -> bool:
    return {"test_time_second", "current_ampere", "voltage_volt"} <= set(table.column_names)


def summarise_cycles(table: pa.Table) -> pa.Table:
    """One row per cycle with capacities (mAh), energies (Wh), mean voltages (V), coulombic efficiency and, when
    the file has absolute times, when the cycle ended."""
    # an all-null column (e.g. step_count read back from Parquet of a file that had none) counts as absent
    col = {name: _values(table, name) for name in NEEDED
           if name in table.column_names and table[name].null_count < table.num_rows}
    n = table.num_rows
    if n == 0:
        return pa.table({"cycle_index": pa.array([], pa.int64())})
    current, voltage = col["current_ampere"], col["voltage_volt"]
    dt = np.clip(np.nan_to_num(np.diff(col["test_time_second"], append=col["test_time_second"][-1])), 0, None)
    step = _step_starts(col, n)
    cycle = col["cycle_count"] if "cycle_count" in col else _inferred_cycles(current, step)
    # a group is a run of rows with the same step and cycle
    starts = np.flatnonzero(np.r_[True, (step[1:] != step[:-1]) | (cycle[1:] != cycle[:-1])])
    charging, discharging = current > 0, current < 0
    per_group = {
        "charge_capacity_mah": 1000 * _rise(col.get("charging_capacity_ah"), current * dt / 3600, charging, starts),
        "discharge_capacity_mah": 1000 * _rise(col.get("discharging_capacity_ah"), -current * dt / 3600,
                                               discharging, starts),
        "charge_energy_wh": _rise(col.get("charging_energy_wh"), current * voltage * dt / 3600, charging, starts),
        "discharge_energy_wh": _rise(col.get("discharging_energy_wh"), -current * voltage * dt / 3600,
                                     discharging, starts),
        "_v_chg": np.add.reduceat(np.where(charging, voltage * dt, 0.0), starts),
        "_t_chg": np.add.reduceat(np.where(charging, dt, 0.0), starts),
        "_v_dchg": np.add.reduceat(np.where(discharging, voltage * dt, 0.0), starts),
        "_t_dchg": np.add.reduceat(np.where(discharging, dt, 0.0), starts),
        "_end_s": col["unix_time_second"][np.r_[starts[1:], n] - 1].astype(float) if "unix_time_second" in col
        else np.full(len(starts), np.nan),
    }
    group_cycle = cycle[starts]
    valid = ~np.isnan(group_cycle.astype(float))
    order = np.argsort(group_cycle[valid], kind="stable")            # cycles in number order, steps in time order
    cycles_sorted = group_cycle[valid][order]
    firsts = np.flatnonzero(np.r_[True, cycles_sorted[1:] != cycles_sorted[:-1]])
    sums = {k: (np.fmax if k == "_end_s" else np.add).reduceat(v[valid][order], firsts) for k, v in per_group.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "cycle_index": cycles_sorted[firsts].astype(np.int64),
            **{k: sums[k] for k in ("charge_capacity_mah", "discharge_capacity_mah", "charge_energy_wh",
                                    "discharge_energy_wh")},
            "mean_charge_voltage_v": np.where(sums["_t_chg"] > 0, sums["_v_chg"] / sums["_t_chg"], np.nan),
            "mean_discharge_voltage_v": np.where(sums["_t_dchg"] > 0, sums["_v_dchg"] / sums["_t_dchg"], np.nan),
            "coulombic_efficiency_frac": np.where(sums["charge_capacity_mah"] > 0,
                                                  sums["discharge_capacity_mah"] / sums["charge_capacity_mah"],
                                                  np.nan),
        }
    # NaN (no charge, say) becomes null; a mask, not from_pandas=True, which imports pandas (0.5 s per ingest)
    arrays = {k: pa.array(v, mask=np.isnan(v) if v.dtype.kind == "f" else None) for k, v in out.items()}
    end_s = sums["_end_s"]
    arrays["ended_at"] = pa.array(np.round(np.nan_to_num(end_s) * 1e6).astype(np.int64), pa.timestamp("us", "UTC"),
                                  mask=np.isnan(end_s))
    return pa.table(arrays)


def _values(table: pa.Table, name: str) -> np.ndarray:
    column = table[name]
    return column.to_numpy().astype(float) if column.null_count else column.to_numpy()


def _step_starts(col: dict, n: int) -> np.ndarray:
    """An id per row that changes at every new step: the step counter, else runs of step index or current sign."""
    if "step_count" in col:
        return col["step_count"]
    key = col["step_index"] if "step_index" in col else np.sign(col["current_ampere"])
    return np.cumsum(np.r_[True, key[1:] != key[:-1]])


def _inferred_cycles(current: np.ndarray, step: np.ndarray) -> np.ndarray:
    starts = np.flatnonzero(np.r_[True, step[1:] != step[:-1]])
    signs = np.sign(np.add.reduceat(current, starts))
    cycle, last, numbers = 1, 0.0, np.empty(len(starts), np.int64)
    for i, sign in enumerate(signs):
        if sign > 0 and last < 0:
            cycle += 1
        if sign != 0:
            last = sign
        numbers[i] = cycle
    return np.repeat(numbers, np.diff(np.r_[starts, len(current)]))


def _rise(counter, integrand: np.ndarray, sign: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group: the counter's rise (max - min of |counter|), or the integral over samples of that sign."""
    if counter is not None:
        magnitude = np.abs(np.asarray(counter, float))
        rise = np.fmax.reduceat(magnitude, starts) - np.fmin.reduceat(magnitude, starts)
        return np.nan_to_num(rise)
    return np.add.reduceat(np.where(sign, integrand, 0.0), starts)
