"""Uploads from the Ingest page: a size cap, sanitised names, written only inside `<lake>/uploads/`, then the same
`ingest.pipeline.ingest` call `cathode ingest` makes, reported with the same per-file lines."""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ingest.pipeline import Outcome, ingest
from lake.errors import InputError

UPLOADS = "uploads"
MAX_UPLOAD_MB = float(os.environ.get("CATHODE_UPLOAD_MAX_MB", "200"))
MAX_NAME = 120


@dataclass
class Upload:
    name: str
    data: bytes


def safe_name(name: str) -> str:
    """A file name that cannot leave its folder: the last path part, only [A-Za-z0-9._-], no leading dot, short.
    Dots inside are kept, so `VL-0003.bdf.csv` still names its cell and `x.tiff.json` stays x.tiff's sidecar."""
    base = re.split(r"[\\/]", str(name))[-1]
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    clean = re.sub(r"\.{2,}", ".", clean)
    if len(clean) > MAX_NAME:
        stem, dot, suffix = clean.rpartition(".")
        clean = (stem[: MAX_NAME - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 16 else clean[:MAX_NAME]
    if not clean.strip("._-"):
        raise InputError("the uploaded file has no usable name.", file=repr(name),
                         expected="a name with letters or digits")
    return clean


def save(root: Path, uploads: list[Upload], max_mb: float = MAX_UPLOAD_MB) -> list[Path]:
    """Write the uploads into a fresh `<lake>/uploads/<stamp>/` folder; refuse the lot if one is over the cap."""
    if not uploads:
        raise InputError("no files were uploaded.")
    for up in uploads:
        if len(up.data) > max_mb * 1e6:
            raise InputError("the file is over the upload size cap.", file=safe_name(up.name),
                             expected=f"at most {max_mb:g} MB (CATHODE_UPLOAD_MAX_MB); larger files go through "
                                      f"`cathode ingest`", found=f"{len(up.data) / 1e6:.1f} MB")
    base = (Path(root).resolve() / UPLOADS)
    folder = base / f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    paths, taken = [], set()
    for up in uploads:
        name = safe_name(up.name)
        while name in taken:                                   # two uploads with the same (sanitised) name
            name = f"_{name}"
        taken.add(name)
        path = (folder / name).resolve()
        if path.parent != folder.resolve():                    # belt and braces: never outside the folder
            raise InputError("unsafe upload name.", file=repr(up.name))
        path.write_bytes(up.data)
        paths.append(path)
    return paths


def ingest_uploads(root: Path, uploads: list[Upload], *, cell_id: str | None = None,
                   options: dict | None = None) -> list[Outcome]:
    """Save, then ingest exactly as `cathode ingest` does; sidecars (x.tiff.json) travel with their file."""
    paths = save(root, uploads)
    return ingest(root, paths, cell_id=cell_id or None, options=options or None, progress=False, command="ingest")


def outcome_line(o: Outcome) -> str:
    """The line `cathode ingest` prints for one file (app/cli.py cmd_ingest), reason on its own line."""
    cells = ",".join(o.cells[:3]) + (f",… ({len(o.cells)})" if len(o.cells) > 3 else "")
    line = f"{o.status:<9} {o.format or '-':<16} cell={cells or '-':<24} rows={o.rows:<8} {o.path}"
    return line if o.status != "rejected" else f"{line}\n          {o.reason}"


def summary_line(outcomes: list[Outcome], version: int) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ingested", "duplicate", "rejected")}
    return (f"{counts['ingested']} ingested, {counts['duplicate']} duplicate, {counts['rejected']} rejected; "
            f"lake version {version}")
