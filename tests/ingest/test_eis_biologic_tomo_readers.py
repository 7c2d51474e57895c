"""EIS, BioLogic and tomography-label readers against the vendor/source-repo oracles in ../shared/samples/SOURCES.md."""
from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ingest.readers import detect, formats
from lake.errors import InputError, UnknownFormatError

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"sample files not found at {SAMPLES}")

BIO = "biologic"
TIFF = "tomography_labels/electrode.tiff"
VOXEL = 100e-6 / 256
LABELS = {"pore": 0, "ncm": 85, "binder": 170}

# file -> format detect() must pick, by content
SAMPLE_FORMATS = {
    "eis/exampleDataGamry.DTA": "gamry_dta",
    "eis_pyimpspec_fixtures/data.dta": "gamry_dta",
    "eis/exampleDataZPlot.z": "zplot_z",
    "eis/exampleDataParstat.txt": "parstat_txt",
    "eis/exampleDataVersaStudio.par": "versastudio_par",
    "eis/exampleDataAutolab.txt": "autolab_txt",
    "eis/exampleDataCHInstruments.txt": "chi_txt",
    "eis/exampleDataPowersuite.txt": "powersuite_txt",
    "eis/maccor_test_file_4267-66-6519.EDA0001.041": "maccor_eis",
    f"{BIO}/gcpl.issue_149.mpr": "biologic_mpr",
    f"{BIO}/gcpl.issue_149.mpt": "biologic_mpt",
    f"{BIO}/peis.mpr": "biologic_mpr",
    f"{BIO}/peis.mpt": "biologic_mpt",
    f"{BIO}/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr": "biologic_mpr",
    f"{BIO}/00_test_02_MB_C01.mpr": "biologic_mpr",
    TIFF: "label_tiff",
}

# SOURCES.md "eis/" and "eis_pyimpspec_fixtures/": points, first f, Z[0], last f, Z[-1], as quoted (strings keep
# the quoted precision). Last values not in SOURCES.md are from impedance.py's test_preprocessing.py arrays.
EIS_EXPECTED = {
    "eis/exampleDataGamry.DTA": (72, "2.000156e5", "825.8584", "-1367.239", "1.58898e-2", "17007.49", "-6635.557"),
    "eis/exampleDataZPlot.z": (21, "3.0e5", "147.77", "-11.335", "3.0e3", "613.68", "-137.13"),
    "eis/exampleDataParstat.txt": (31, "1e4", "-0.00049816", "0.01751435", "10", "0.02709465", "-0.0039979108"),
    "eis/exampleDataVersaStudio.par": (61, "1e5", "55.31571", "4.575431", "0.02154435", "1516.313", "-122.8279"),
    "eis/exampleDataAutolab.txt": (41, "1e4", "0.01378586", "0.00719195", "0.1", "0.03456978", "-0.00390293"),
    "eis/exampleDataCHInstruments.txt": (73, "9.961e4", "98.91", "-2.748", "0.1", "5685", "-15860"),
    "eis_pyimpspec_fixtures/data.dta": (29, "1e4", "109.00918219439", "-26.5556798765152", "1",
                                        "645.478700150494", "-90.618128307383"),
}


def sample(rel: str) -> Path:
    return SAMPLES / rel


def assert_quoted(actual: float, quoted: str, what: str) -> None:
    """Equal within 1e-6 relative, or half a unit in the last digit SOURCES.md quotes (whichever is looser)."""
    q = Decimal(quoted)
    tol = max(1e-6 * abs(float(q)), 0.5 * 10.0 ** q.as_tuple().exponent)
    assert abs(actual - float(q)) <= tol, f"{what}: {actual!r} vs quoted {quoted} (tol {tol:g})"


def table(rel: str, name: str, **options) -> pa.Table:
    reading = detect(sample(rel)).read(sample(rel), **options)
    return reading.tables[name]


# ---- EIS ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rel", sorted(EIS_EXPECTED))
def test_eis_sample_matches_sources(rel):
    n, f0, re0, im0, f1, re1, im1 = EIS_EXPECTED[rel]
    reading = detect(sample(rel)).read(sample(rel))
    t = reading.tables["eis_points"]
    assert t.schema.names[:4] == ["spectrum_index", "frequency_hz", "z_real_ohm", "z_imag_ohm"]
    assert t.schema.field("spectrum_index").type == pa.int64()
    assert t.num_rows == n and set(t["spectrum_index"].to_pylist()) == {0}
    f, zr, zi = (t[c].to_numpy() for c in ("frequency_hz", "z_real_ohm", "z_imag_ohm"))
    for got, quoted, what in ((f[0], f0, "f[0]"), (zr[0], re0, "Re Z[0]"), (zi[0], im0, "Im Z[0]"),
                              (f[-1], f1, "f[-1]"), (zr[-1], re1, "Re Z[-1]"), (zi[-1], im1, "Im Z[-1]")):
        assert_quoted(float(got), quoted, f"{rel} {what}")
    assert reading.meta["instrument"] and reading.meta["reader_version"].startswith("impedance ")


# ---- BioLogic ----------------------------------------------------------------------------------------------
def test_gcpl_mpr_agrees_with_mpt():
    mpr = table(f"{BIO}/gcpl.issue_149.mpr", "timeseries", timezone="Europe/Berlin")
    mpt = table(f"{BIO}/gcpl.issue_149.mpt", "timeseries", timezone="Europe/Berlin")
    assert mpr.num_rows == mpt.num_rows == 132
    common = [c for c in mpr.schema.names if c in mpt.schema.names]
    for required in ("test_time_second", "unix_time_second", "voltage_volt", "current_ampere", "cycle_count",
                     "step_index", "step_count", "charging_capacity_ah", "discharging_capacity_ah"):
        assert required in common, required
    for col in common:
        np.testing.assert_allclose(mpr[col].to_numpy(), mpt[col].to_numpy(), rtol=1e-5, atol=1e-8, err_msg=col)
    for col in ("cycle_count", "step_index", "step_count"):
        assert mpr.schema.field(col).type == pa.int64() == mpt.schema.field(col).type
    assert_quoted(mpr["voltage_volt"][0].as_py(), "3.42287", "first Ewe")
    assert mpt["cycle_count"].to_pylist()[-1] == 3 and mpr["step_count"].to_pylist()[-1] == 12
    # positive on charge: galvanostatic (mode 1) oxidation steps carry +30 µA, reduction steps -30 µA
    mode, oxred, cur = mpt["raw_mode"].to_numpy(), mpt["raw_ox_red"].to_numpy(), mpt["current_ampere"].to_numpy()
    cc = (mode == 1) & (np.abs(cur) > 1e-6)
    assert np.all(cur[cc & (oxred == 1)] > 0) and np.all(cur[cc & (oxred == 0)] < 0)
    assert np.median(np.abs(cur[cc])) == pytest.approx(30e-6, rel=1e-3)   # first point of a step averages less
    assert min(mpt["charging_capacity_ah"].to_numpy().min(), mpt["discharging_capacity_ah"].to_numpy().min()) >= 0
    start = datetime(2024, 1, 10, 10, 2, 29, 886000, tzinfo=timezone.utc).timestamp()   # 11:02:29.886 CET
    np.testing.assert_allclose(mpt["unix_time_second"].to_numpy() - mpt["test_time_second"].to_numpy(), start)


def test_mpt_line_endings_and_decimal_point_do_not_matter(tmp_path):
    raw = sample(f"{BIO}/gcpl.issue_149.mpt").read_bytes()
    n_header = 81
    lines = raw.split(b"\n")
    dotted = b"\n".join(lines[:n_header] + [ln.replace(b",", b".") for ln in lines[n_header:]])
    base = table(f"{BIO}/gcpl.issue_149.mpt", "timeseries")
    for name, content in (("crlf.mpt", raw.replace(b"\n", b"\r\n")), ("dot.mpt", dotted)):
        (tmp_path / name).write_bytes(content)
        other = detect(tmp_path / name).read(tmp_path / name).tables["timeseries"]
        assert other.schema.names == base.schema.names
        for col in base.schema.names:
            np.testing.assert_array_equal(other[col].to_numpy(), base[col].to_numpy(), err_msg=f"{name} {col}")


def test_peis_mpr_agrees_with_mpt():
    mpr = table(f"{BIO}/peis.mpr", "eis_points")
    mpt = table(f"{BIO}/peis.mpt", "eis_points")
    assert mpr.num_rows == mpt.num_rows == 32
    for t in (mpr, mpt):
        assert_quoted(t["frequency_hz"][0].as_py(), "199998.14", "first f")
        assert_quoted(t["z_real_ohm"][0].as_py(), "10.5123", "first Re Z")
        assert_quoted(t["z_imag_ohm"][0].as_py(), "-0.73048", "first Im Z (= -(-Im Z))")
        assert set(t["spectrum_index"].to_pylist()) == {0}
    for col in ("frequency_hz", "z_real_ohm", "z_imag_ohm"):
        np.testing.assert_allclose(mpr[col].to_numpy(), mpt[col].to_numpy(), rtol=1e-5, atol=1e-8, err_msg=col)
    # SOURCES.md: "agree to within 4e-7 Ω"; measured 4.24e-7, the float32 storage of the .mpr
    assert np.max(np.abs(mpr["z_real_ohm"].to_numpy() - mpt["z_real_ohm"].to_numpy())) < 5e-7


def test_peis_sweeps_split_by_cycle_number_or_frequency_reset(tmp_path):
    lines = sample(f"{BIO}/peis.mpt").read_bytes().split(b"\n")
    header, rows = lines[:70], [ln for ln in lines[70:] if ln.strip()]
    cycle_col = header[-1].split(b"\t").index(b"cycle number")

    def with_cycle(row: bytes, value: bytes) -> bytes:
        fields = row.split(b"\t")
        fields[cycle_col] = value
        return b"\t".join(fields)

    split = rows[:12] + [with_cycle(r, b"2.000000000000000E+000") for r in rows[12:]]   # no frequency reset
    for name, body, expected in (("by_cycle.mpt", split, [0] * 12 + [1] * 20),
                                 ("by_reset.mpt", rows + rows, [0] * 32 + [1] * 32)):
        (tmp_path / name).write_bytes(b"\n".join(header + body) + b"\n")
        t = detect(tmp_path / name).read(tmp_path / name).tables["eis_points"]
        assert t["spectrum_index"].to_pylist() == expected, name


def test_other_mpr_row_counts():
    jdb = table(f"{BIO}/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr", "timeseries")
    assert jdb.num_rows == 46102
    assert jdb["cycle_count"].to_numpy().max() >= 4          # 5 cycles, EC-Lab numbering from 0
    assert not np.isnan(jdb["current_ampere"].to_numpy()).any()
    mb = table(f"{BIO}/00_test_02_MB_C01.mpr", "timeseries")
    assert mb.num_rows == 11 and "current_ampere" in mb.schema.names


def test_mpr_without_galvani_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "galvani", None)
    monkeypatch.setitem(sys.modules, "galvani.BioLogic", None)
    with pytest.raises(InputError, match=r"pip install 'cathode-lake\[biologic\]'"):
        detect(sample(f"{BIO}/peis.mpr")).read(sample(f"{BIO}/peis.mpr"))


# ---- tomography --------------------------------------------------------------------------------------------
def _direct_active_fraction(volume: np.ndarray) -> float:
    ncm, binder, pore = volume == 85, volume == 170, volume == 0
    nb = npore = 0
    for axis in range(3):
        n0, n1 = np.moveaxis(ncm, axis, 0)[:-1], np.moveaxis(ncm, axis, 0)[1:]
        b0, b1 = np.moveaxis(binder, axis, 0)[:-1], np.moveaxis(binder, axis, 0)[1:]
        p0, p1 = np.moveaxis(pore, axis, 0)[:-1], np.moveaxis(pore, axis, 0)[1:]
        nb += np.count_nonzero(n0 & b1) + np.count_nonzero(b0 & n1)
        npore += np.count_nonzero(n0 & p1) + np.count_nonzero(p0 & n1)
    return nb / (nb + npore)


def test_label_tiff_matches_taufactor_and_direct_numpy():
    import tifffile

    whole = table(TIFF, "microstructure", voxel_size_m=VOXEL, labels=LABELS, chunk_slices=256).to_pylist()[0]
    chunked = table(TIFF, "microstructure", voxel_size_m=VOXEL, labels=LABELS, chunk_slices=7).to_pylist()[0]
    assert chunked == whole
    assert (whole["shape_z"], whole["shape_y"], whole["shape_x"]) == (256, 256, 256)
    for key, quoted in (("pore_frac", "0.449917"), ("ncm_frac", "0.400466"), ("binder_frac", "0.149616"),
                        ("ssa_pore_per_m", "785502.47"), ("ssa_ncm_per_m", "374027.56"),
                        ("ssa_binder_per_m", "876099.55")):
        assert_quoted(whole[key], quoted, key)
    assert whole["porosity_frac"] == whole["pore_frac"]
    assert whole["pore_volume_m3"] == pytest.approx(whole["pore_frac"] * (100e-6) ** 3, rel=1e-12)
    volume = tifffile.imread(sample(TIFF))
    assert whole["active_area_frac"] == pytest.approx(_direct_active_fraction(volume), rel=1e-12)


def test_label_tiff_sidecar_and_memmap_path(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    volume = rng.choice(np.array([0, 85, 170], np.uint8), size=(23, 17, 19))
    path = tmp_path / "volume.tif"
    tifffile.imwrite(path, volume, photometric="minisblack")    # uncompressed, contiguous: memory-mapped
    (tmp_path / "volume.tif.json").write_text(json.dumps({"voxel_size_m": 1e-6, "labels": LABELS}))
    rows = [detect(path).read(path, chunk_slices=c).tables["microstructure"].to_pylist()[0] for c in (1, 5, 23)]
    assert rows[0] == rows[1] == rows[2]
    assert rows[0]["active_area_frac"] == pytest.approx(_direct_active_fraction(volume), rel=1e-12)
    assert rows[0]["ncm_frac"] == pytest.approx(np.mean(volume == 85), rel=1e-12)


def test_label_tiff_needs_voxel_size_and_labels():
    with pytest.raises(InputError, match="voxel_size_m"):
        detect(sample(TIFF)).read(sample(TIFF), labels=LABELS)
    with pytest.raises(InputError, match="labels"):
        detect(sample(TIFF)).read(sample(TIFF), voxel_size_m=VOXEL)
    with pytest.raises(InputError, match="pore, ncm, binder"):
        detect(sample(TIFF)).read(sample(TIFF), voxel_size_m=VOXEL, labels={"pore": 0, "ncm": 85})


def test_label_tiff_bad_label_maps(tmp_path):
    import tifffile

    volume = np.zeros((4, 5, 6), np.uint8)
    volume[1], volume[2], volume[3, :2] = 85, 170, 255             # a 4th label value
    path = tmp_path / "four.tiff"
    tifffile.imwrite(path, volume, photometric="minisblack", compression="zlib")
    with pytest.raises(InputError, match="label values"):
        detect(path).read(path, voxel_size_m=1e-6, labels=LABELS)
    volume[2:] = 0                                                  # no binder voxels left
    tifffile.imwrite(path, volume, photometric="minisblack", compression="zlib")
    with pytest.raises(InputError, match="does not occur"):        # binder=170 names an absent value
        detect(path).read(path, voxel_size_m=1e-6, labels=LABELS)


# ---- contract: detection by content, bad files -------------------------------------------------------------
@pytest.mark.parametrize("rel", sorted(SAMPLE_FORMATS))
def test_detect_by_content_even_with_wrong_suffix(rel, tmp_path):
    assert detect(sample(rel)).name == SAMPLE_FORMATS[rel]
    renamed = tmp_path / (Path(rel).stem.replace(".", "_") + ".dat")
    shutil.copyfile(sample(rel), renamed)
    assert detect(renamed).name == SAMPLE_FORMATS[rel]


def test_formats_registered_with_library():
    names = {f.name: f for f in formats()}
    for name in set(SAMPLE_FORMATS.values()):
        assert name in names and names[name].library and names[name].description


def _one_sample_per_format() -> dict[str, str]:
    out: dict[str, str] = {}
    for rel, name in SAMPLE_FORMATS.items():
        out.setdefault(name, rel)
    return out


@pytest.mark.parametrize("name,rel", sorted(_one_sample_per_format().items()))
def test_bad_files_raise_input_error(name, rel, tmp_path):
    fmt = {f.name: f for f in formats()}[name]
    suffix = Path(rel).suffix
    options = {"voxel_size_m": VOXEL, "labels": LABELS} if name == "label_tiff" else {}
    raw = sample(rel).read_bytes()
    # cut 8 bytes into a data row (VersaStudio: inside the data segment, before </Segment1>)
    end = raw.find(b"</Segment1>") - 100 if name == "versastudio_par" else int(len(raw) * 0.6)
    cut = end if name == "label_tiff" else raw.rfind(b"\n", 0, end) + 8
    rng = np.random.default_rng(1)
    cases = {"empty": b"", "garbage": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
             "truncated": raw[:cut]}
    for case, content in cases.items():
        path = tmp_path / f"{case}{suffix}"
        path.write_bytes(content)
        if case != "truncated":
            with pytest.raises(UnknownFormatError):
                detect(path)
        with pytest.raises(InputError) as info:
            fmt.read(path, **options)
        assert str(path) in str(info.value) and "\n" not in str(info.value), (case, str(info.value))
