"""Contract: every reader × every sample file of ../shared/samples, checked against SOURCES.md.

SAMPLES_TABLE mirrors SOURCES.md (values and tolerances quoted there): the format that must claim each file and the
values a reading must give. A file added to ../shared/samples later is tested without new code: it must be
recognised by exactly one reader and read without error (test_every_sample_is_read); adding its row here adds the
value checks. Files no reader reads yet are listed in NOT_YET with the reason (xfail; once one is read the test
fails until it is moved to SAMPLES_TABLE).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ingest.readers import detect, formats
from ingest.readers.neware_cycles import COUNTED, STORED, vendor_cycles
from lake.errors import InputError

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"sample files not found: {SAMPLES}")
NOT_SAMPLES = {"SOURCES.md"}
COMPANIONS = ("neware_btsda_reference/", "_Metadata.csv")        # oracles and sidecars, not instrument files
OPTIONS = {"tomography_labels/electrode.tiff": {"voxel_size_m": 100e-6 / 256,
                                                "labels": {"pore": 0, "ncm": 85, "binder": 170}}}
NOT_YET = {  # sample -> why no reader reads it yet (outside issue 17)
    "arbin_xlsx/bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx": "no Arbin xlsx reader (the literature "
                                                                       "reader claims it)",
}

# sample -> (format, expected); keys: rows, v_first, v_last, v_atol, cycles (min, max), i_range (min, max) A,
# dchg_mah {cycle: mAh} (max-min of discharging_capacity_ah within the cycle; dchg_max_mah: its max, EC-Lab's
# per-half-cycle counter as SOURCES.md measures it), span_s, eis (points, spectra),
# z_first (re, im) ohm, f_first Hz. Numbers from SOURCES.md.
T = "timeseries"
SAMPLES_TABLE = {
    "neware_ndax/21_10_7_85.ndax": ("neware_ndax", {"rows": 141, "cycles": (1, 1), "v_first": 0.0}),
    "neware_ndax/46_1_5_60_bts16.ndax": ("neware_ndax", {"rows": 84, "cycles": (1, 1), "v_first": 2.9001}),
    "neware_ndax/TESTCELL0001-Test_Data_Collection_Ndc17.ndax": ("neware_ndax", {"rows": 80, "v_first": 3.5872}),
    "neware_ndax/Unit27_Example_Data_File.ndax": ("neware_ndax", {"rows": 301, "v_first": 2.983}),
    "neware_ndax/TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax": (
        "neware_ndax", {"rows": 77745, "cycles": (1, 7), "v_first": 3.587, "span_s": 77704.2}),
    "neware_ndax/ZZZZZZZZTEST.ndax": ("neware_ndax", {"rows": 301, "cycles": (1, 1), "v_first": 1.1174556,
                                                      "v_last": 0.1410893, "v_atol": 1e-6}),
    "neware_ndax/test.ndax": ("neware_ndax", {"rows": 1464, "cycles": (1, 1), "v_first": 3.4666, "v_last": 1.8105,
                                              "span_s": 43800, "dchg_mah": {1: 0.625451}}),
    "neware_nda/TestFile.nda": ("neware_nda", {"rows": 6670, "cycles": (1, 3), "v_first": 3.882}),
    "neware_nda/2-1-6_61[07005012].nda": ("neware_nda", {"rows": 15567, "v_first": 4.02979}),
    "neware_nda/new_nda_file.nda": ("neware_nda", {"rows": 439, "cycles": (1, 1), "v_first": -0.0911,
                                                   "v_last": -0.0951, "dchg_mah": {1: 0.007056}}),
    "neware_btsda_csv/neware_uio.csv": ("neware_btsda_csv", {"rows": 9065}),
    "biologic/gcpl.issue_149.mpr": ("biologic_mpr", {"rows": 132, "v_first": 3.42287}),
    "biologic/gcpl.issue_149.mpt": ("biologic_mpt", {"rows": 132, "v_first": 3.42287}),
    "biologic/peis.mpr": ("biologic_mpr", {"eis": (32, 1), "f_first": 199998.14, "z_first": (10.5123, -0.73048)}),
    "biologic/peis.mpt": ("biologic_mpt", {"eis": (32, 1), "f_first": 199998.14, "z_first": (10.5123, -0.73048)}),
    "biologic/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr": ("biologic_mpr", {"rows": 46102}),
    "biologic/00_test_02_MB_C01.mpr": ("biologic_mpr", {"rows": 11}),
    **{f"biologic/ca.{s}": (f"biologic_{s}", {"rows": 721, "cycles": (0, 0), "v_first": 0.1464316,
                                              "v_last": 0.298593, "span_s": 43200}) for s in ("mpr", "mpt")},
    **{f"biologic/cp.{s}": (f"biologic_{s}", {"rows": 121, "v_first": -3.24632, "v_last": -3.594434,
                                              "span_s": 119}) for s in ("mpr", "mpt")},
    # the .mpr galvani cannot parse is read from its .mpt beside it
    **{f"biologic/cv.issue_149.{s}": (f"biologic_{s}", {"rows": 5930, "cycles": (1, 3), "v_first": 0.0001802,
                                                        "v_last": 0.0007993, "i_range": (-0.1079509e-3,
                                                                                         0.1081516e-3)})
       for s in ("mpr", "mpt")},
    **{f"biologic/gcpl.issue_211.{s}": (f"biologic_{s}", {
        "rows": 2767, "cycles": (0, 4), "v_first": -0.3223341, "v_last": -0.5999201, "span_s": 28739.7,
        "dchg_max_mah": {0: 0.053389, 1: 0.053862, 2: 0.053960, 3: 0.054041, 4: 0.054083}}) for s in ("mpr", "mpt")},
    **{f"biologic/geis.{s}": (f"biologic_{s}", {"rows": 29, "eis": (2499, 61), "f_first": 1000018.6,
                                                "z_first": (-42.986954, -80.752533)}) for s in ("mpr", "mpt")},
    "biologic/peis.issue_225.no_ece.mpr": ("biologic_mpr", {"eis": (32, 1), "z_first": (1.2274132, -0.11227046)}),
    "biologic/peis.issue_225.no_ece.mpt": ("biologic_mpt", {"eis": (32, 1), "z_first": (1.2274132, -0.11227046)}),
    **{f"biologic/mb.{s}": (f"biologic_{s}", {"rows": 1028, "eis": (560, 8), "cycles": (0, 3),
                                              "v_first": 0.00026495, "v_last": -0.00027586,
                                              "z_first": (135.4276, -418.91501), "f_first": 1000018.6})
       for s in ("mpr", "mpt")},
    "biologic/Sample_data_biologic_CA1.txt": ("biologic_mpt", {"rows": 1397, "v_first": 3.518055,
                                                               "v_last": 3.485448}),
    "biologic/Sample_data_biologic_no_header.mpt": ("biologic_mpt", {"rows": 13, "v_first": 2.9344745,
                                                                     "v_last": 2.9814022, "span_s": 120.12}),
    "biologic/Sample_data_biologic_timestamped.txt": ("biologic_mpt", {"rows": 8, "v_first": 4.1465597,
                                                                       "v_last": 4.154593, "span_s": 12.464,
                                                                       "i_range": (0, 0.45001691)}),
    "eis/exampleDataGamry.DTA": ("gamry_dta", {"eis": (72, 1), "z_first": (825.8584, -1367.239)}),
    "eis/exampleDataZPlot.z": ("zplot_z", {"eis": (21, 1), "z_first": (147.77, -11.335)}),
    "eis/exampleDataParstat.txt": ("parstat_txt", {"eis": (31, 1), "z_first": (-0.00049816, 0.01751435)}),
    "eis/exampleDataVersaStudio.par": ("versastudio_par", {"eis": (61, 1), "z_first": (55.31571, 4.575431)}),
    "eis/exampleDataAutolab.txt": ("autolab_txt", {"eis": (41, 1), "z_first": (0.01378586, 0.00719195)}),
    "eis/exampleDataCHInstruments.txt": ("chi_txt", {"eis": (73, 1), "z_first": (98.91, -2.748)}),
    "eis/exampleDataPowersuite.txt": ("powersuite_txt", {"eis": (30, 1), "f_first": 0.1,
                                                         "z_first": (423929.46, -49014.063)}),
    "eis/maccor_test_file_4267-66-6519.EDA0001.041": ("maccor_eis", {"eis": (60, 1), "f_first": 999999,
                                                                     "z_first": (0.773446, -0.849201)}),
    "eis_pyimpspec_fixtures/data.dta": ("gamry_dta", {"eis": (29, 1), "z_first": (109.00918219439,
                                                                                  -26.5556798765152)}),
    "maccor/PredictionDiagnostics_000151_test.052": ("maccor_text", {"rows": 333}),
    "maccor/maccor_002.txt": ("maccor_text", {"rows": 7446, "cycles": (1, 2), "v_first": 0.1783, "v_last": 1.3,
                                              "span_s": 228590.5, "i_range": (-0.0001619, 0.00016152),
                                              "dchg_mah": {1: 2.25098, 2: 2.25395}}),
    "maccor/maccor_two.txt": ("maccor_text", {"rows": 213, "v_first": 0.1377, "v_last": 0.149, "span_s": 12720}),
    "maccor/maccor_example.001": ("maccor_text", {"rows": 8, "v_first": 3.30678264, "v_last": 3.30617227,
                                                  "span_s": 70}),
    "maccor/sample_data_maccor.csv": ("maccor_text", {"rows": 15, "v_first": 3.668, "v_last": 3.716,
                                                      "span_s": 13.06, "i_range": (0, 28.844)}),
    "maccor/maccor_test_file_4267-66-6519.041": ("maccor_text", {"rows": 74, "v_first": 3.90806439,
                                                                 "v_last": 3.91172656, "span_s": 10}),
    "maccor/PreDiag_000229_000229_truncated.034": ("maccor_text", {"rows": 4061, "cycles": (0, 1),
                                                                   "v_first": 3.45922026, "v_last": 4.18020905,
                                                                   "span_s": 82621.28,
                                                                   "i_range": (-0.69855802, 4.8455024)}),
    "arbin_csv/FastCharge_000025_CH8.csv": ("arbin_csv", {"rows": 248}),
    "arbin_csv/sample_data_arbin.csv": ("arbin_csv", {"rows": 13, "cycles": (1, 1), "v_first": 3.534595,
                                                      "v_last": 3.599601, "span_s": 271.2135,
                                                      "i_range": (0, 2.650138)}),
    "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv": ("bdf", {"rows": 25162}),
    "tomography_labels/electrode.tiff": ("label_tiff", {}),
}


def instrument_files() -> list[str]:
    return sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*") if p.is_file()
                  and p.name not in NOT_SAMPLES and not any(c in p.relative_to(SAMPLES).as_posix() for c in COMPANIONS))


@lru_cache(maxsize=None)
def reading(rel: str):
    path = SAMPLES / rel
    return detect(path).read(path, **OPTIONS.get(rel, {}))


@pytest.mark.parametrize("rel", instrument_files())
def test_every_sample_is_read(rel):
    """Any sample, even one added after this test was written: exactly one reader claims it, and it reads."""
    if rel in NOT_YET:
        try:
            _claimed_and_read(rel)
        except Exception:  # noqa: BLE001 - any failure is the known gap
            pytest.xfail(NOT_YET[rel])
        pytest.fail(f"{rel} is read now: move it from NOT_YET to SAMPLES_TABLE with its values")
    _claimed_and_read(rel)


def _claimed_and_read(rel: str) -> None:
    path = SAMPLES / rel
    head = path.read_bytes()[:8192]
    claims = [f.name for f in formats() if f.sniff(head, path)]
    assert len(claims) == 1, f"{rel}: claimed by {claims}"
    assert reading(rel).tables and all(t.num_rows for t in reading(rel).tables.values())


def test_table_mirrors_the_samples():
    assert set(SAMPLES_TABLE) | set(NOT_YET) == set(instrument_files())


@pytest.mark.parametrize("rel", sorted(SAMPLES_TABLE))
def test_sample_values_as_sources_md_says(rel):
    fmt, want = SAMPLES_TABLE[rel]
    assert detect(SAMPLES / rel).name == fmt
    tables = reading(rel).tables
    tol = want.get("v_atol", 1e-4)
    if any(k in want for k in ("rows", "v_first", "cycles", "span_s", "dchg_mah", "dchg_max_mah", "i_range")):
        ts = pl.from_arrow(tables[T])
        assert ts.height == want.get("rows", ts.height)
        v = ts["voltage_volt"]
        assert v[0] == pytest.approx(want.get("v_first", v[0]), abs=tol)
        assert v[-1] == pytest.approx(want.get("v_last", v[-1]), abs=tol)
        if "cycles" in want:
            assert (ts["cycle_count"].min(), ts["cycle_count"].max()) == want["cycles"]
        if "span_s" in want:
            t = ts["test_time_second"]
            assert t[-1] - t[0] == pytest.approx(want["span_s"], abs=1.0, rel=1e-3)
        if "i_range" in want:
            lo, hi = want["i_range"]
            i = ts["current_ampere"]
            assert i.min() == pytest.approx(lo, rel=1e-3, abs=1e-7) and i.max() == pytest.approx(hi, rel=1e-3,
                                                                                                 abs=1e-7)
        for cycle, mah in want.get("dchg_mah", {}).items():
            q = ts.filter(pl.col("cycle_count") == cycle)["discharging_capacity_ah"]
            assert (q.max() - q.min()) * 1000 == pytest.approx(mah, rel=0.01), f"cycle {cycle}"
        for cycle, mah in want.get("dchg_max_mah", {}).items():
            q = ts.filter(pl.col("cycle_count") == cycle)["discharging_capacity_ah"]
            assert q.max() * 1000 == pytest.approx(mah, rel=0.01), f"cycle {cycle}"
    if "eis" in want:
        eis = tables["eis_points"]
        points, spectra = want["eis"]
        assert eis.num_rows == points and eis["spectrum_index"][-1].as_py() + 1 == spectra
        if "f_first" in want:
            assert eis["frequency_hz"][0].as_py() == pytest.approx(want["f_first"], rel=1e-5)
        if "z_first" in want:
            re_, im = want["z_first"]
            assert eis["z_real_ohm"][0].as_py() == pytest.approx(re_, rel=1e-5)
            assert eis["z_imag_ohm"][0].as_py() == pytest.approx(im, rel=1e-5)


# ---- variants no real sample has: made on the fly from real ones ------------------------------------------
@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_btsda_csv_in_every_windows_encoding(encoding, tmp_path):
    """BTSDA's `Current(µA)` header in cp1252 (µ = 0xB5), UTF-16 and UTF-8 with BOM."""
    source = SAMPLES / "neware_btsda_csv/neware_uio.csv"
    header, body = source.read_text().split("\n", 1)
    rows = [line.split(",") for line in body.splitlines()[:200]]
    col = header.split(",").index("Current(A)")
    for row in rows:
        row[col] = f"{float(row[col]) * 1e6:.3f}"
    path = tmp_path / "export.csv"
    path.write_bytes("\n".join([header.replace("Current(A)", "Current(µA)")] + [",".join(r) for r in rows])
                     .encode(encoding))
    assert encoding != "cp1252" or b"Current(\xb5A)" in path.read_bytes()
    ours = pl.from_arrow(detect(path).read(path).tables[T])
    assert ours.height == 200
    assert np.allclose(ours["current_ampere"], [float(r[col]) * 1e-6 for r in rows], atol=1e-9)


def _layered(tmp_path) -> Path:
    """BTSDA's three-layer CSV (cycle rows, step rows with one leading comma, record rows with two), built from the
    flat export of the same test."""
    source = SAMPLES / "neware_btsda_csv/neware_uio.csv"
    flat = pl.read_csv(source, infer_schema=False)
    record_cols = [c for c in flat.columns if c not in ("Cycle Index", "Step Index", "Step Type")]
    lines = ["Cycle Index,Chg. Cap.(Ah),DChg. Cap.(Ah)", ",Step Index,Step Type,Step Time",
             ",," + ",".join(record_cols)]
    last = (None, None)
    for row in flat.iter_rows(named=True):
        if row["Cycle Index"] != last[0]:
            lines.append(f"{row['Cycle Index']},0,0")
        if (row["Cycle Index"], row["Step Index"]) != last:
            lines.append(f",{row['Step Index']},{row['Step Type']},00:00:00")
        last = (row["Cycle Index"], row["Step Index"])
        lines.append(",," + ",".join(row[c] or "" for c in record_cols))
    path = tmp_path / "layers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_btsda_layered_export_reads_as_its_records(tmp_path):
    path = _layered(tmp_path)
    assert path.read_bytes().startswith(b"Cycle In")
    assert detect(path).name == "neware_btsda_layers"
    layered = pl.from_arrow(detect(path).read(path).tables[T])
    assert layered.equals(pl.from_arrow(reading("neware_btsda_csv/neware_uio.csv").tables[T]))


@pytest.mark.parametrize("damage", ["no step index", "cut mid-record"])
def test_btsda_layered_bad_file(damage, tmp_path):
    path = _layered(tmp_path)
    text = path.read_text()
    if damage == "no step index":
        text = text.replace(",Step Index,", ",Step No,", 1)
    else:
        text = text[: text.index(",", text.index("\n,,", len(text) // 2) + 3) + 1]
    path.write_text(text)
    with pytest.raises(InputError) as error:
        detect(path).read(path)
    assert "layers.csv" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_mpt_in_unicode_encodings(encoding, tmp_path):
    """EC-Lab writes cp1252; an export saved again as UTF-16 or UTF-8 with BOM reads the same."""
    source = SAMPLES / "biologic/mb.mpt"
    path = tmp_path / "mb.mpt"
    path.write_bytes(source.read_bytes().decode("cp1252").encode(encoding))
    ours, theirs = detect(path).read(path).tables, reading("biologic/mb.mpt").tables
    assert ours[T].equals(theirs[T]) and ours["eis_points"].equals(theirs["eis_points"])


def _clock(seconds: float) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{int(days)}d {int(rest // 3600):02d}:{int(rest % 3600 // 60):02d}:{rest % 60:05.2f}"


def test_maccor_three_header_lines_and_day_clock_times(tmp_path):
    """WMG's template (cellpy 'maccor_txt_three'): three preamble lines, TestTime/StepTime as '2d 02:52:51.57',
    thousands grouped by commas ('249,791'); made from the PredictionDiagnostics export (test times reach 8 d 21 h)."""
    source = SAMPLES / "maccor/PredictionDiagnostics_000151_test.052"
    first, header, *rows = source.read_text().splitlines()
    names = header.split("\t")
    t, s = names.index("Test (Sec)"), names.index("Step (Sec)")
    names[t], names[s] = "TestTime", "StepTime"
    out = [first, "Procedure notes:\tnone", "Channel:\t52", "\t".join(names)]
    for row in filter(str.strip, rows):
        fields = row.split("\t")
        fields[t], fields[s] = _clock(float(fields[t])), _clock(float(fields[s]))
        fields[0] = f"{int(fields[0]):,}"
        out.append("\t".join(fields))
    path = tmp_path / "export.052"
    path.write_text("\r\n".join(out) + "\r\n")
    assert "8d 21:41:07.24" in path.read_text()
    ours = pl.from_arrow(detect(path).read(path).tables[T])
    theirs = pl.from_arrow(reading("maccor/PredictionDiagnostics_000151_test.052").tables[T])
    assert ours.height == 333 and ours["record_index"].equals(theirs["record_index"])
    assert np.allclose(ours["test_time_second"], theirs["test_time_second"], atol=0.006)
    assert ours["voltage_volt"].equals(theirs["voltage_volt"]) and ours["current_ampere"].equals(
        theirs["current_ampere"])


def test_bdf_csv_with_quoted_header(tmp_path):
    source = SAMPLES / "bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
    header, body = source.read_text().split("\n", 1)
    path = tmp_path / "quoted.bdf.csv"
    path.write_text(",".join(f'"{h}"' for h in header.split(",")) + "\n" + body)
    ours = detect(path).read(path).tables[T]
    assert detect(path).name == "bdf" and ours.num_rows == 25162
    assert ours.equals(reading("bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv").tables[T])


@pytest.mark.parametrize("title", ['"ZPlotW Version 3.2c"\n', ""])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_zplot_without_comment_lines(title, encoding, tmp_path):
    data = (SAMPLES / "eis/exampleDataZPlot.z").read_text().split("End Comments\n", 1)[1]
    path = tmp_path / "bare.z"
    path.write_bytes((title + "Freq(Hz)\tAmpl\tBias\tTime(Sec)\tZ'(a)\tZ''(b)\tGD\tErr\tRange\n" + data)
                     .encode(encoding))
    points = detect(path).read(path).tables["eis_points"]
    assert detect(path).name == "zplot_z" and points.num_rows == 21
    assert (points["z_real_ohm"][-1].as_py(), points["z_imag_ohm"][-1].as_py()) == (613.68, -137.13)


def test_mpr_galvani_cannot_parse_falls_back_to_its_text_export(tmp_path):
    """galvani 0.5.0 stops at column id 182 in cv.issue_149.mpr: the .mpt beside it is read, with a warning;
    without the .mpt the file is refused with the next step named."""
    got = reading("biologic/cv.issue_149.mpr")
    assert any("galvani cannot read" in w and "cv.issue_149.mpt" in w for w in got.warnings)
    alone = tmp_path / "cv.mpr"
    alone.write_bytes((SAMPLES / "biologic/cv.issue_149.mpr").read_bytes())
    with pytest.raises(ValueError, match=r"cv\.mpr: galvani could not read this \.mpr \(export it as \.mpt"):
        detect(alone).read(alone)


def test_neware_loop_only_counter_numbered_as_btsda():
    """fastnda issue #3: a stored counter that advances only where the step index jumps back undercounts; BTSDA
    then counts charge/discharge alternations. Made from the real M50T file by removing the counter's advance at
    the loop's entry (its first advance is not at a backward jump, which is why BTSDA keeps its 7 cycles)."""
    real = pl.from_arrow(reading("neware_ndax/TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax").tables[T])
    assert reading("neware_ndax/TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax").meta[
        "cycle_count_rule"] == STORED and real["cycle_count"].max() == 7
    loop_only = real.with_columns((pl.col("cycle_count") - 1).clip(lower_bound=1))
    fixed, rule, notes = vendor_cycles(loop_only)
    assert rule == COUNTED and fixed["cycle_count"].max() == 8 and fixed["raw_cycle_count_stored"].max() == 6
    assert notes and "raw_cycle_count_stored" in notes[0]
    assert vendor_cycles(loop_only, "raw")[0]["cycle_count"].max() == 6      # option cycle_mode forces the stored one



@pytest.mark.parametrize("suffix", ["mpr", "mpt"])
def test_modulo_bat_with_peis_loses_no_row(suffix):
    """mb: 1 588 rows = 1 028 cycling rows in timeseries + 560 impedance rows in eis_points (their other columns kept
    raw), so SOURCES.md's per-cycle max Q discharge over all rows is still there."""
    got = reading(f"biologic/mb.{suffix}").tables
    ts, eis = pl.from_arrow(got[T]), pl.from_arrow(got["eis_points"])
    assert ts.height + eis.height == 1588
    both = pl.concat([ts.select("cycle_count", q=pl.col("discharging_capacity_ah") * 1000),
                      eis.select(cycle_count=pl.col("raw_half_cycle") // 2,
                                 q=(-pl.col("raw_q_charge_discharge_ma_h")).clip(lower_bound=0))])
    per_cycle = both.group_by("cycle_count").agg(pl.col("q").max()).sort("cycle_count")["q"].to_list()
    assert per_cycle == pytest.approx([0.002902, 0.002903, 0.002897, 0.002856], rel=1e-3)


def test_bt_lab_date_times_in_time_column():
    """PyProBE test_read_file_timestamp: time/s holds date-times; read as seconds from the acquisition start."""
    ts = reading("biologic/Sample_data_biologic_timestamped.txt").tables[T]
    assert ts["test_time_second"].to_pylist() == pytest.approx([0, 6.464, 7.464, 8.464, 9.464, 10.464, 11.464,
                                                                 12.464], abs=1e-6)


def test_maccor_date_order_is_read_from_the_dates_or_not_guessed(tmp_path):
    """DPT Time 'a/b/yyyy': month first when a second field exceeds 12 (maccor_002: 5/14/2021), day first when a
    first one does; maccor_two's 06/05/2021 reads both ways, so no absolute time is invented."""
    us = reading("maccor/maccor_002.txt")
    path = SAMPLES / "maccor/maccor_002.txt"
    zoned = detect(path).read(path, timezone="UTC").tables[T]["unix_time_second"]
    assert zoned[0].as_py() == 1620747624.0                          # 2021-05-11 15:40:24
    assert us.tables[T]["unix_time_second"].null_count == us.tables[T].num_rows     # no zone given: none
    two = SAMPLES / "maccor/maccor_two.txt"
    ambiguous = detect(two).read(two, timezone="Europe/Berlin")
    assert ambiguous.tables[T]["unix_time_second"].null_count == 213
    assert any("day/month" in w for w in ambiguous.warnings)
    day_first = tmp_path / "maccor_two.txt"
    day_first.write_bytes(two.read_bytes().replace(b"06/05/2021 14:", b"13/05/2021 14:"))
    stamps = detect(day_first).read(day_first, timezone="UTC").tables[T]["unix_time_second"]
    assert stamps[0].as_py() == 1620300226.0                          # 6 May 2021 11:23:46, day first
