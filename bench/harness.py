"""Benchmark plumbing: run one measurement in its own process (wall time, peak memory), describe the machine,
write results JSON and the README table. No project imports here, so foreign tools' venvs can use it too."""
from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
RESULTS = BENCH / "results"
README = PROJECT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far: VmHWM, which starts afresh at exec (getrusage's ru_maxrss
    carries the forking parent's high-water mark over on Linux)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job(module: str, function: str, python: str | None = None, timeout_s: float = 3600, **kwargs) -> dict:
    """Run ``bench/<module>.py:function(**kwargs)`` in a fresh process; its dict plus peak memory and the
    process's wall time (interpreter start and imports included: 'end to end')."""
    started = time.perf_counter()
    proc = subprocess.run([python or sys.executable, "-m", "bench.harness", module, function, json.dumps(kwargs)],
                          capture_output=True, text=True, timeout=timeout_s, cwd=tempfile.gettempdir(),
                          env={**os.environ, "PYTHONPATH": str(PROJECT)})
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.{function} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "process_wall_s": round(wall, 3)}


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory_mb": mem, "python": platform.python_version(),
            "platform": platform.platform(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def versions(*dists: str) -> dict:
    from importlib import metadata
    out = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def write_result(name: str, payload: dict, folder: Path | None = None) -> Path:
    """Write ``payload`` atomically as <folder>/<name>.json (default folder: bench/results)."""
    folder = RESULTS if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    os.replace(tmp, path)
    return path


def table_rows() -> list[dict]:
    """Rows of every results file that has a "table" list ({"what", "figure", "goal", "verdict", "peak_mb"}),
    ours and other engineers' (propose latency, app render …), in file-name order."""
    rows = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for row in data.get("table", []) if isinstance(data, dict) else []:
            rows.append({**row, "source": path.name})
    return rows


def update_readme(machine_info: dict) -> None:
    """Replace the block between the bench markers in README.md (append a Benchmarks section if absent)."""
    lines = ["| benchmark | measured | goal | verdict | peak memory |", "|---|---|---|---|---|"]
    for row in table_rows():
        peak = f"{row['peak_mb']:.0f} MB" if isinstance(row.get("peak_mb"), (int, float)) else row.get("peak_mb", "")
        lines.append(f"| {row['what']} | {row['figure']} | {row.get('goal', '')} | {row.get('verdict', '')} "
                     f"| {peak} |")
    lines.append("")
    lines.append(f"Table rebuilt {machine_info['date']} on {machine_info['nproc']} × {machine_info['cpu_model']}, "
                 f"{machine_info['memory_mb'] / 1024:.0f} GiB, Python {machine_info['python']} (load average "
                 f"{machine_info['load_average_at_start'][0]}); each row's own date, machine and load are in its "
                 "`bench/results/*.json`.")
    block = "\n".join([START, *lines, END])
    text = README.read_text()
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = (text.rstrip("\n") + "\n\n## Benchmarks\n\n`python bench/run.py` (about 15 min; `--quick` for a "
                "smaller run) measures and rewrites this table.\n\n" + block + "\n")
    README.write_text(text)


if __name__ == "__main__":                      # python -m bench.harness MODULE FUNCTION JSON-KWARGS
    module, function, kwargs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = getattr(importlib.import_module(f"bench.{module}"), function)(**kwargs)
    print(json.dumps({**result, "peak_rss_mb": round(peak_rss_mb(), 1)}))
