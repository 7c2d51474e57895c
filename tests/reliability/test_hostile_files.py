"""Hostile files (issue 15) through a real `cathode ingest` process under a memory cap, with the default limits.

Each file in hostile.ATTACKS is made on the fly, then ingested alone in a child process whose address space is
capped (RLIMIT_AS, so a runaway allocation fails there instead of taking the machine down). Each must end with
exit 1, one rejection line naming its limit, exactly one new `sources` row (rejected), the lake otherwise as before,
and a peak resident set of at most 1 GB (the child's own, from wait4).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lake import store
from tests.conftest import PROJECT, lake_state
from tests.reliability import hostile

CAP_BYTES = 2 << 30                      # address-space cap of the child
PEAK_BYTES = 1 << 30                     # the promise: at most 1 GB resident
TIME_LIMIT_S = 60


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def run_capped(lake: Path, path: Path) -> tuple[int, str, str, int, float]:
    """(exit code, stdout, stderr, peak RSS in bytes, seconds) of `cathode ingest PATH` in a capped child, with
    the default limits whatever this shell sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATHODE_MAX")}
    env["PYTHONPATH"] = str(PROJECT)
    # glibc gives each contending thread its own malloc arena, reserving 64 MB+ of address space apiece: on a busy
    # machine that reservation (not memory) alone can reach the cap and fail DuckDB's or Arrow's next allocation
    env["MALLOC_ARENA_MAX"] = "2"
    start = time.monotonic()
    out_path, err_path = lake.parent / "out.txt", lake.parent / "err.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        child = subprocess.Popen([sys.executable, "-m", "app.cli", "--lake", str(lake), "ingest", "--no-progress",
                                  str(path)], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 preexec_fn=_cap)
        deadline = start + TIME_LIMIT_S
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                os.wait4(child.pid, 0)
                pytest.fail(f"`cathode ingest {path}` still running after {TIME_LIMIT_S} s")
            time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)      # reaped here: Popen must not wait again
    return (child.returncode, out_path.read_text(), err_path.read_text(), usage.ru_maxrss * 1024,
            time.monotonic() - start)


@pytest.fixture(scope="module")
def hostile_lake(tmp_path_factory):
    return store.init(tmp_path_factory.mktemp("hostile") / "lake")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(hostile.ATTACKS))
def test_hostile_file_is_rejected_within_memory(name, hostile_lake, tmp_path):
    make, names = hostile.ATTACKS[name]
    path = make(tmp_path)
    before = lake_state(hostile_lake)
    rows_before = store.query(hostile_lake, "SELECT count(*) AS n FROM sources")["n"][0].as_py()
    code, out, err, peak, seconds = run_capped(hostile_lake, path)
    print(f"{name}: exit {code}, peak RSS {peak / 2**20:.0f} MiB, {seconds:.1f} s")
    assert code == 1, (code, err[-2000:])
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: rejected") and len(lines) == 2, err[-2000:]
    assert names in lines[1] and str(path) in lines[1], lines[1]
    assert peak <= PEAK_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"
    new = store.query(hostile_lake, f"SELECT status, reason FROM sources ORDER BY ingested_at OFFSET {rows_before}")
    assert new.num_rows == 1 and new["status"][0].as_py() == "rejected", new.to_pylist()
    assert names in new["reason"][0].as_py()
    assert lake_state(hostile_lake) == before


def test_a_hostile_file_in_a_folder_is_refused_and_the_rest_is_read(tmp_path, lake, cli):
    """A FIFO found in a folder gets its own rejection line and is never opened; the folder's cells.csv lands."""
    folder = tmp_path / "in"
    folder.mkdir()
    hostile.fifo(folder)
    (folder / "cells.csv").write_text(f"{hostile.CELLS_HEADER}\nF-1,in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
    code, out, err = cli("--lake", lake, "ingest", "--no-progress", folder)
    assert code == 1 and "a FIFO" in err and "pipe.csv" in err
    assert "ingested" in out and "cells.csv" in out
    assert store.query(lake, "SELECT cell_id FROM cells")["cell_id"].to_pylist() == ["F-1"]
