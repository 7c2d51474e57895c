"""Per-cycle summaries over ≥ 50 M time-series rows: the lake's own `summarise_cycles`
(ingest/cycle_summary.py, what ingest runs on every cycler file) over the lake's Parquet, versus a
hand-written DuckDB query computing the same columns (capacities from counter rises per step, energies and
time-weighted mean voltages from dt to the next sample) over the same files — raw, and through the lake's
`timeseries` view."""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from bench.ingest import CELL, RECIPE, record

SQL = """
WITH t AS (
  SELECT cell_id, cycle_count, step_index, voltage_volt AS v, current_ampere AS i,
         charging_capacity_ah AS qc, discharging_capacity_ah AS qd,
         greatest(coalesce(lead(test_time_second) OVER (PARTITION BY cell_id ORDER BY test_time_second)
                           - test_time_second, 0), 0) AS dt
  FROM {source}
), steps AS (
  SELECT cell_id, cycle_count, step_index,
         max(abs(qc)) - min(abs(qc)) AS qc, max(abs(qd)) - min(abs(qd)) AS qd,
         sum(CASE WHEN i > 0 THEN i * v * dt END) / 3600 AS ec, sum(CASE WHEN i < 0 THEN -i * v * dt END) / 3600 AS ed,
         sum(CASE WHEN i > 0 THEN v * dt END) AS vc, sum(CASE WHEN i > 0 THEN dt END) AS tc,
         sum(CASE WHEN i < 0 THEN v * dt END) AS vd, sum(CASE WHEN i < 0 THEN dt END) AS td
  FROM t GROUP BY ALL
)
SELECT cell_id, cycle_count AS cycle_index, 1000 * sum(qc) AS charge_capacity_mah,
       1000 * sum(qd) AS discharge_capacity_mah, sum(ec) AS charge_energy_wh, sum(ed) AS discharge_energy_wh,
       sum(vc) / nullif(sum(tc), 0) AS mean_charge_voltage_v, sum(vd) / nullif(sum(td), 0) AS mean_discharge_voltage_v,
       sum(qd) / nullif(sum(qc), 0) AS coulombic_efficiency_frac
FROM steps GROUP BY ALL ORDER BY 1, 2
"""


def prepare(work: str, rows: int, per_cell: int = 2_500_000) -> dict:
    """A lake with ≥ ``rows`` time-series rows: virtual-lab cells ingested as BDF Parquet through `ingest`, one
    cell per commit (a lake left smaller by an earlier run is topped up)."""
    import pyarrow.parquet as pq
    from ingest.pipeline import ingest
    from lake import store
    root = Path(work) / f"lake-cycles-{rows}"
    root = store.init(root)
    count = "SELECT count(*) AS n FROM timeseries"
    have, started, added = store.query(root, count)["n"][0].as_py(), time.perf_counter(), 0
    while have < rows:
        seed = store.query(root, "SELECT count(*) AS n FROM cells")["n"][0].as_py() + 1
        cell = CELL.replace("0001", f"{seed:04d}")
        cells = root.parent / f"{cell}.cells.csv"
        cells.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                         f"{cell},{RECIPE['process']},{RECIPE['loading_mg_cm2']},{RECIPE['eca_wt_frac']},"
                         f"{RECIPE['temperature_c']},{RECIPE['voltage_max_v']},{RECIPE['c_rate']}\n")
        path = root.parent / f"{cell}.bdf.parquet"
        pq.write_table(record(per_cell, seed=seed), path)
        outcomes = ingest(root, [cells, path], progress=False)
        if {o.status for o in outcomes} != {"ingested"}:
            raise RuntimeError(f"{path}: {[o.reason for o in outcomes]}")
        path.unlink()
        cells.unlink()
        have, added = store.query(root, count)["n"][0].as_py(), added + 1
    return {"lake": str(root), "rows": have, "cells_added": added,
            "build_s": round(time.perf_counter() - started, 1)}


def _files(lake: str) -> dict[str, list[str]]:
    from lake import store
    by_cell = defaultdict(list)
    for path in store.query(Path(lake), "SELECT path FROM bulk_files WHERE table_name = 'timeseries' "
                                        "ORDER BY lake_version, path")["path"].to_pylist():
        by_cell[Path(path).parent.name.removeprefix("cell_id=")].append(str(Path(lake) / path))
    return by_cell


def lake_summary(lake: str) -> dict:
    """summarise_cycles over each cell's registered Parquet files (read with pyarrow), all cells."""
    import pyarrow.parquet as pq
    from ingest.cycle_summary import NEEDED, summarise_cycles
    files = _files(lake)
    started = time.perf_counter()
    n_rows, n_cycles, discharge = 0, 0, 0.0
    for cell, paths in files.items():
        table = pq.read_table(paths, columns=list(NEEDED), partitioning=None)
        table = table.select([c for c in table.column_names if table[c].null_count < table.num_rows])  # lake nulls
        out = summarise_cycles(table)
        n_rows, n_cycles = n_rows + table.num_rows, n_cycles + out.num_rows
        discharge += sum(x for x in out["discharge_capacity_mah"].to_pylist() if x is not None)
    return {"seconds": round(time.perf_counter() - started, 3), "rows": n_rows, "cycles": n_cycles,
            "discharge_mah_sum": discharge}


def duckdb_summary(lake: str, via_view: bool) -> dict:
    """The hand-written query, over the registered files directly or over the lake's `timeseries` view."""
    import duckdb
    from lake import store
    files = [p for paths in _files(lake).values() for p in paths]
    con = duckdb.connect(str(store.catalog_path(Path(lake))), read_only=True)
    source = "timeseries" if via_view else "read_parquet([" + ", ".join(f"'{p}'" for p in files) + "])"
    started = time.perf_counter()
    out = con.sql(SQL.format(source=source)).to_arrow_table()
    seconds = time.perf_counter() - started
    rows = con.sql(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    con.close()
    return {"seconds": round(seconds, 3), "rows": rows, "cycles": out.num_rows, "threads": _threads(),
            "discharge_mah_sum": sum(x for x in out["discharge_capacity_mah"].to_pylist() if x is not None)}


def _threads() -> int:
    import duckdb
    return duckdb.sql("SELECT current_setting('threads')").fetchall()[0][0]


def run(work: Path, rows: int, job) -> dict:
    data = job("cycles", "prepare", work=str(work), rows=rows)
    lake = job("cycles", "lake_summary", lake=data["lake"])
    raw = job("cycles", "duckdb_summary", lake=data["lake"], via_view=False)
    view = job("cycles", "duckdb_summary", lake=data["lake"], via_view=True)
    agree = abs(lake["discharge_mah_sum"] - raw["discharge_mah_sum"]) <= 1e-6 * abs(raw["discharge_mah_sum"])
    return {"input": data, "summarise_cycles": lake, "duckdb_raw_parquet": raw, "duckdb_lake_view": view,
            "same_cycles": lake["cycles"] == raw["cycles"], "same_discharge_sum": agree,
            "ratio_to_duckdb": round(lake["seconds"] / raw["seconds"], 2),
            "view_ratio_to_raw": round(view["seconds"] / raw["seconds"], 2)}


def table(result: dict) -> list[dict]:
    lake, raw, view = result["summarise_cycles"], result["duckdb_raw_parquet"], result["duckdb_lake_view"]
    ratio = result["ratio_to_duckdb"]
    return [{
        "what": f"per-cycle summary, {lake['rows'] / 1e6:.0f} M rows → {lake['cycles']:,} cycles "
                f"(`summarise_cycles` vs hand-written DuckDB query)",
        "figure": f"{lake['seconds']:.1f} s vs {raw['seconds']:.1f} s: **{ratio:.2f}×**; same cycles "
                  f"{'yes' if result['same_cycles'] and result['same_discharge_sum'] else 'NO'}",
        "goal": "≤ 1.2×", "verdict": "met" if ratio <= 1.2 else f"missed by {ratio / 1.2:.2f}×",
        "peak_mb": lake["peak_rss_mb"]},
        {"what": "same query through the lake's `timeseries` view vs raw Parquet",
         "figure": f"{view['seconds']:.1f} s vs {raw['seconds']:.1f} s: {result['view_ratio_to_raw']:.2f}×",
         "goal": "view adds nothing", "verdict": "measured", "peak_mb": view["peak_rss_mb"]}]
