"""Crash safety: `cathode ingest` SIGKILLed at random moments never leaves a lake a completed ingest could not.

Each round ingests a fresh folder (lab templates for three new cells + one real instrument file of another vendor)
with a real `cathode ingest` process and kills it with SIGKILL at a seeded random moment: half the rounds at a
random fraction of a normal run's duration, half just after the writer starts staging or committing (the moment
that matters). After each kill: the catalog opens; each bulk view reads exactly the registered, whole files; the
lake's content equals either the reference state before this round or the one after it (built by uninterrupted
ingests); re-running the same ingest lands exactly what is missing (all `ingested` or all `duplicate`) and reaches
the reference state. At the end `cathode vacuum` removes the files the kills left, and nothing a query sees changes.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from lake import store
from lake.vacuum import orphans
from virtual_lab import lab as virtual_lab
from tests.reliability.lakecheck import (cathode_command, check_consistent, copy_sample, fingerprint,
                                         require, run_cathode)

pytestmark = pytest.mark.slow
SEED = 20251125
MIN_KILLS = 20
# real files of every vendor family, small enough that each round stays cheap
INSTRUMENT_FILES = (
    "neware_ndax/21_10_7_85.ndax", "eis/exampleDataGamry.DTA", "arbin_csv/FastCharge_000025_CH8.csv",
    "neware_nda/new_nda_file.nda", "eis/exampleDataZPlot.z", "biologic/gcpl.issue_149.mpt",
    "neware_ndax/46_1_5_60_bts16.ndax", "eis/exampleDataParstat.txt", "maccor/PredictionDiagnostics_000151_test.052",
    "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv", "eis/exampleDataAutolab.txt",
    "neware_ndax/Unit27_Example_Data_File.ndax", "biologic/peis.mpt", "eis/exampleDataCHInstruments.txt",
    "neware_nda/TestFile.nda", "eis/exampleDataVersaStudio.par", "neware_btsda_csv/neware_uio.csv",
    "neware_ndax/TESTCELL0001-Test_Data_Collection_Ndc17.ndax", "eis_pyimpspec_fixtures/data.dta",
    "biologic/gcpl.issue_149.mpr", "biologic/peis.mpr", "biologic/00_test_02_MB_C01.mpr",
)


def _round_inputs(folder: Path, k: int, samples: Path) -> tuple[Path, str]:
    """Lab templates for cells K<k>-0001..3 (from the virtual lab) and the k-th instrument file, for K<k>-0001."""
    folder.mkdir(parents=True)
    for path in virtual_lab.write_templates(folder, 3, seed=k, n_cycles=40):
        path.write_text(path.read_text().replace("VL-", f"K{k:02d}-"))
    if k < len(INSTRUMENT_FILES):
        copy_sample(samples / INSTRUMENT_FILES[k], folder)
    return folder, f"K{k:02d}-0001"


def _kill_at(proc: subprocess.Popen, root: Path, mode: str, rng: random.Random, expected_s: float) -> bool:
    """SIGKILL ``proc`` at the chosen moment; True when it was still running (a real kill)."""
    if mode == "time":
        deadline = time.monotonic() + rng.uniform(0.05, 0.95) * expected_s
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.002)
    else:                                     # the writer has started staging Parquet or opened the catalog
        wal, data = store.catalog_path(root).with_suffix(".duckdb.wal"), root / store.DATA
        before = _listing(data)
        while proc.poll() is None and not wal.exists() and _listing(data) == before:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.02))
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive and proc.returncode == -signal.SIGKILL


def _listing(data: Path) -> set[str]:
    return {os.path.join(d, f) for d, _, files in os.walk(data) for f in files}


def test_sigkill_at_random_moments_never_corrupts_the_lake(tmp_path, samples, cli):
    if not (samples / INSTRUMENT_FILES[0]).exists():
        pytest.skip("sample files missing")
    try:
        import galvani  # noqa: F401
    except ImportError:
        require(False, "galvani is not installed (the biologic extra reads the .mpr samples)")
    rng = random.Random(SEED)
    root, reference = store.init(tmp_path / "lake"), store.init(tmp_path / "reference")
    states = [fingerprint(reference)]
    started = time.monotonic()
    assert run_cathode("formats").returncode == 0
    startup_s = time.monotonic() - started                   # interpreter + imports of a `cathode` process
    expected_s, kills, outcomes, k = 2.0, 0, {"before": 0, "after": 0}, 0
    while kills < MIN_KILLS + 2 and k < 40:
        folder, cell = _round_inputs(tmp_path / "in" / f"r{k:02d}", k, samples)
        done = ingest(reference, [folder], cell_id=cell, progress=False)
        assert {o.status for o in done} == {"ingested"}, [o.reason for o in done if o.reason]
        states.append(fingerprint(reference))

        args = ["--lake", root, "ingest", "--no-progress", "--cell-id", cell, folder]
        proc = subprocess.Popen([*cathode_command(), *map(str, args)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        kills += _kill_at(proc, root, "time" if k % 2 else "stage", rng, expected_s)

        check_consistent(root)
        now = fingerprint(root)
        assert now in (states[-2], states[-1]), f"round {k}: a state no completed ingest gives"
        landed = now == states[-1] != states[-2]
        outcomes["after" if landed else "before"] += 1

        started = time.monotonic()
        code, out, err = cli(*args)                  # the same command, in this process (saves a start-up)
        assert code == 0, out + err
        statuses = {line.split()[0] for line in out.splitlines()[:-1] if line.strip()}
        assert statuses == ({"duplicate"} if landed else {"ingested"}), out
        if not landed:
            expected_s = time.monotonic() - started + startup_s
        check_consistent(root)
        assert fingerprint(root) == states[-1], f"round {k}: the re-run did not land exactly what was missing"
        k += 1

    assert kills >= MIN_KILLS, f"only {kills} of {k} rounds were killed while running"
    stray = orphans(root)[0]
    vacuumed = run_cathode("--lake", root, "vacuum")
    assert vacuumed.returncode == 0, vacuumed.stderr
    assert f"removed {len(stray)} orphaned file(s)" in vacuumed.stdout
    assert orphans(root)[0] == [] and fingerprint(root) == states[-1]
    check_consistent(root)
    print(f"\n{k} rounds, {kills} SIGKILLs: {outcomes['before']} before the commit landed, "
          f"{outcomes['after']} after; {len(stray)} orphaned files vacuumed")
