"""Two `cathode ingest` processes and a reader process at once: every commit lands, the reader never sees half of
one, the second writer waits (and a writer that waits longer than $CATHODE_LOCK_TIMEOUT stops with a clear message).
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lake import store
from virtual_lab import lab as virtual_lab
from tests.reliability.lakecheck import cathode_command, check_consistent, copy_sample, fingerprint, run_cathode

pytestmark = pytest.mark.slow

# The app's query path (store.query: a short read-only connection per query), in a loop until told to stop.
# One statement is one snapshot: per batch it reads cells, cycles and time-series rows, which one commit adds.
READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from lake import store
    root, stop = Path(sys.argv[1]), Path(sys.argv[2])
    sql = " UNION ALL ".join(
        f"SELECT '{b}' AS batch, (SELECT count(*) FROM cells WHERE cell_id LIKE '{b}-%') AS cells, "
        f"(SELECT count(*) FROM cycles WHERE cell_id LIKE '{b}-%') AS cycles, "
        f"(SELECT count(*) FROM timeseries WHERE cell_id LIKE '{b}-%') AS ts, "
        f"(SELECT coalesce(max(lake_version), 0) FROM commits) AS version" for b in sys.argv[3:])
    seen, queries, errors = set(), 0, []
    while not stop.exists() or queries == 0:
        try:
            for row in store.query(root, sql).to_pylist():
                seen.add(json.dumps(row, sort_keys=True))
            queries += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"queries": queries, "seen": sorted(seen), "errors": errors[:5]}))
""")


def _batch(folder: Path, prefix: str, seed: int, samples: Path, instrument: str) -> list[str]:
    """cells.csv + cycles.csv for four new cells, and a real cycler file of the first: one commit's worth."""
    folder.mkdir(parents=True)
    for path in virtual_lab.write_templates(folder, 4, seed=seed, n_cycles=60):
        path.write_text(path.read_text().replace("VL-", f"{prefix}-"))
    copy_sample(samples / instrument, folder)
    return ["--lake", "LAKE", "ingest", "--no-progress", "--cell-id", f"{prefix}-0001", str(folder)]


def _start(args: list[str], root: Path, out: Path, env=None) -> subprocess.Popen:
    args = [str(root) if a == "LAKE" else a for a in args]
    return subprocess.Popen([*cathode_command(), *args], stdout=open(out.with_suffix(".out"), "w"),
                            stderr=open(out.with_suffix(".err"), "w"), env=env)


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_two_writers_and_a_reader_at_once(tmp_path, samples):
    root = store.init(tmp_path / "lake")
    batches = {"WA": _batch(tmp_path / "a", "WA", 1, samples, "neware_ndax/TESTCELL0001-B2-2025-M50T_NewareNDA_"
                            "Investigation.ndax"),
               "WB": _batch(tmp_path / "b", "WB", 2, samples, "neware_nda/TestFile.nda")}
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root), str(stop), *batches],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = {}
    try:
        # Hold the writer lock as a committing writer would, so both ingests reach it while it is taken; then let go.
        with open(root / store.LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for name, args in batches.items():
                writers[name] = _start(args, root, tmp_path / name)
            _wait_for(lambda: all("waiting:" in (tmp_path / f"{n}.err").read_text() for n in writers), 60,
                      "both writers to report that they wait for the lock")
            assert all(p.poll() is None for p in writers.values()), "a writer gave up instead of waiting"
        released = time.monotonic()
        for name, proc in writers.items():
            assert proc.wait(120) == 0, (tmp_path / f"{name}.out").read_text() + (tmp_path / f"{name}.err").read_text()
        both_landed_s = time.monotonic() - released
        time.sleep(0.3)                              # let the reader see the final state a few times
        stop.touch()
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
    finally:                                     # never leave a process behind, whatever failed
        stop.touch()
        for proc in [*writers.values(), reader]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    report = json.loads(out)
    assert report["errors"] == [] and report["queries"] > 0

    check_consistent(root)
    assert store.lake_version(root) == 2
    commits = store.query(root, "SELECT command, summary FROM commits ORDER BY lake_version").to_pylist()
    assert [c["command"] for c in commits] == ["ingest", "ingest"]
    assert all(c["summary"].startswith("3 files") for c in commits), commits          # one commit per ingest
    final = {r["batch"]: r for r in store.query(root, " UNION ALL ".join(
        f"SELECT '{b}' AS batch, (SELECT count(*) FROM cells WHERE cell_id LIKE '{b}-%') AS cells, "
        f"(SELECT count(*) FROM cycles WHERE cell_id LIKE '{b}-%') AS cycles, "
        f"(SELECT count(*) FROM timeseries WHERE cell_id LIKE '{b}-%') AS ts" for b in batches)).to_pylist()}
    for b, row in final.items():
        assert row["cells"] == 4 and row["cycles"] > 0 and row["ts"] > 1000, row
    for line in report["seen"]:                   # each batch: nothing of it, or all of it
        row = json.loads(line)
        whole = {k: final[row["batch"]][k] for k in ("cells", "cycles", "ts")}
        part = {k: row[k] for k in ("cells", "cycles", "ts")}
        assert part in ({"cells": 0, "cycles": 0, "ts": 0}, whole), f"half a commit seen: {row}"
    print(f"\nreader: {report['queries']} queries, {len(report['seen'])} distinct snapshots; both commits landed "
          f"{both_landed_s:.1f} s after the lock was free")

    # A writer that waits longer than $CATHODE_LOCK_TIMEOUT stops with the timeout message; nothing changes.
    before = fingerprint(root)
    late = _batch(tmp_path / "c", "WC", 3, samples, "neware_ndax/46_1_5_60_bts16.ndax")
    env = {**os.environ, "CATHODE_LOCK_TIMEOUT": "1"}
    with open(root / store.LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        proc = run_cathode(*[str(root) if a == "LAKE" else a for a in late], env=env)
        waited = time.monotonic() - started
    assert proc.returncode == 1 and waited >= 1.0
    assert "Waited 1 s for the writer lock" in proc.stderr and "still writing" in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")       # one line, no traceback
    assert fingerprint(root) == before


HOLDER = textwrap.dedent("""
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)     # an analyst's notebook, mid-query
    print("open", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
""")


def test_a_commit_waits_while_a_reader_has_the_catalog_open(lake, tmp_path):
    """DuckDB refuses a writer while another process has the file open; the commit retries instead of failing."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store.catalog_path(lake)), "1.5"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        cells = tmp_path / "cells.csv"
        cells.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                         "R1,in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
        from ingest.pipeline import ingest
        started = time.monotonic()
        assert [o.status for o in ingest(lake, [cells], progress=False)] == ["ingested"]
        assert holder.poll() is not None or time.monotonic() - started > 0.5
    finally:
        holder.kill()
        holder.wait()
    assert store.lake_version(lake) == 1
