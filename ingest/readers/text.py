"""Text encodings of vendor exports: UTF-8 (with or without BOM), UTF-16 (BOM) and Windows-1252.

Instrument PCs write what Windows gives them: BTSDA's `Current(µA)` arrives as cp1252 byte 0xB5, some exports are
UTF-16 with a BOM. Every text reader decodes through here, so sniffers see the same header the reader parses and a
plain UTF-8 file is passed on untouched (no copy: the fast CSV paths stay fast).
"""
from __future__ import annotations

import codecs
import io
from pathlib import Path

BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def encoding_of(head: bytes) -> str:
    """'utf-8', 'utf-8-sig', 'utf-16' or 'cp1252', judged from the first bytes of a file."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:      # not just a character cut at the end of the head
            return "cp1252"
    return "utf-8"


def decode_head(head: bytes) -> str:
    """The head of a file as text, whatever its encoding (a character cut at the end is dropped)."""
    encoding = encoding_of(head)
    if encoding == "utf-16" and len(head) % 2:
        head = head[:-1]
    return head.decode(encoding, errors="ignore" if encoding != "cp1252" else "replace")


def head_lines(head: bytes, count: int = 2) -> list[str]:
    return decode_head(head).splitlines()[:count]


def utf8_source(path: Path, head_size: int = 65536) -> "Path | io.BytesIO":
    """The file itself when it is UTF-8 without BOM, else its text re-encoded as UTF-8 in memory."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(head_size)
    encoding = encoding_of(head)
    if encoding == "utf-8":
        return path
    return io.BytesIO(path.read_bytes().decode(encoding, errors="replace").encode("utf-8"))


def utf8_bytes(path: Path) -> bytes:
    """The whole file as UTF-8 bytes (BOM removed)."""
    source = utf8_source(path)
    return source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
