"""Ingest limits (ingest/limits.py) on real files: settings move them, the samples stay under every default, text
in UTF-16 is read, a NUL byte is named, and a label volume's identity includes its sidecar."""
from __future__ import annotations

import json
import random
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from ingest import limits
from ingest.pipeline import ingest
from ingest.readers import detect
from ingest.readers.text import scan
from lake import store
from tests.conftest import CELLS_HEADER, GOOD_CELLS, SAMPLES, lake_state, write_csv


def _reference_shape(data: bytes) -> tuple:
    newline = b"\r" if b"\r" in data[:65536] and b"\n" not in data[:65536] else b"\n"
    parts = data.split(newline)
    lines = [p + newline for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    fields = [sum(line.count(d) for d in b",\t;") + 1 for line in lines]
    lengths = [len(line) for line in lines]
    nul = None
    if 0 in data:
        before = data[:data.index(0)]
        line = before.rsplit(newline, 1)[-1]
        nul = (before.count(newline) + 1, sum(line.count(d) for d in b",\t;") + 1)
    longest, widest = max(lengths, default=0), max(fields, default=0)
    return (len(lines), longest, widest, nul, lengths.index(longest) + 1 if lines else 0,
            fields.index(widest) + 1 if lines else 0)


def test_scan_agrees_with_splitting_the_whole_file(tmp_path):
    rnd, path = random.Random(15), tmp_path / "t.csv"
    for _ in range(300):
        alphabet = b"ab,\t;\n\n\x00\rxyz" if rnd.random() < 0.3 else b"abc,,\n"
        data = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 3000)))
        path.write_bytes(data)
        shape, expected = scan(path, block=rnd.choice([1, 2, 7, 64, 4096])), _reference_shape(data)
        if expected[3]:                                         # a NUL ends the scan: only it is reported
            assert shape.nul == expected[3], data[:80]
        else:
            assert (shape.lines, shape.longest_line, shape.widest, shape.nul, shape.longest_at,
                    shape.widest_at) == expected, data[:80]


def _samples():
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix not in (".md", ".ftr"))


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="samples not found")
def test_every_sample_is_far_under_every_default(monkeypatch):
    """Each sample passes every check with the defaults divided by 10: the defaults leave room."""
    for limit in limits.LIMITS:
        monkeypatch.setenv(limit.setting, str(max(1, limit.default // 10)))
    for path in _samples():
        head = limits.check_container(path)
        try:
            fmt = detect(path)
        except Exception:  # noqa: BLE001 - reference files no reader claims (BTSDA Parquet exports)
            continue
        if not (fmt.binary or limits.is_container(head)):
            limits.check_text(path)


def test_a_setting_moves_its_limit(lake, tmp_path, cli, monkeypatch):
    cells = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    before = lake_state(lake)
    monkeypatch.setenv("CATHODE_MAX_ROWS", "2")               # header + two cells = three lines
    code, out, err = cli("--lake", lake, "ingest", "--no-progress", cells)
    assert code == 1 and "lines over the limit" in err and "at most 2 rows (CATHODE_MAX_ROWS)" in err
    assert lake_state(lake) == before
    monkeypatch.setenv("CATHODE_MAX_ROWS", "x")
    code, out, err = cli("--lake", lake, "ingest", "--no-progress", cells)
    assert code == 2 and "CATHODE_MAX_ROWS" in err
    monkeypatch.delenv("CATHODE_MAX_ROWS")
    monkeypatch.setenv("CATHODE_MAX_TEXT_CHARS", "5")         # 'in_situ_polymerized' is longer
    code, out, err = cli("--lake", lake, "ingest", "--no-progress", cells)
    assert code == 1 and "row 2, column 'process'" in err and "CATHODE_MAX_TEXT_CHARS" in err
    monkeypatch.delenv("CATHODE_MAX_TEXT_CHARS")
    assert ingest(lake, [cells], progress=False)[0].status == "ingested"


def test_utf16_cells_and_literature_are_read(lake, tmp_path):
    cells = write_csv(tmp_path / "utf8.csv", CELLS_HEADER, GOOD_CELLS)
    wide = tmp_path / "cells16.csv"
    wide.write_bytes(cells.read_text().encode("utf-16"))            # with BOM, as Windows writes it
    literature = tmp_path / "lit16.csv"
    literature.write_bytes(("cell_id,doi,figure,quantity,value,unit\nL-1,10.1000/x,Fig. 2,discharge_capacity,"
                            "150,mAh/g\n").encode("utf-16"))
    outcomes = ingest(lake, [wide, literature], progress=False)
    assert [(o.status, o.format) for o in outcomes] == [("ingested", "cells_csv"), ("ingested", "literature_csv")]
    assert sorted(store.query(lake, "SELECT cell_id FROM cells")["cell_id"].to_pylist()) == sorted(
        row[0] for row in GOOD_CELLS)
    assert store.query(lake, "SELECT value FROM literature")["value"].to_pylist() == [150.0]


def test_a_nul_byte_is_named_by_row_and_column(lake, tmp_path):
    path = write_csv(tmp_path / "cells.csv", CELLS_HEADER, GOOD_CELLS)
    text = path.read_text().splitlines()
    text[2] = text[2].replace(",", ",\x00", 2)
    path.write_text("\n".join(text) + "\n")
    outcome = ingest(lake, [path], progress=False)[0]
    assert outcome.status == "rejected" and outcome.format == "cells_csv"
    assert f"row 3, column '{CELLS_HEADER[1]}': a NUL byte" in outcome.reason


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="samples not found")
def test_a_volume_whose_sidecar_changed_is_not_a_duplicate(lake, tmp_path):
    volume = shutil.copy(SAMPLES / "tomography_labels" / "electrode.tiff", tmp_path / "electrode.tiff")
    sidecar = tmp_path / "electrode.tiff.json"
    labels = {"pore": 0, "ncm": 85, "binder": 170}
    sidecar.write_text(json.dumps({"voxel_size_m": 1e-6, "labels": labels}))
    assert ingest(lake, [volume], progress=False)[0].status == "ingested"
    assert ingest(lake, [volume], progress=False)[0].status == "duplicate"
    sidecar.write_text(json.dumps({"voxel_size_m": 2e-6, "labels": labels}))
    again = ingest(lake, [volume], progress=False, cell_id="other")[0]
    assert again.status == "ingested", again.reason
    sizes = store.query(lake, "SELECT voxel_size_m FROM microstructure ORDER BY 1")["voxel_size_m"].to_pylist()
    assert sizes == [1e-6, 2e-6]


def test_the_readme_lists_every_limit_with_its_default():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for row in limits.limit_table():
        assert f"| `{row['setting']}` | {row['default']:,} {row['unit']} | {row['limits']} |" in readme, row


def test_xlsx_rows_are_counted_when_the_dimension_is_missing(lake, tmp_path, monkeypatch):
    """The sheet's dimension is optional: rows are counted while inflating, and the count is what is limited."""
    import polars as pl
    book = tmp_path / "lit.xlsx"
    pl.DataFrame({"cell_id": ["L-1"] * 50, "doi": ["10.1000/x"] * 50, "figure": ["Fig. 2"] * 50,
                  "quantity": ["discharge_capacity"] * 50, "value": [float(i) for i in range(50)],
                  "unit": ["mAh/g"] * 50}).write_excel(book)
    stripped = tmp_path / "nodim.xlsx"
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", info.filename):
                data, n = re.subn(rb"<dimension[^>]*/>", b"", data)
                assert n == 1
            out.writestr(info.filename, data)
    monkeypatch.setenv("CATHODE_MAX_ROWS", "40")
    outcome = ingest(lake, [stripped], progress=False)[0]
    assert outcome.status == "rejected" and "sheet 'sheet1.xml' rows (counted so far) over the limit" in \
        outcome.reason and "CATHODE_MAX_ROWS" in outcome.reason
    monkeypatch.setenv("CATHODE_MAX_ROWS", "60")
    assert ingest(lake, [stripped], progress=False)[0].status == "ingested"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="samples not found")
def test_a_cell_id_from_the_command_line_is_bounded_too(lake, cli):
    before = lake_state(lake)
    code, out, err = cli("--lake", lake, "ingest", "--no-progress", "--cell-id", "C" * 201,
                         SAMPLES / "neware_ndax" / "test.ndax")
    assert code == 1 and "column 'cell_id': a cell_id over the limit" in err and "CATHODE_MAX_ID_CHARS" in err
    assert lake_state(lake) == before
