"""`cathode vacuum` removes exactly the files no commit registered, and nothing a query can see."""
from __future__ import annotations

import fcntl
import subprocess
import sys
import textwrap

import pytest

from lake import store
from lake.errors import LakeError
from lake.vacuum import orphans, vacuum
from tests.conftest import lake_state

# A writer that stages a real Parquet file and is then SIGKILLed before its commit: the orphan a crash leaves.
KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    import pyarrow as pa
    from lake import store
    root, cell = sys.argv[1], sys.argv[2]
    rows = pa.table({"cell_id": [cell] * 50, "source_sha256": ["c" * 64] * 50,
                     "voltage_volt": [3.0 + i / 100 for i in range(50)]})
    with store.writer(root, "ingest") as w:
        w.stage_bulk("timeseries", rows, "c" * 64, cell)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _killed_writer(root, cell: str) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root), cell], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr


def _ingested_lake(lake, samples, cli):
    code, out, err = cli("--lake", lake, "ingest", "--cell-id", "C1", "--no-progress",
                         samples / "eis" / "exampleDataGamry.DTA", samples / "neware_ndax" / "46_1_5_60_bts16.ndax",
                         _cells_csv(lake.parent))
    assert code == 0, out + err
    return lake


def _cells_csv(folder):
    path = folder / "cells.csv"
    path.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                    "C1,in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
    return path


def test_vacuum_removes_what_a_killed_writer_left_and_nothing_else(lake, samples, cli):
    _ingested_lake(lake, samples, cli)
    before = store.query(lake, "SELECT count(*) AS n, sum(voltage_volt) AS v FROM timeseries").to_pylist()
    registered = set(store.query(lake, "SELECT path FROM bulk_files")["path"].to_pylist())
    assert registered
    _killed_writer(lake, "C1")                     # orphan beside registered files
    _killed_writer(lake, "GHOST")                  # orphan in a partition folder of its own
    tmp = lake / "data" / "timeseries" / "cell_id=C1" / ".tmp-99999-0.parquet"
    tmp.write_bytes(b"PAR1 half-written")         # killed mid-write, before the rename
    stray, kept, missing = orphans(lake)
    assert len(stray) == 3 and kept == len(registered) and missing == []
    state = lake_state(lake)

    code, out, err = cli("--lake", lake, "vacuum", "--dry-run")
    assert code == 0, err
    assert out.count("would remove") == 4 and lake_state(lake) == state      # 3 lines + the summary

    code, out, err = cli("--lake", lake, "vacuum")
    assert code == 0, err
    removed = [line.split()[1] for line in out.splitlines() if line.startswith("removed  ")]
    assert sorted(removed) == sorted(str(p.relative_to(lake)) for p in stray)
    assert "removed 3 orphaned file(s)" in out and f"{len(registered)} registered file(s) kept" in out
    after = lake_state(lake)
    assert after["files"] == sorted(registered) and {**after, "files": []} == {**state, "files": []}
    assert not (lake / "data" / "timeseries" / "cell_id=GHOST").exists()      # emptied folder removed too
    assert store.query(lake, "SELECT count(*) AS n, sum(voltage_volt) AS v FROM timeseries").to_pylist() == before
    assert orphans(lake)[0] == []

    code, out, _ = cli("--lake", lake, "vacuum")                              # idempotent
    assert code == 0 and "removed 0 orphaned file(s)" in out


def test_vacuum_reports_a_registered_file_that_went_missing(lake, samples, cli):
    _ingested_lake(lake, samples, cli)
    path = store.query(lake, "SELECT path FROM bulk_files LIMIT 1")["path"][0].as_py()
    (lake / path).unlink()
    code, out, err = cli("--lake", lake, "vacuum")
    assert code == 1 and path in err and "restore it from a backup" in err
    assert vacuum(lake).missing == [path]


def test_vacuum_waits_for_the_writer_lock(lake):
    with open(lake / store.LOCK, "a+") as handle:          # a writer in the middle of its commit
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = []
        with pytest.raises(LakeError, match="for the writer lock"):
            vacuum(lake, timeout_s=0.3, on_wait=waited.append)
        assert waited and "waiting" in waited[0]


def test_vacuum_of_no_lake_is_a_one_line_error(tmp_path, cli):
    code, _, err = cli("--lake", tmp_path / "none", "vacuum")
    assert code == 1 and err.startswith("error: No lake at")
