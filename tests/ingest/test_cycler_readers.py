"""Cycler readers against the vendor oracles of ../shared/samples/SOURCES.md, plus the reader contract.

Neware .ndax/.nda are compared row by row with the BTSDA exports fastnda's own tests use (tolerances from
SOURCES.md); the other formats with the row counts and values their source projects assert.
"""
from __future__ import annotations

import random
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.feather as feather
import pytest

from ingest.readers import Reading, detect, formats
from lake.errors import CathodeLakeError, InputError, UnknownFormatError

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
REFERENCE = SAMPLES / "neware_btsda_reference"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"sample files not found: {SAMPLES} "
                                "(../shared/samples beside the project root)")

NDAX = ["21_10_7_85", "46_1_5_60_bts16", "TESTCELL0001-Test_Data_Collection_Ndc17", "Unit27_Example_Data_File",
        "TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation"]
NDA_WITH_BTSDA = {"TestFile.nda": "TestFile", "2-1-6_61[07005012].nda": "2-1-6_61_07005012"}
CYCLER_FILES = {  # sample file -> format that must claim it
    **{f"neware_ndax/{name}.ndax": "neware_ndax" for name in NDAX},
    **{f"neware_nda/{name}": "neware_nda" for name in (*NDA_WITH_BTSDA, "new_nda_file.nda")},
    "neware_btsda_csv/neware_uio.csv": "neware_btsda_csv",
    "maccor/PredictionDiagnostics_000151_test.052": "maccor_text",
    "arbin_csv/FastCharge_000025_CH8.csv": "arbin_csv",
    "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv": "bdf",
}
SUFFIX = {"neware_ndax": ".ndax", "neware_nda": ".nda", "neware_btsda_csv": ".csv", "maccor_text": ".txt",
          "arbin_csv": ".csv", "bdf": ".csv"}


@lru_cache(maxsize=None)
def read(relative: str) -> Reading:
    path = SAMPLES / relative
    return detect(path).read(path)


def frame(relative: str) -> pl.DataFrame:
    return pl.from_arrow(read(relative).tables["timeseries"])


def canonical_step(names: pl.Series) -> list[str]:
    """BTSDA's 'CC Chg'/'CC_DChg'/'Pulse Step' in the readers' lower snake case."""
    return (names.cast(pl.String).str.to_lowercase().str.replace_all(r"[^0-9a-z]+", "_")
            .replace({"pulse_step": "pulse"}).to_list())


def assert_matches_btsda(ours: pl.DataFrame, ref: pl.DataFrame, step_time_atol: float = 5e-7) -> None:
    """fastnda's BTSDA oracle (tests/test_read.py), in SI units."""
    assert ours.height == ref.height
    assert ours["step_index"].to_list() == ref["Step Index"].cast(pl.Int64).to_list()
    assert ours["step_count"].to_list() == ref["Step Count"].cast(pl.Int64).to_list()
    assert ours["cycle_count"].to_list() == ref["Cycle Index"].cast(pl.Int64).to_list()
    assert ours["step_type"].to_list() == canonical_step(ref["Step Type"])
    volt, amp = ours["voltage_volt"].to_numpy(), ours["current_ampere"].to_numpy()
    np.testing.assert_allclose(volt, ref["Voltage(mV)"].to_numpy() / 1000, rtol=0, atol=6e-5)
    np.testing.assert_allclose(amp, ref["Current(uA)"].to_numpy() / 1e6, rtol=0, atol=0.05e-3)
    cap_mah = np.abs(ours["step_net_capacity_ah"].to_numpy()) * 1000
    np.testing.assert_allclose(cap_mah, np.abs(ref["Capacity(mAs)"].to_numpy()) / 3600, rtol=1e-6, atol=6e-4)
    if "Energy(mWs)" in ref.columns:
        energy = np.abs(ours["step_net_energy_wh"].to_numpy()) * 1000
        np.testing.assert_allclose(energy, np.abs(ref["Energy(mWs)"].to_numpy()) / 3600, rtol=1e-5, atol=3e-4)
    np.testing.assert_allclose(ours["step_time_second"].to_numpy(), ref["Time"].to_numpy(), rtol=0,
                               atol=step_time_atol)
    total, ref_total = ours["test_time_second"].to_numpy(), ref["Total Time"].to_numpy()
    tolerance = np.select([ref_total < 1800, ref_total < 1e6], [0.01, 0.1], 1.0)
    assert np.all(np.abs(total - ref_total) <= tolerance)
    # BDF capacity rule: cumulative counters never fall; step counters carry the current's sign
    for col in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh", "discharging_energy_wh"):
        assert ours[col].min() >= 0 and (ours[col].diff().drop_nulls() >= -1e-12).all(), col
    signed = ours.filter(pl.col("current_ampere").abs() > 1e-6, pl.col("step_net_capacity_ah").abs() > 1e-9)
    assert (np.sign(signed["step_net_capacity_ah"]) == np.sign(signed["current_ampere"])).all()
    for col in ("T1", "T1(?)", "T2(?)"):
        if col in ref.columns:
            name = f"temperature_t{col[1]}_celsius"
            np.testing.assert_allclose(ours[name].to_numpy(), ref[col].to_numpy(), rtol=0, atol=0.06)  # 0.1 °C export


# ---------------------------------------------------------------- Neware vs BTSDA / NewareNDA oracles

@pytest.mark.parametrize("name", NDAX)
def test_ndax_matches_btsda_export(name):
    relative = f"neware_ndax/{name}.ndax"
    assert_matches_btsda(frame(relative), pl.read_parquet(REFERENCE / f"{name}.parquet"))
    meta = read(relative).meta
    assert meta["reader_version"].startswith("fastnda ") and meta["cycle_count_rule"].startswith("vendor")
    assert meta["instrument"].startswith("Neware BTS") and meta["channel"] and meta["barcode"]


def test_ndax_multicycle_metadata_and_cycles():
    relative = "neware_ndax/TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
    df, meta = frame(relative), read(relative).meta
    assert df.height == 77_745 and df["cycle_count"].max() == 7  # BTSDA's 7, not the 8 of cycle_mode="chg"
    assert df["test_time_second"][-1] == pytest.approx(77_704.2, abs=0.1)
    assert set(df["step_type"].unique()) == {"rest", "cc_dchg", "cccv_chg"}
    assert (meta["barcode"], meta["channel"], meta["device"]) == ("TESTCELL0001", "14", "168")
    assert meta["started_at"].startswith("2025-09-25T") and meta["started_at"].endswith("Z")
    assert "CCCV_Chg" in meta["step_program"]
    assert df["current_ampere"].filter(df["step_type"] == "cccv_chg").min() >= 0  # positive on charge
    assert df["current_ampere"].filter(df["step_type"] == "cc_dchg").max() <= 0


def test_ndax_aux_temperatures():
    df = frame("neware_ndax/Unit27_Example_Data_File.ndax")
    assert {"temperature_t1_celsius", "temperature_t2_celsius"} <= set(df.columns)
    assert df["voltage_volt"][0] == pytest.approx(2.983, abs=6e-5)


@pytest.mark.parametrize("file_name", sorted(NDA_WITH_BTSDA))
def test_nda_matches_btsda_export(file_name):
    ref = pl.read_parquet(REFERENCE / f"{NDA_WITH_BTSDA[file_name]}.parquet")
    # the 2016 pulse test's export shifts sub-ms digits (0.463075 s is stored as 0.46300075 s): compare to 1 ms
    assert_matches_btsda(frame(f"neware_nda/{file_name}"), ref, 1e-3 if file_name.startswith("2-1-6") else 5e-7)


def test_nda_without_cycle_index_falls_back_to_auto_and_says_so():
    reading = read("neware_nda/2-1-6_61[07005012].nda")
    assert reading.tables["timeseries"].num_rows == 15_567
    assert reading.meta["cycle_count_rule"].startswith("fastnda auto")
    assert any("cycle_mode='auto'" in w for w in reading.warnings)
    assert read("neware_nda/TestFile.nda").meta["cycle_count_rule"].startswith("vendor")


def test_old_nda_matches_newarenda_reference():
    df = frame("neware_nda/new_nda_file.nda")
    ref = pl.from_arrow(feather.read_table(REFERENCE / "new_nda_file.ftr"))
    assert df.height == ref.height == 439
    assert df["voltage_volt"][0] == pytest.approx(-0.0911, abs=1e-6)
    np.testing.assert_allclose(df["voltage_volt"].to_numpy(), ref["Voltage"].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(df["current_ampere"].to_numpy() * 1000, ref["Current(mA)"].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(df["step_time_second"].to_numpy(), ref["Time"].to_numpy(), atol=1e-4)
    # ref "Cycle" is NewareNDA's software cycle number (a new cycle at each charge), not the vendor's index
    assert df["cycle_count"].max() == 1 and ref["Cycle"].max() == 2
    assert df["step_index"].to_list() == ref["Step_Index"].cast(pl.Int64).to_list()
    assert df["step_type"].to_list() == canonical_step(ref["Status"])


def test_btsda_csv_export():
    relative = "neware_btsda_csv/neware_uio.csv"
    df, reading = frame(relative), read(relative)
    assert df.height == 9_065
    assert df.schema["cycle_count"] == pl.Int64 and df.schema["step_index"] == pl.Int64
    assert set(df["step_type"].unique()) == {"rest", "cc_chg", "cc_dchg"}
    assert df["test_time_second"][-1] == 144 * 3600 + 2 * 60 + 18  # 'Cumulative Time' 144:02:18
    assert df["current_ampere"].filter(df["step_type"] == "cc_dchg").max() < 0
    assert df["charging_capacity_ah"].is_sorted() and df["discharging_capacity_ah"].is_sorted()
    assert df["unix_time_second"].null_count() == df.height and "raw_date" in df.columns
    assert any("local wall-clock" in w for w in reading.warnings)
    assert reading.meta["active_mass_mg"] == pytest.approx(2.08, abs=0.01)
    # with a time zone the local 'Date' becomes UTC epoch seconds (Oslo is UTC+2 in May)
    zoned = detect(SAMPLES / relative).read(SAMPLES / relative, timezone="Europe/Oslo").tables["timeseries"]
    assert zoned["unix_time_second"][0].as_py() == 1652884072.0  # 2022-05-18 16:27:52 CEST


# ---------------------------------------------------------------- Maccor, Arbin, BDF

def test_maccor_text_export():
    relative = "maccor/PredictionDiagnostics_000151_test.052"
    df, meta = frame(relative), read(relative).meta
    assert df.height == 333  # beep: raw table 333 rows
    assert meta["channel"] == 52 and meta["barcode"] == "00001E"
    assert meta["step_program"] == "PredictionDiagnostics_000151.000"
    assert df["test_time_second"][0] == pytest.approx(769267.24)
    assert (df["current_ampere"] < 0).all() and (df["step_type"] == "dchg").all()  # state D
    assert df["discharging_capacity_ah"][-1] == pytest.approx(0.0236349063)
    assert {"raw_amp_hr", "raw_state", "raw_dpt_time", "raw_var15"} <= set(df.columns)


def test_arbin_csv_with_metadata_sidecar():
    relative = "arbin_csv/FastCharge_000025_CH8.csv"
    df, meta = frame(relative), read(relative).meta
    assert df.height == 248
    assert df.schema["cycle_count"] == pl.Int64 and df["cycle_count"].max() == 0  # incomplete file (beep)
    assert df["unix_time_second"][0] == pytest.approx(1494645243.4715)
    assert (meta["channel"], meta["test_id"]) == (7, 153)
    assert meta["step_program"].endswith("20170512-4_4C-80PER_4_4C.SDU")
    assert meta["started_at"] == "2017-05-13T03:13:34Z"


BDF = "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"


def test_bdf_reference_file():
    df = frame(BDF)
    assert df.height == 25_162
    assert df["current_ampere"].abs().max() <= 0.2e-3 + 1e-12
    assert df["voltage_volt"].min() == pytest.approx(0.01) and df["voltage_volt"].max() == pytest.approx(2.92, abs=2e-3)
    assert df.schema["step_index"] == pl.Int64


def test_bdf_preferred_labels_and_parquet_read_the_same(tmp_path):
    original = pl.read_csv(SAMPLES / BDF, infer_schema_length=None)
    labels = {"test_time_second": "Test Time / s", "voltage_volt": "Voltage / V", "current_ampere": "Current / A",
              "step_index": "Step Index / 1", "charging_capacity_ah": "Charging Capacity / Ah",
              "discharging_capacity_ah": "Discharging Capacity / Ah",
              "ambient_temperature_celsius": "Ambient Temperature / degC"}
    labelled = original.rename(labels).with_columns(pl.lit("x").alias("Operator Note"))
    labelled.write_csv(tmp_path / "labels.csv")
    original.write_parquet(tmp_path / "machine.parquet")
    expected = frame(BDF)
    for path in (tmp_path / "labels.csv", tmp_path / "machine.parquet"):
        assert detect(path).name == "bdf"
        df = pl.from_arrow(detect(path).read(path).tables["timeseries"])
        assert df.select(expected.columns).equals(expected)
    assert "raw_operator_note" in pl.from_arrow(detect(tmp_path / "labels.csv").read(tmp_path / "labels.csv")
                                                .tables["timeseries"]).columns


# ---------------------------------------------------------------- contract over every sample cycler file

@pytest.mark.parametrize("relative", sorted(CYCLER_FILES))
def test_contract_detect_by_content_and_canonical_table(relative, tmp_path):
    expected = CYCLER_FILES[relative]
    assert detect(SAMPLES / relative).name == expected
    renamed = tmp_path / "upload.dat"  # wrong suffix: content decides, and the reader still reads it
    shutil.copyfile(SAMPLES / relative, renamed)
    fmt = detect(renamed)
    assert fmt.name == expected
    table = fmt.read(renamed).tables["timeseries"]
    assert table.num_rows == read(relative).tables["timeseries"].num_rows
    types = dict(zip(table.schema.names, map(str, table.schema.types)))
    for col in ("test_time_second", "unix_time_second", "voltage_volt", "current_ampere"):
        assert types[col] == "double", col
    for col in ("cycle_count", "step_count", "step_index", "record_index"):
        assert types.get(col, "int64") == "int64", col
    assert types.get("step_type", "string") == "string"
    assert all(not c.startswith("raw_") or c == c.lower() for c in table.schema.names)


def _truncated(data: bytes, fmt: str) -> bytes:
    if fmt in ("neware_ndax", "neware_nda"):
        return data[: len(data) // 2]
    cut = data.index(b"\n", len(data) // 2) + 1  # cut a data line just after its first separator
    return data[: data.index(b"\t" if fmt == "maccor_text" else b",", cut) + 1]


SOURCE_OF = {fmt: rel for rel, fmt in reversed(list(CYCLER_FILES.items()))}


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize("fmt", sorted(SOURCE_OF))
def test_bad_file_raises_input_error_naming_the_file(fmt, kind, tmp_path):
    data = (SAMPLES / SOURCE_OF[fmt]).read_bytes()
    blob = {"truncated": lambda: _truncated(data, fmt), "garbage": lambda: random.Random(7).randbytes(4096),
            "empty": lambda: b""}[kind]()
    path = tmp_path / f"bad{SUFFIX[fmt]}"
    path.write_bytes(blob)
    reader = next(f for f in formats() if f.name == fmt)
    with pytest.raises(InputError) as error:
        reader.read(path)
    assert path.name in str(error.value) and "\n" not in str(error.value)
    try:
        found = detect(path)
    except UnknownFormatError:
        return
    with pytest.raises(CathodeLakeError):
        found.read(path)


def test_every_cycler_format_is_registered_with_a_library():
    names = {f.name: f for f in formats()}
    for fmt in SOURCE_OF:
        assert fmt in names and names[fmt].library and names[fmt].description
