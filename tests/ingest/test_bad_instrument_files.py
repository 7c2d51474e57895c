"""Broken vendor files through `ingest`: each is rejected with a one-line reason naming it, recorded in `sources`
as rejected, and nothing else is written."""
from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
import tifffile

from ingest.pipeline import ingest
from lake import store
from tests.conftest import lake_state

LABELS = {"voxel_size_m": 1e-6, "labels": {"pore": 0, "ncm": 85, "binder": 170}}


def _truncated(src, dst, fraction=0.5):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _mpr_with_unknown_column(samples, dst):
    from galvani.BioLogic import MPRfile
    src = samples / "biologic" / "peis.mpr"
    ids = np.asarray(MPRfile(str(src)).cols, dtype="<u2").tobytes()
    raw = bytearray(src.read_bytes())
    at = raw.find(ids)
    raw[at + 2: at + 4] = np.uint16(9999).tobytes()
    dst.write_bytes(bytes(raw))
    return dst


def _mpt_cut_mid_row(samples, dst):
    text = (samples / "biologic" / "gcpl.issue_149.mpt").read_bytes()
    cut = text.rfind(b"\n", 0, len(text) // 2) + 25                 # 25 bytes into a data row
    dst.write_bytes(text[:cut])
    return dst


def _zip_not_ndax(dst):
    with zipfile.ZipFile(dst, "w") as archive:
        archive.writestr("notes.txt", "not a Neware file")
    return dst


def _four_labels(dst):
    volume = np.zeros((4, 8, 8), np.uint8)
    volume[1], volume[2], volume[3] = 85, 170, 255
    tifffile.imwrite(dst, volume, photometric="minisblack")
    return dst


CASES = {
    "truncated.ndax": lambda s, d: _truncated(s / "neware_ndax" / "TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation"
                                                                  ".ndax", d),
    "truncated.nda": lambda s, d: _truncated(s / "neware_nda" / "TestFile.nda", d),
    "archive.ndax": lambda s, d: _zip_not_ndax(d),
    "picture.nda": lambda s, d: d.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4) and d,
    "empty.nda": lambda s, d: d.write_bytes(b"") is not None and d,
    "unknown_column.mpr": _mpr_with_unknown_column,
    "cut.mpt": _mpt_cut_mid_row,
    "four_labels.tiff": lambda s, d: _four_labels(d),
    "no_header.csv": lambda s, d: d.write_text("1,2,3\n4,5,6\n") and d,
}
EXPECTED = {"unknown_column.mpr": "Column ID 9999", "four_labels.tiff": "255", "empty.nda": "empty",
            "picture.nda": "no reader recognises", "no_header.csv": "no reader recognises",
            "archive.ndax": "no reader recognises"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_file_is_rejected_and_changes_nothing(name, lake, samples, tmp_path):
    good = samples / "eis" / "exampleDataZPlot.z"
    ingest(lake, [good], progress=False)
    before = lake_state(lake)
    bad = CASES[name](samples, tmp_path / name)
    (outcome,) = ingest(lake, [bad], options=LABELS, progress=False)
    assert outcome.status == "rejected", outcome
    assert outcome.reason.startswith(str(bad)) and "\n" not in outcome.reason
    assert EXPECTED.get(name, "") in outcome.reason
    assert lake_state(lake) == before
    rows = store.query(lake, "SELECT original_name, status, reason FROM sources WHERE status = 'rejected'")
    assert rows.to_pylist() == [{"original_name": name, "status": "rejected", "reason": outcome.reason}]


def test_incomplete_arbin_fastcharge_file(lake, samples, tmp_path):
    """Documented behaviour: TRI's FastCharge_000025 stops in cycle 0 (formation rest/charge never completed).
    It is ingested — the raw rows are real data — with a single cycle 0 that holds no discharge, so `cell_life`
    reports no retention for it rather than inventing one."""
    folder = tmp_path / "arbin"
    folder.mkdir()
    for name in ("FastCharge_000025_CH8.csv", "FastCharge_000025_CH8_Metadata.csv"):
        shutil.copyfile(samples / "arbin_csv" / name, folder / name)
    (outcome,) = ingest(lake, [folder], progress=False)        # the _Metadata.csv sidecar travels with it
    assert outcome.status == "ingested" and outcome.cells == ["EL150800453116"]
    cycles = store.query(lake, "SELECT cycle_index, discharge_capacity_mah FROM cycles").to_pylist()
    assert cycles == [{"cycle_index": 0, "discharge_capacity_mah": 0.0}]
    life = store.query(lake, "SELECT retention_frac FROM retention").to_pylist()
    assert life == [{"retention_frac": None}]
