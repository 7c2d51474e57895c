"""Vendor files through the one ingest path: cells by barcode / name / --cell-id, cycle summaries, continued
tests, parallel reading, and the whole samples folder — on the real files in ../shared/samples."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from ingest.pipeline import ingest
from lake import store
from virtual_lab import lab as virtual_lab
from tests.conftest import CELLS_HEADER, lake_state, write_csv
from tests.ingest.test_reader_contract import NOT_YET

TOMO = ["--voxel-size-m", 100e-6 / 256, "--labels", "pore=0,ncm=85,binder=170"]
NOT_INSTRUMENT = {"SOURCES.md", "new_nda_file.ftr"}


def test_the_whole_samples_folder(cli, samples, tmp_path):
    code, out, err = cli("--lake", tmp_path / "lake", "ingest", samples, *TOMO, "--no-progress")
    said = [line.removeprefix("error: ") for line in (out + err).splitlines()]    # rejections may go to stderr
    lines = {line.split()[-1].split("/")[-1]: line.split()[0] for line in said
             if line.startswith(("ingested", "rejected", "duplicate"))}
    assert code == 1                                  # the BTSDA reference exports are not instrument files
    rejected = {name for name, status in lines.items() if status == "rejected"}
    references = {p.name for p in (samples / "neware_btsda_reference").iterdir()}
    # an .mpt whose .mpr landed first is the same cycling test again: refused as overlapping in time (EIS-only
    # pairs are not compared); NOT_YET: files no reader reads yet (see the contract test)
    twins = {f"{stem}.mpt" for stem in ("ca", "cp", "cv.issue_149", "gcpl.issue_149", "gcpl.issue_211", "geis", "mb")}
    not_yet = {Path(rel).name for rel in NOT_YET}
    assert rejected == references | {"SOURCES.md"} | twins | not_yet
    instrument = [p for p in samples.rglob("*") if p.is_file() and p.name not in references | NOT_INSTRUMENT
                  and not p.name.endswith("_Metadata.csv") and p.name not in twins | not_yet]
    assert all(lines[p.name] == "ingested" for p in instrument)
    root = tmp_path / "lake"
    rows = {r["original_name"]: r["n"] for r in store.query(root, """
        SELECT s.original_name, count(*) AS n FROM timeseries t JOIN sources s ON s.sha256 = t.source_sha256
        GROUP BY 1""").to_pylist()}
    assert rows["TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"] == 77745
    assert rows["TestFile.nda"] == 6670 and rows["2-1-6_61[07005012].nda"] == 15567
    assert rows["PredictionDiagnostics_000151_test.052"] == 333
    assert rows["SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"] == 25162
    assert rows["jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"] == 46102
    spectra = store.query(root, "SELECT count(*) AS n FROM eis_spectra")["n"][0].as_py()
    assert spectra == 82       # 9 vendor EIS files, peis and peis.issue_225 (.mpr and .mpt), geis 61, mb 8
    micro = store.query(root, "SELECT * FROM microstructure").to_pylist()[0]
    assert micro["pore_frac"] == pytest.approx(0.449917, abs=1e-6)
    assert micro["ssa_ncm_per_m"] == pytest.approx(374027.56, rel=1e-6)
    # Cells came from barcodes (TESTCELL0001) and file names; both TESTCELL0001 files joined as one test.
    assert store.query(root, "SELECT count(*) AS n FROM cells WHERE process IS NULL")["n"][0].as_py() >= 15
    b2 = store.query(root, "SELECT max(cycle_count) AS c FROM timeseries t JOIN sources s ON "
                           "s.sha256 = t.source_sha256 WHERE s.original_name LIKE 'TESTCELL0001-B2%'")
    assert b2["c"][0].as_py() == 7                    # BTSDA's Cycle Index, not fastnda's default 8


def test_cycle_summaries_match_navani(lake, samples):
    path = samples / "biologic" / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
    (outcome,) = ingest(lake, [path], progress=False)
    assert outcome.status == "ingested" and outcome.cells == ["jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09"]
    means = store.query(lake, """SELECT avg(discharge_capacity_mah) AS dis, avg(charge_capacity_mah)
        FILTER (WHERE charge_capacity_mah > 0) AS chg, avg(mean_discharge_voltage_v) AS vd,
        avg(mean_charge_voltage_v) AS vc FROM cycles""").to_pylist()[0]
    # navani tests/test_echem.py cycle_summary means (its own averaging of voltage differs in the 4th decimal)
    assert means["dis"] == pytest.approx(0.7778788, abs=1e-6)
    assert means["chg"] == pytest.approx(0.9535533, abs=1e-6)
    assert means["vd"] == pytest.approx(2.7871832, abs=1e-3) and means["vc"] == pytest.approx(2.97389223, abs=1e-3)


def test_seven_cycles_and_the_barcode_names_the_cell(lake, samples):
    path = samples / "neware_ndax" / "TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
    (outcome,) = ingest(lake, [path], progress=False)
    assert outcome.cells == ["TESTCELL0001"]
    cycles = store.query(lake, "SELECT cycle_index, discharge_capacity_mah FROM cycles ORDER BY 1").to_pylist()
    assert [c["cycle_index"] for c in cycles] == list(range(1, 8))
    assert cycles[1]["discharge_capacity_mah"] == pytest.approx(4720.47, abs=0.01)


def test_a_cycle_ends_at_its_last_sample_when_the_file_has_absolute_times(lake, samples):
    """Neware logs the wall clock: each cycle's ended_at is the time of its last sample (UTC), so the cell has a
    span; Maccor's export here has only test time: the cycles are there, their times null, and no span."""
    path = samples / "neware_ndax" / "TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
    relative = samples / "maccor" / "PredictionDiagnostics_000151_test.052"
    assert [o.status for o in ingest(lake, [path, relative], progress=False)] == ["ingested", "ingested"]
    ended = store.query(lake, "SELECT cycle_index, epoch(ended_at) AS s FROM cycles WHERE cell_id = 'TESTCELL0001' "
                              "ORDER BY 1").to_pylist()
    last = store.query(lake, """SELECT cycle_count, arg_max(unix_time_second, test_time_second) AS s
        FROM timeseries WHERE cell_id = 'TESTCELL0001' GROUP BY 1 ORDER BY 1""").to_pylist()
    assert [r["cycle_index"] for r in ended] == [r["cycle_count"] for r in last] == list(range(1, 8))
    assert [r["s"] for r in ended] == pytest.approx([r["s"] for r in last], abs=1e-6)
    assert ended[-1]["s"] == pytest.approx(1758880431.875, abs=1e-3)      # 2025-09-26 09:53:51.875 UTC
    times = store.query(lake, "SELECT count(*) AS n, count(ended_at) AS timed FROM cycles WHERE cell_id <> "
                              "'TESTCELL0001'").to_pylist()[0]
    assert times["n"] > 0 and times["timed"] == 0
    spans = store.query(lake, "SELECT cell_id, cycles_run, test_ended FROM cell_spans").to_pylist()
    assert spans == [{"cell_id": "TESTCELL0001", "cycles_run": 7, "test_ended": False}]


def test_a_cells_csv_in_the_same_call_gives_the_recipe(lake, samples, tmp_path):
    data = tmp_path / "MYCELL-7.ndax"
    shutil.copy(samples / "neware_ndax" / "46_1_5_60_bts16.ndax", data)
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER,
                      [["ZZZZZZZZTEST", "hot_calendered", 12.7, 0, 60, 4.2, 0.1, 12.7, 0.15]])
    outcomes = ingest(lake, [data, cells], progress=False)
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    assert outcomes[0].cells == ["ZZZZZZZZTEST"]      # barcode beats the file name once the cell is known
    row = store.query(lake, "SELECT process, active_mass_mg FROM cells").to_pylist()
    assert row == [{"process": "hot_calendered", "active_mass_mg": 12.7}]


def test_cell_id_option_and_a_later_recipe_supersedes(lake, samples, tmp_path):
    path = samples / "neware_nda" / "TestFile.nda"
    (outcome,) = ingest(lake, [path], cell_id="VAPCELL-16", progress=False)
    assert outcome.cells == ["VAPCELL-16"]
    assert store.query(lake, "SELECT process FROM cells")["process"].to_pylist() == [None]
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER,
                      [["VAPCELL-16", "cold_calendered", 12.7, 0, 25, 4.2, 0.1, 12.7, 0.25]])
    assert ingest(lake, [cells], progress=False)[0].status == "ingested"
    assert store.query(lake, "SELECT process FROM cells")["process"].to_pylist() == ["cold_calendered"]
    assert store.query(lake, "SELECT count(*) AS n FROM cell_records")["n"][0].as_py() == 2
    again = write_csv(tmp_path / "cells2.csv", CELLS_HEADER,
                      [["VAPCELL-16", "hot_calendered", 12.7, 0, 25, 4.2, 0.1, 12.7, 0.15]])
    (outcome,) = ingest(lake, [again], progress=False)
    assert outcome.status == "rejected" and "already in the lake with a recipe" in outcome.reason


def _split_record(tmp_path):
    """A virtual-lab cell's time series cut in two files at a cycle boundary: a test continued in a new file."""
    result = virtual_lab.simulate(virtual_lab.seed_recipes()["PCA"], 10, seed=3)
    table = virtual_lab.timeseries(result, n_cycles=4, seed=3)
    cycle = table["cycle_count"].to_numpy()
    first, second = table.filter(cycle <= 2), table.filter(cycle > 2)
    second = second.set_column(second.column_names.index("cycle_count"), "cycle_count",
                               [[int(c) - 2 for c in second["cycle_count"].to_pylist()]])
    a = virtual_lab.write_timeseries_csv(first, tmp_path / "PCA-1.part1.bdf.csv")
    b = virtual_lab.write_timeseries_csv(second, tmp_path / "PCA-1.part2.bdf.csv")
    return a, b


def test_a_continued_test_joins_in_time_order(lake, tmp_path):
    first, second = _split_record(tmp_path)
    outcomes = ingest(lake, [second, first], progress=False)          # given out of order
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    cycles = store.query(lake, "SELECT cycle_index FROM cycles ORDER BY 1")["cycle_index"].to_pylist()
    assert cycles == [1, 2, 3, 4]


def test_a_file_overlapping_an_earlier_one_is_rejected(lake, tmp_path):
    first, second = _split_record(tmp_path)
    ingest(lake, [second], progress=False)
    before = lake_state(lake)
    (outcome,) = ingest(lake, [first], progress=False)
    assert outcome.status == "rejected" and "overlaps in time an earlier file" in outcome.reason
    assert lake_state(lake) == before


def test_one_bad_file_in_a_folder_does_not_stop_the_good_ones(lake, samples, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(samples / "maccor" / "PredictionDiagnostics_000151_test.052", folder)
    (folder / "photo.nda").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    shutil.copy(samples / "eis" / "exampleDataZPlot.z", folder)
    outcomes = ingest(lake, [folder], progress=False)
    status = {o.path.name: o.status for o in outcomes}
    assert status == {"PredictionDiagnostics_000151_test.052": "ingested", "photo.nda": "rejected",
                      "exampleDataZPlot.z": "ingested"}
    assert "photo.nda" in next(o.reason for o in outcomes if o.status == "rejected")
    assert store.query(lake, "SELECT status, count(*) AS n FROM sources GROUP BY 1 ORDER BY 1").to_pylist() == [
        {"status": "ingested", "n": 2}, {"status": "rejected", "n": 1}]


def test_reading_in_parallel_gives_the_same_lake(tmp_path, samples):
    files = [samples / "neware_nda" / "TestFile.nda", samples / "bdf" / next(
        p.name for p in (samples / "bdf").iterdir()), samples / "eis" / "exampleDataGamry.DTA"]
    lakes = [store.init(tmp_path / f"lake{w}") for w in (1, 2)]
    for root, workers in zip(lakes, (1, 2)):
        assert all(o.status == "ingested" for o in ingest(root, files, progress=False, workers=workers))
    for sql in ("SELECT * EXCLUDE (lake_version) FROM cycles ORDER BY ALL", "SELECT * FROM timeseries ORDER BY ALL",
                "SELECT * FROM eis_points ORDER BY ALL"):
        assert store.query(lakes[0], sql).equals(store.query(lakes[1], sql))


def test_raw_vendor_columns_are_kept(lake, samples):
    ingest(lake, [samples / "maccor" / "PredictionDiagnostics_000151_test.052"], progress=False)
    columns = store.query(lake, "SELECT * FROM timeseries LIMIT 1").column_names
    assert "voltage_volt" in columns and any(c.startswith("raw_") for c in columns)
    table = pacsv.read_csv(samples / "maccor" / "PredictionDiagnostics_000151_test.052",
                           read_options=pacsv.ReadOptions(skip_rows=1),
                           parse_options=pacsv.ParseOptions(delimiter="\t"))
    assert len([c for c in columns if c.startswith("raw_")]) >= table.num_columns - 12


def test_summaries_treat_all_null_columns_as_absent(samples):
    import pyarrow as pa

    from ingest.cycle_summary import summarise_cycles
    from ingest.readers import detect
    path = samples / "neware_ndax" / "TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
    table = detect(path).read(path).tables["timeseries"]
    blank = table.set_column(table.column_names.index("step_count"), "step_count",
                             pa.nulls(table.num_rows, pa.int64()))
    assert summarise_cycles(blank).equals(summarise_cycles(table.drop_columns(["step_count"])))
    assert summarise_cycles(blank)["discharge_capacity_mah"][1].as_py() == pytest.approx(4720.47, abs=0.01)


def test_spectrum_voltage_is_the_median_cell_voltage_the_instrument_logged(samples, tmp_path):
    """EC-Lab logs <Ewe> at every frequency: the spectrum's voltage_v is its median, the same from the .mpr (galvani)
    and the .mpt (text), and equal to the median of the .mpt's <Ewe>/V column read here with numpy. Vendor files
    without a voltage column leave it empty."""
    pytest.importorskip("galvani")
    mpt = samples / "biologic" / "peis.mpt"
    lines = mpt.read_bytes().decode("cp1252").splitlines()
    n_header = int(lines[1].split(":")[1])
    column = lines[n_header - 1].split("\t").index("<Ewe>/V")
    expected = float(np.median([float(line.split("\t")[column]) for line in lines[n_header:] if line.strip()]))
    voltages = {}
    for name in ("peis.mpr", "peis.mpt"):
        root = store.init(tmp_path / name)
        ingest(root, [samples / "biologic" / name], progress=False)
        voltages[name] = store.query(root, "SELECT voltage_v FROM eis_spectra")["voltage_v"].to_pylist()
    assert voltages["peis.mpr"] == pytest.approx([expected], abs=1e-6)
    assert voltages["peis.mpt"] == pytest.approx([expected], abs=1e-9)
    ingest(store.init(tmp_path / "gamry"), [samples / "eis" / "exampleDataGamry.DTA"], progress=False)
    assert store.query(tmp_path / "gamry", "SELECT voltage_v FROM eis_spectra")["voltage_v"].to_pylist() == [None]
