"""The same Neware file through cellpy, navani and cathode-lake, end to end (a fresh process: interpreter, imports,
reading, each tool's own processing) and the load call alone.

cellpy and navani cannot share the project's environment (navani pins numpy < 2, fastnda needs numpy ≥ 2.2.6;
cellpy pins pandas < 3), so each runs from its own venv under .venv-bench/ (`python bench/run.py --setup`).
Module top level: standard library only — this file is imported inside those venvs too."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
VENVS = PROJECT / ".venv-bench"
NEWARE_FILE = "neware_ndax/TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
# tool -> pip requirements of its venv
TOOLS = {"cellpy": ["cellpy>=1.0.3", "fastnda>=1.3"], "navani": ["navani>=0.1.22"]}


def setup() -> dict:
    """Create (or update) one venv per comparison tool; returns {tool: error or None}."""
    status = {}
    for tool, requirements in TOOLS.items():
        venv = VENVS / tool
        try:
            if not (venv / "bin" / "python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True,
                           capture_output=True, text=True)
            status[tool] = None
        except subprocess.CalledProcessError as exc:
            status[tool] = f"install failed: {(exc.stderr or '')[-500:]}"
    return status


def python_for(tool: str) -> str | None:
    python = VENVS / tool / "bin" / "python"
    return str(python) if python.exists() else None


def load_cellpy(path: str) -> dict:
    started = time.perf_counter()
    import cellpy
    imported = time.perf_counter()
    cell = cellpy.get(path, instrument="neware_nda")        # raw data, then cellpy's steps and summary
    done = time.perf_counter()
    return {"import_s": round(imported - started, 3), "load_s": round(done - imported, 3),
            "rows": len(cell.data.raw), "cycles": len(cell.data.summary), "version": cellpy.__version__}


def load_navani(path: str) -> dict:
    started = time.perf_counter()
    from importlib import metadata
    from navani import echem
    imported = time.perf_counter()
    frame = echem.echem_file_loader(path)                   # NewareNDA, then navani's columns
    done = time.perf_counter()
    return {"import_s": round(imported - started, 3), "load_s": round(done - imported, 3), "rows": len(frame),
            "cycles": int(frame["full cycle"].nunique()) if "full cycle" in frame else None,
            "version": metadata.version("navani")}


def load_cathode(path: str, lake: str) -> dict:
    """`cathode ingest` into a fresh lake: read, per-cycle summary, Parquet, catalog commit."""
    started = time.perf_counter()
    import shutil
    from ingest.pipeline import ingest
    from lake import store
    imported = time.perf_counter()
    shutil.rmtree(lake, ignore_errors=True)
    root = store.init(Path(lake))
    created = time.perf_counter()
    outcome = ingest(root, [Path(path)], progress=False)[0]
    done = time.perf_counter()
    if outcome.status != "ingested":
        raise RuntimeError(f"{path}: {outcome.reason}")
    cycles = store.query(root, "SELECT count(*) AS n FROM cycles")["n"][0].as_py()
    return {"import_s": round(imported - started, 3), "load_s": round(done - imported, 3), "rows": outcome.rows,
            "cycles": cycles, "new_lake_s": round(created - imported, 3), "ingest_s": round(done - created, 3)}


def run(work: Path, samples: Path, job, repeat: int = 3) -> dict:
    path = str(samples / NEWARE_FILE)
    out = {"file": NEWARE_FILE, "tools": {}}
    runs = {"cathode-lake": lambda: job("compare", "load_cathode", path=path, lake=str(work / "lake-compare"))}
    for tool in TOOLS:
        python = python_for(tool)
        if python is None:
            out["tools"][tool] = {"error": "not installed: run `python bench/run.py --setup`"}
            continue
        runs[tool] = lambda tool=tool, python=python: job("compare", f"load_{tool}", python=python, path=path)
    for tool, measure in runs.items():
        try:
            best = min((measure() for _ in range(repeat)), key=lambda r: r["process_wall_s"])
            out["tools"][tool] = best
        except Exception as exc:                      # a tool that cannot read the file: say so
            out["tools"][tool] = {"error": " ".join(str(exc).split())[-600:]}
    mine = out["tools"]["cathode-lake"]
    for tool in TOOLS:
        other = out["tools"].get(tool, {})
        if "error" not in other and "error" not in mine:
            out["tools"][tool]["speedup_end_to_end"] = round(other["process_wall_s"] / mine["process_wall_s"], 2)
            out["tools"][tool]["speedup_load"] = round(other["load_s"] / mine["load_s"], 2)
    return out


GOALS = {"cellpy": 10, "navani": 2}      # × faster end to end (navani's: the first-contact issue's)


def table(result: dict) -> list[dict]:
    mine, rows = result["tools"]["cathode-lake"], []
    for tool in TOOLS:
        other = result["tools"].get(tool, {})
        what = f"`{Path(result['file']).name}` ({mine.get('rows', '?'):,} rows): {tool} vs cathode-lake"
        if "error" in other or "error" in mine:
            rows.append({"what": what, "figure": f"not measured: {other.get('error') or mine.get('error')}"[:160],
                         "goal": f"≥ {GOALS[tool]}× faster end to end", "verdict": "—", "peak_mb": ""})
            continue
        speed = other["speedup_end_to_end"]
        rows.append({
            "what": what,
            "figure": f"end to end {other['process_wall_s']:.2f} s vs {mine['process_wall_s']:.2f} s: "
                      f"**{speed:.1f}×**;"
                      f" load alone {other['load_s']:.2f} s vs {mine['load_s']:.2f} s ({other['speedup_load']:.1f}×);"
                      f" peak {other['peak_rss_mb']:.0f} MB vs {mine['peak_rss_mb']:.0f} MB",
            "goal": f"≥ {GOALS[tool]}× faster end to end",
            "verdict": "met" if speed >= GOALS[tool] else
            f"missed: {speed:.1f}× (needs {GOALS[tool] / speed:.1f}× more)",
            "peak_mb": mine["peak_rss_mb"]})
    return rows
