"""Bad input at scale: real sample files, truncated, byte-flipped, overwritten or replaced with garbage, through
`cathode ingest`. Each file ends as ingested, duplicate or rejected with cathode-lake's own one-line error — never an
exception escaping the command, a hang (each file has a time limit) or a crash of the process (the command runs in
a worker process, so a segfault is seen, not suffered) — and a rejected file leaves the lake's data unchanged.

`CATHODE_FUZZ_EXAMPLES=2000 CATHODE_FUZZ_SEED=random pytest tests/reliability/test_fuzz.py` fuzzes longer; CI runs a
fixed, derandomized set.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lake import store
from tests.conftest import SAMPLES, lake_state

EXAMPLES = int(os.environ.get("CATHODE_FUZZ_EXAMPLES", "50"))
DERANDOMIZE = os.environ.get("CATHODE_FUZZ_SEED", "fixed") == "fixed"
TIME_LIMIT_S = 20.0                      # per file; the worker's first call also pays its imports
MAX_BYTES = 1_000_000                    # fuzz files up to this size (all but the largest samples)
FUZZ_CELL = "FUZZ-1"


def _samples() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.stat().st_size <= MAX_BYTES
                  and p.suffix not in (".md", ".parquet", ".ftr") and not p.name.endswith("_Metadata.csv"))


def _worker(conn) -> None:
    """Run `cathode ingest` in-process for each path received; send back (exit code, stdout, escaped traceback)."""
    from app.cli import main
    while True:
        args = conn.recv()
        if args is None:
            return
        out, err, escaped = io.StringIO(), io.StringIO(), ""
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(args)
            except BaseException:                       # anything but an exit code is a bug
                code, escaped = None, traceback.format_exc()
        conn.send((code, out.getvalue(), err.getvalue(), escaped))


class Worker:
    """One long-lived process running `cathode ingest`, restarted after a hang or a crash."""

    def __init__(self):
        self.ctx = multiprocessing.get_context("spawn")
        self._start()

    def _start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()

    def run(self, args: list[str], limit_s: float = TIME_LIMIT_S):
        self.conn.send([str(a) for a in args])
        if not self.conn.poll(limit_s):
            self.proc.kill()
            self.proc.join()
            self._start()
            return "hang", None
        try:
            return "done", self.conn.recv()
        except EOFError:
            self.proc.join()
            code = self.proc.exitcode
            self._start()
            return "crash", code

    def close(self):
        self.conn.send(None)
        self.proc.join(10)


@pytest.fixture(scope="module")
def fuzz_lake(tmp_path_factory):
    if not _samples():
        pytest.skip(f"sample files not found at {SAMPLES}")
    root = store.init(tmp_path_factory.mktemp("fuzz") / "lake")
    cells = root.parent / "cells.csv"
    cells.write_text("cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate\n"
                     f"{FUZZ_CELL},in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
    worker = Worker()
    status, result = worker.run(["--lake", root, "ingest", "--no-progress", cells], 120)
    assert status == "done" and result[0] == 0, result
    stats = {"ingested": 0, "duplicate": 0, "rejected": 0, "library error": 0}
    yield root, worker, stats
    worker.close()
    print(f"\nfuzz outcomes: {stats}")


def _mutate(data: bytes, kind: str, where: float, payload: bytes, flips: list[tuple[float, int]]) -> bytes:
    at = int(where * len(data))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        out = bytearray(data)
        for pos, mask in flips:
            i = min(int(pos * len(out)), len(out) - 1)
            out[i] ^= mask
        return bytes(out)
    if kind == "overwrite":
        return data[:at] + payload + data[at + len(payload):]
    if kind == "insert":
        return data[:at] + payload + data[at:]
    if kind == "head":                       # the first bytes (where readers sniff) changed
        return payload + data[len(payload):]
    return payload                           # pure garbage under a real file's name


MUTATION = st.tuples(
    st.sampled_from(("truncate", "flip", "flip", "overwrite", "insert", "head", "garbage")),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=600),
    st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=16),
    # bias positions towards the header, where the structure lives
    st.sampled_from((0.0, 0.001, 0.01, 0.05, None)),
)


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sample=st.sampled_from(_samples() or [Path("missing")]), mutation=MUTATION)
def test_mutated_sample_files_are_rejected_cleanly(fuzz_lake, tmp_path_factory, sample, mutation):
    root, worker, stats = fuzz_lake
    kind, where, payload, flips, scale = mutation
    if scale is not None:
        where, flips = where * scale, [(p * scale, m) for p, m in flips]
    data = _mutate(sample.read_bytes(), kind, where, payload, flips)
    if not data:
        data = b"\x00"
    folder = tmp_path_factory.mktemp("case")
    path = folder / sample.name                    # same name: the suffix still points at the real reader
    path.write_bytes(data)
    before = lake_state(root)

    status, result = worker.run(["--lake", root, "ingest", "--no-progress", "--cell-id", FUZZ_CELL, path])
    case = f"{kind} of {sample.name} ({len(data)} bytes)"
    assert status != "hang", f"no answer within {TIME_LIMIT_S:.0f} s: {case}"
    assert status != "crash", f"the ingest process died (exit code {result}): {case}"
    code, out, err, escaped = result
    assert not escaped, f"an exception escaped `cathode ingest` on {case}:\n{escaped}"
    # an ingested or duplicate file's line is on stdout; a rejected one's on stderr after `error:`, reason below
    line = err.removeprefix("error: ") if err.startswith("error: rejected") else (out.splitlines() or [""])[0]
    outcome = line.split()[0] if line else ""
    assert outcome in ("ingested", "duplicate", "rejected"), f"{case}: {out}{err}"
    assert code == (1 if outcome == "rejected" else 0), f"{case}: exit {code}"
    stats[outcome] += 1
    if outcome == "rejected":
        reason = err.splitlines()[1].strip()
        assert reason and "Traceback" not in out + err
        stats["library error"] += "could not be read (" in reason
        assert lake_state(root) == before, f"a rejected file changed the lake: {case}"
        assert store.query(root, "SELECT count(*) AS n FROM sources WHERE status = 'rejected' AND "   # once per content
                                 "sha256 = ?", [store.sha256_file(path)])["n"][0].as_py() == 1
