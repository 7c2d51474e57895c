"""The reader's warnings reach the user (sources.warnings, Outcome.warnings); a file rejected again adds no row;
the files issue 17 found rejected or read wrong go through the one ingest path."""
from __future__ import annotations

import duckdb

from ingest.pipeline import ingest
from lake import store
from tests.conftest import lake_state


def _sources(root):
    return store.query(root, "SELECT original_name, status, warnings, reason FROM sources ORDER BY 1").to_pylist()


def test_warnings_stored_on_sources_and_carried_on_outcome(lake, samples):
    (outcome,) = ingest(lake, [samples / "maccor" / "maccor_two.txt"], progress=False)
    assert outcome.status == "ingested"
    assert any("DPT Time" in w and "time zone" in w for w in outcome.warnings)       # the "timezone unknown" one
    assert any("cut short" in w for w in outcome.warnings)                            # its last line, dropped
    (row,) = _sources(lake)
    assert row["warnings"].split("\n") == list(outcome.warnings)


def test_a_file_without_warnings_stores_null(lake, samples):
    (outcome,) = ingest(lake, [samples / "bdf" / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"],
                        progress=False)
    assert outcome.status == "ingested" and outcome.warnings == ()
    assert _sources(lake)[0]["warnings"] is None


def test_a_file_rejected_twice_adds_one_sources_row(lake, tmp_path):
    bad = tmp_path / "bad.mpt"
    bad.write_bytes(b"EC-Lab ASCII FILE\nNb header lines : 99\n")
    before = lake_state(lake)
    for _ in range(2):
        (outcome,) = ingest(lake, [bad], progress=False)
        assert outcome.status == "rejected" and "bad.mpt" in outcome.reason
    assert [r["status"] for r in _sources(lake)] == ["rejected"]
    assert lake_state(lake) == before


def test_galvani_gap_and_mixed_technique_files_ingest(lake, samples, tmp_path):
    """cv.issue_149.mpr (galvani cannot parse it) lands through its .mpt; mb.mpt lands in timeseries and
    eis_points; both with their warnings on sources."""
    outcomes = ingest(lake, [samples / "biologic" / "cv.issue_149.mpr", samples / "biologic" / "mb.mpt"],
                      progress=False)
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    assert any("galvani cannot read" in w for w in outcomes[0].warnings)
    counts = store.query(lake, """SELECT (SELECT count(*) FROM timeseries) AS ts,
                                         (SELECT count(*) FROM eis_points) AS eis""").to_pylist()[0]
    assert counts == {"ts": 5930 + 1028, "eis": 560}


def test_an_old_lake_gains_the_warnings_column(tmp_path):
    root = store.init(tmp_path / "lake")
    with duckdb.connect(str(next(root.glob("*.duckdb")))) as con:
        con.execute("ALTER TABLE sources DROP COLUMN warnings")
    store.init(root)
    assert "warnings" in store.query(root, "SELECT * FROM sources").column_names
