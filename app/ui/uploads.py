"""Uploads from the Ingest page: a size cap, sanitised names, written only inside `<lake>/uploads/`, then the same
`ingest.pipeline.ingest` call `cathode ingest` makes, reported with the same per-file lines.

Streamlit holds an uploaded file in memory before the page sees it, so the bound on that memory is Streamlit's own
`server.maxUploadSize`, which `cathode app` sets from the same cap. Here a file's size is checked before anything is
written, and it is copied to disk in chunks (no second copy in memory), counted again as it goes."""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest.pipeline import Outcome, ingest
from lake.errors import InputError

UPLOADS = "uploads"
MAX_NAME = 120
CHUNK = 2 ** 20


def max_upload_mb() -> float:
    """The upload cap in MB (`CATHODE_UPLOAD_MAX_MB`, default 200); Streamlit's own maxUploadSize is set from it."""
    return float(os.environ.get("CATHODE_UPLOAD_MAX_MB", "200"))


@dataclass
class Upload:
    name: str
    data: bytes | BinaryIO          # bytes, or a readable binary file (Streamlit's UploadedFile)

    @property
    def size(self) -> int:
        if isinstance(self.data, (bytes, bytearray, memoryview)):
            return len(self.data)
        if isinstance(getattr(self.data, "size", None), int):
            return self.data.size
        here = self.data.tell()
        end = self.data.seek(0, os.SEEK_END)
        self.data.seek(here)
        return end - here


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder: the last path part, only letters (any script), digits and `._-`,
    no leading dot, short. Dots inside are kept, so `VL-0003.bdf.csv` still names its cell (as `cathode ingest`
    reads it, `Zelle-ä1.csv` included) and `x.tiff.json` stays x.tiff's sidecar."""
    base = re.split(r"[\\/]", str(name))[-1]
    clean = re.sub(r"[^\w.-]", "_", base).lstrip(".")
    clean = re.sub(r"\.{2,}", ".", clean)
    if len(clean) > MAX_NAME:
        stem, dot, suffix = clean.rpartition(".")
        clean = (stem[: MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 16 else clean[:MAX_NAME]
    if not clean.strip("._-"):
        raise InputError("the uploaded file has no usable name.", file=repr(name),
                         expected="a name with letters or digits")
    return clean


def save(root: Path, uploads: list[Upload], max_mb: float | None = None) -> list[Path]:
    """Write the uploads into a fresh `<lake>/uploads/<stamp>/` folder; refuse the lot if one is over the cap or two
    share a name (a renamed copy would name another cell)."""
    max_mb = max_upload_mb() if max_mb is None else max_mb
    if not uploads:
        raise InputError("no files were uploaded.")
    names = [safe_name(up.name) for up in uploads]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError("two uploads share a name, and a file's name can name its cell.", file=twice[0],
                         expected="each file once; upload same-named files from different folders one at a time",
                         found=f"{names.count(twice[0])} files")
    for up in uploads:
        _check_cap(up.name, up.size, max_mb)
    base = (Path(root).resolve() / UPLOADS)
    folder = base / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    paths = []
    try:
        for up, name in zip(uploads, names):
            path = (folder / name).resolve()
            if path.parent != folder.resolve():                # belt and braces: never outside the folder
                raise InputError("unsafe upload name.", file=repr(up.name))
            _copy(up, path, max_mb)
            paths.append(path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)              # a refused upload leaves nothing behind
        raise
    return paths


def _check_cap(name: str, size: int, max_mb: float) -> None:
    if size > max_mb * 1e6:
        raise InputError("the file is over the upload size cap.", file=safe_name(name),
                         expected=f"at most {max_mb:g} MB (CATHODE_UPLOAD_MAX_MB); larger files go through "
                                  f"`cathode ingest`", found=f"{size / 1e6:.1f} MB")


def _copy(up: Upload, path: Path, max_mb: float) -> None:
    """Write the upload in chunks, counting: a stream longer than it said is refused all the same."""
    if isinstance(up.data, (bytes, bytearray, memoryview)):
        path.write_bytes(up.data)
        return
    written = 0
    with open(path, "wb") as out:
        while chunk := up.data.read(CHUNK):
            written += len(chunk)
            _check_cap(up.name, written, max_mb)
            out.write(chunk)


def ingest_uploads(root: Path, uploads: list[Upload], *, cell_id: str | None = None,
                   options: dict | None = None) -> list[Outcome]:
    """Save, then ingest exactly as `cathode ingest` does; sidecars (x.tiff.json) travel with their file."""
    paths = save(root, uploads)
    return ingest(root, paths, cell_id=cell_id or None, options=options or None, progress=False, command="ingest")
