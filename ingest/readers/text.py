"""Text encodings of vendor exports: UTF-8 (with or without BOM), UTF-16 (BOM) and Windows-1252.

Instrument PCs write what Windows gives them: BTSDA's `Current(µA)` arrives as cp1252 byte 0xB5, some exports are
UTF-16 with a BOM. Every text reader decodes through here, so sniffers see the same header the reader parses and a
plain UTF-8 file is passed on untouched (no copy: the fast CSV paths stay fast).
"""
from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


SEPARATORS = b",\t;"


@dataclass(frozen=True)
class Shape:
    """What one pass over a text file's bytes finds, without decoding or holding more than a block."""
    lines: int                          # line breaks (+1 when the last line has none)
    longest_line: int                   # bytes, the line break included
    widest: int                         # most fields on one line: separators (any of , tab ;) + 1
    nul: tuple[int, int] | None         # (line, field), both from 1, of the first NUL byte; None for UTF-16
    longest_at: int = 0                 # the line (from 1) first reaching longest_line
    widest_at: int = 0                  # the line (from 1) first reaching widest


def scan(path: Path, block: int = 1 << 22, fields_from: int = 0) -> Shape:
    """Line count, longest line, widest line and the first NUL byte of a text file, in blocks of ``block`` bytes.

    A line ends at LF (at CR in a file whose head has CR but no LF). Quoted separators count as fields: this is a
    bound for limits, not a CSV parser. The scan stops at a NUL byte (a text file holding one is refused).
    ``fields_from``: a line of fewer bytes cannot hold that many fields, so blocks whose lines are all shorter are
    not counted field by field (``widest`` is then exact only where it reaches ``fields_from``)."""
    separator = np.zeros(256, bool)
    separator[list(SEPARATORS)] = True
    lines = longest = widest = current = longest_at = widest_at = counted = 0
    nul = None
    with open(path, "rb") as handle:
        head = handle.read(65536)
        utf16 = encoding_of(head) == "utf-16"
        newline = 13 if b"\r" in head and b"\n" not in head else 10
        handle.seek(0)
        while chunk := handle.read(block):
            a = np.frombuffer(chunk, np.uint8)
            ends = np.flatnonzero(a == newline)
            if nul is None and not utf16 and (zero := np.flatnonzero(a == 0)[:1]).size:
                at = int(zero[0])
                before = int(np.searchsorted(ends, at))                 # line breaks before it in this block
                start = int(ends[before - 1]) + 1 if before else 0
                nul = (lines + before + 1, (0 if before else counted) + int(separator[a[start:at]].sum()) + 1)
                return Shape(lines + before, longest, widest, nul, longest_at, widest_at)   # damaged: no further
            if ends.size:
                starts = np.concatenate(([0], ends[:-1] + 1))
                lengths = ends - starts + 1
                lengths[0] += current
                if lengths.max() > longest:
                    longest, longest_at = int(lengths.max()), lines + int(lengths.argmax()) + 1
                if lengths.max() >= fields_from:               # else no line here can be that wide: skip the count
                    fields = np.add.reduceat(separator[a[:ends[-1] + 1]], starts, dtype=np.int64) + 1
                    fields[0] += counted
                    if fields.max() > widest:
                        widest, widest_at = int(fields.max()), lines + int(fields.argmax()) + 1
                tail = a[ends[-1] + 1:]
                current, counted = len(tail), int(separator[tail].sum())
            else:
                current, counted = current + len(a), counted + int(separator[a].sum())
            lines += int(ends.size)
    if current:
        lines += 1
        if current > longest:
            longest, longest_at = current, lines
        if counted + 1 > widest:
            widest, widest_at = counted + 1, lines
    return Shape(lines, longest, widest, nul, longest_at, widest_at)
