"""Issue 15, the smaller items: uploads are size-checked before anything is written and copied in chunks (a stream
longer than it said is refused, leaving nothing), and a deeply nested sidecar JSON is a clear rejection."""
from __future__ import annotations

import io

import numpy as np
import pytest
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

from app.ui import uploads
from lake.errors import InputError


def streamlit_file(name: str, data: bytes) -> UploadedFile:
    """What st.file_uploader hands the Ingest page."""
    return UploadedFile(UploadedFileRec("id-" + name, name, "application/octet-stream", data), None)


class Liar(io.BytesIO):
    """A stream whose announced size is smaller than what it holds."""
    size = 10


def files_under(root):
    folder = root / uploads.UPLOADS
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_streamlit_upload_is_copied_in_chunks(lake, monkeypatch):
    monkeypatch.setattr(uploads, "CHUNK", 7)                    # several chunks for a small file
    data = bytes(range(256)) * 3
    (path,) = uploads.save(lake, [uploads.Upload("v.bin", streamlit_file("v.bin", data))], max_mb=1)
    assert path.read_bytes() == data


def test_an_upload_over_the_cap_is_refused_before_anything_is_written(lake):
    big = streamlit_file("big.csv", b"x" * 5000)
    with pytest.raises(InputError, match="big.csv: the file is over the upload size cap"):
        uploads.save(lake, [uploads.Upload("small.csv", b"a"), uploads.Upload("big.csv", big)], max_mb=0.001)
    assert files_under(lake) == [] and big.tell() == 0         # not even read


def test_a_stream_longer_than_announced_is_refused_and_leaves_nothing(lake):
    liar = Liar(b"y" * 5000)
    with pytest.raises(InputError, match="over the upload size cap"):
        uploads.save(lake, [uploads.Upload("ok.csv", b"a,b\n"), uploads.Upload("liar.csv", liar)], max_mb=0.001)
    assert files_under(lake) == []
    assert not any((lake / uploads.UPLOADS).iterdir())          # its folder removed too


def test_a_deeply_nested_sidecar_is_a_clear_rejection(lake, tmp_path):
    import tifffile

    from ingest.pipeline import ingest
    volume = np.zeros((4, 5, 6), np.uint8)
    volume[1], volume[2] = 85, 170
    tiff = tmp_path / "deep.tif"
    tifffile.imwrite(tiff, volume, photometric="minisblack")
    (tmp_path / "deep.tif.json").write_text('{"voxel_size_m": 1e-6, "labels": ' + "[" * 100_000 + "]" * 100_000
                                            + "}")
    (outcome,) = ingest(lake, [tiff], progress=False)
    assert outcome.status == "rejected"
    assert "sidecar is nested too deeply to read" in outcome.reason and "deep.tif.json" in outcome.reason
    assert "RecursionError" not in outcome.reason
