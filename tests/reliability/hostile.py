"""Hostile input files, made on the fly in a temporary folder (never committed): each small on disk and built in
well under a second, each declaring or inflating to far more than it holds.

Compressed bombs are built without inflating anything here: a raw deflate stream of one repeated block is the same
bytes for every repeat once the compressor is fully flushed, so a stream for gigabytes of repeated content is a few
megabytes written by concatenation; its CRC-32 is computed block by block, its Adler-32 (zlib) in closed form.
"""
from __future__ import annotations

import os
import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

MiB = 1 << 20
CELLS_HEADER = "cell_id,process,loading_mg_cm2,eca_wt_frac,temperature_c,voltage_max_v,c_rate"


@dataclass(frozen=True)
class Deflated:
    data: bytes             # raw deflate stream
    size: int               # inflated size
    crc32: int
    adler32: int


def deflate_repeated(head: bytes, block: bytes, times: int, tail: bytes = b"") -> Deflated:
    """head + block * times + tail as one raw deflate stream, without building the inflated bytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert one == again or times < 2, "repeated blocks must deflate to the same bytes after a full flush"
    data = first + one * times + c.compress(tail) + c.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    a, b = _adler(head, 1, 0)
    a, b = _adler(tail, *_adler_repeat(block, times, a, b))
    return Deflated(data, len(head) + len(block) * times + len(tail), crc, (b << 16) | a)


def _adler(data: bytes, a: int, b: int) -> tuple[int, int]:
    value = zlib.adler32(data, (b << 16) | a)
    return value & 0xFFFF, value >> 16


def _adler_repeat(block: bytes, times: int, a: int, b: int) -> tuple[int, int]:
    """Adler-32 state after ``times`` copies of ``block``: each copy adds s to a and n*a + t to b."""
    n, values = len(block), np.frombuffer(block, np.uint8).astype(np.int64)
    s = int(values.sum()) % 65521
    t = int(((n - np.arange(n)) * values).sum()) % 65521
    # after k copies: a_k = a + k s; b_k = b + k n a + n s k(k-1)/2 + k t
    k = times
    return (a + k * s) % 65521, (b + k * n * a + n * s * (k * (k - 1) // 2) + k * t) % 65521


def write_zip(path: Path, members: list[tuple[str, Deflated]]) -> Path:
    """A plain zip (no zip64: each member below 4 GiB) of already deflated members."""
    local, central = bytearray(), bytearray()
    for name, member in members:
        raw = name.encode()
        offset = len(local)
        fields = (20, 0, 8, 0, 0, member.crc32, len(member.data), member.size, len(raw), 0)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + raw + member.data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def small(text: str) -> Deflated:
    data = text.encode()
    return Deflated(zlib.compress(data, 9)[2:-4], len(data), zlib.crc32(data), zlib.adler32(data))


# ---------------------------------------------------------------- the attack set (issue 15)

def ndax_bomb(folder: Path, mib: int = 4000) -> Path:
    """A Neware .ndax (a zip) whose data.ndc inflates to ``mib`` MiB of zeros: ~1 kB on disk per MiB."""
    return write_zip(folder / "bomb.ndax", [("data.ndc", deflate_repeated(b"", bytes(MiB), mib)),
                                            ("TestInfo.xml", small("<TestInfo/>"))])


def ndax_ratio_bomb(folder: Path) -> Path:
    """Under the uncompressed-size limit, far over the ratio limit."""
    return ndax_bomb(folder, 512)


def ndax_members(folder: Path, count: int = 10_001) -> Path:
    """A .ndax holding ``count`` tiny members (a central directory of millions would cost gigabytes to list)."""
    member = small("")
    return write_zip(folder / "members.ndax", [("data.ndc", small("x"))] + [(f"m{i}", member) for i in range(count)])


def xlsx_rows(folder: Path, rows: int = 15_000_000) -> Path:
    """A literature workbook whose one sheet holds ``rows`` rows (dimension declared, rows really there)."""
    row = b"<row>" + b"".join(b'<c t="inlineStr"><is><t>x</t></is></c>' for _ in range(6)) + b"</row>"
    per_block = 4096
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats'
            b'.org/spreadsheetml/2006/main"><dimension ref="A1:F' + str(rows).encode() + b'"/><sheetData>')
    sheet = deflate_repeated(head, row * per_block, rows // per_block, b"</sheetData></worksheet>")
    main = "http://schemas.openxmlformats.org"
    members = [
        ("[Content_Types].xml", small(f'<?xml version="1.0"?><Types xmlns="{main}/package/2006/content-types">'
                                      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package'
                                      '.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                                      '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxml'
                                      'formats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
                                      'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-office'
                                      'document.spreadsheetml.worksheet+xml"/></Types>')),
        ("_rels/.rels", small(f'<?xml version="1.0"?><Relationships xmlns="{main}/package/2006/relationships">'
                              f'<Relationship Id="rId1" Type="{main}/officeDocument/2006/relationships/officeDocument"'
                              ' Target="xl/workbook.xml"/></Relationships>')),
        ("xl/workbook.xml", small(f'<?xml version="1.0"?><workbook xmlns="{main}/spreadsheetml/2006/main" xmlns:r='
                                  f'"{main}/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" '
                                  'sheetId="1" r:id="rId1"/></sheets></workbook>')),
        ("xl/_rels/workbook.xml.rels", small(f'<?xml version="1.0"?><Relationships xmlns="{main}/package/2006/'
                                             f'relationships"><Relationship Id="rId1" Type="{main}/officeDocument/'
                                             '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                                             '</Relationships>')),
        ("xl/worksheets/sheet1.xml", sheet)]
    return write_zip(folder / "rows.xlsx", members)


def tiff_pages(folder: Path, pages: int = 3, side: int = 30_000) -> Path:
    """A zlib TIFF of ``pages`` pages of side x side uint8 zeros, all pages sharing one strip: ~1 MB on disk."""
    stream = deflate_repeated(b"", bytes(side), side)
    strip = b"\x78\xda" + stream.data + struct.pack(">L", stream.adler32)
    entries = 9
    ifd_size = 2 + entries * 12 + 4
    first_ifd = 8 + len(strip)
    out = bytearray(b"II*\x00" + struct.pack("<L", first_ifd) + strip)
    for k in range(pages):
        following = first_ifd + (k + 1) * ifd_size if k + 1 < pages else 0
        tags = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 8),
                (277, 3, 1), (278, 4, side), (279, 4, len(strip))]
        out += struct.pack("<H", entries)
        for tag, kind, value in tags:
            out += struct.pack("<HHLL" if kind == 4 else "<HHLHxx", tag, kind, 1, value)
        out += struct.pack("<L", following)
    path = folder / "pages.tiff"
    path.write_bytes(bytes(out))
    (folder / "pages.tiff.json").write_text('{"voxel_size_m": 1e-6, "labels": {"pore": 0, "ncm": 1, "binder": 2}}')
    return path


def tiff_voxels(folder: Path) -> Path:
    """Every page under the page limit (8192²), the volume over the voxel limit (129 pages: 8.7·10⁹ voxels)."""
    return tiff_pages(folder, pages=129, side=8192)


def tiff_ratio(folder: Path) -> Path:
    """Pages and volume under their limits, 268 MB of zeros stored in ~100 kB: over the compression-ratio limit."""
    return tiff_pages(folder, pages=16, side=4096)


def tiff_many_pages(folder: Path, pages: int = 70_000) -> Path:
    """70 000 IFDs of one 1x1 page each, all pointing at one strip (~8 MB): over the page limit."""
    strip = zlib.compress(b"\x00")
    first = 8 + len(strip)
    tags = [(256, 4, 1), (257, 4, 1), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 8), (277, 3, 1), (278, 4, 1),
            (279, 4, len(strip))]
    body = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHLL" if kind == 4 else "<HHLHxx", tag, kind, 1, v)
                                                   for tag, kind, v in tags)
    size = len(body) + 4
    ifds = b"".join(body + struct.pack("<L", first + (k + 1) * size if k + 1 < pages else 0) for k in range(pages))
    path = folder / "many.tiff"
    path.write_bytes(b"II*\x00" + struct.pack("<L", first) + strip + ifds)
    return path


def parquet_rows(folder: Path, rows: int = 10_000_001) -> Path:
    """A BDF Parquet file of ``rows`` constant rows (dictionary + RLE: a few kB on disk)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([1.0]))
    table = pa.table({"test_time_second": column, "voltage_volt": column, "current_ampere": column})
    path = folder / "rows.bdf.parquet"
    pq.write_table(table, path, row_group_size=rows)
    return path


def cells_columns(folder: Path, columns: int = 1_000_000) -> Path:
    extra = ",".join(f"x{i}" for i in range(columns))
    path = folder / "wide_cells.csv"
    path.write_text(f"{CELLS_HEADER},{extra}\nW-1,in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
    return path


def mpt_columns(folder: Path, columns: int = 200_000) -> Path:
    names = "\t".join(f"c{i}" for i in range(columns))
    header = ["EC-Lab ASCII FILE", "Nb header lines : 5", "", "Galvanostatic Cycling with Potential Limitation",
              f"mode\tox/red\ttime/s\t{names}"]
    path = folder / "wide.mpt"
    path.write_text("\n".join(header) + "\n" + "\t".join(["1"] * (columns + 3)) + "\n", encoding="cp1252")
    return path


def cells_long_line(folder: Path, size: int = 2 * MiB) -> Path:
    """A cells.csv whose cell_id is ``size`` bytes long (the issue's was 500 MB; this is over the line limit)."""
    path = folder / "long_cells.csv"
    with open(path, "w") as handle:
        handle.write(f"{CELLS_HEADER}\n")
        handle.write("C" * size + ",in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
    return path


def cells_long_id(folder: Path, chars: int = 300) -> Path:
    """A cells.csv whose cell_id is over the id limit but its line well under the line limit."""
    path = folder / "long_id_cells.csv"
    path.write_text(f"{CELLS_HEADER}\nA-1,in_situ_polymerized,12.7,0.05,60,4.2,0.1\n"
                    f"{'L' * chars},in_situ_polymerized,12.7,0.05,60,4.2,0.1\n")
    return path


def cells_nul(folder: Path) -> Path:
    path = folder / "nul_cells.csv"
    path.write_bytes(f"{CELLS_HEADER}\nN-1,in_situ_polymerized,12.7,0.05,60,4.2,0.1\n"
                     "N-2,in_situ_poly\x00merized,12.7,0.05,60,4.2,0.1\n".encode())
    return path


def fifo(folder: Path) -> Path:
    path = folder / "pipe.csv"
    os.mkfifo(path)
    return path


def unix_socket(folder: Path) -> Path:
    path = folder / "s.csv"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()                                   # the socket file stays
    return path


def dev_zero(folder: Path) -> Path:
    return Path("/dev/zero")


# name -> (maker, the setting or phrase the rejection must name)
ATTACKS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "ndax zip bomb 4000 MiB": (ndax_bomb, "CATHODE_MAX_UNCOMPRESSED_BYTES"),
    "ndax zip bomb 512 MiB": (ndax_ratio_bomb, "CATHODE_MAX_COMPRESSION_RATIO"),
    "ndax with 10001 members": (ndax_members, "CATHODE_MAX_ZIP_MEMBERS"),
    "xlsx 15 M rows": (xlsx_rows, "CATHODE_MAX_ROWS"),
    "zlib TIFF 3 x 30000^2": (tiff_pages, "CATHODE_MAX_PAGE_PIXELS"),
    "zlib TIFF 129 x 8192^2": (tiff_voxels, "CATHODE_MAX_VOXELS"),
    "zlib TIFF 16 x 4096^2": (tiff_ratio, "CATHODE_MAX_COMPRESSION_RATIO"),
    "TIFF of 70000 pages": (tiff_many_pages, "CATHODE_MAX_TIFF_PAGES"),
    "Parquet over the row limit": (parquet_rows, "CATHODE_MAX_ROWS"),
    "cells.csv 10^6 columns": (cells_columns, "CATHODE_MAX_COLUMNS"),
    "mpt 200 k columns": (mpt_columns, "CATHODE_MAX_COLUMNS"),
    "cells.csv 2 MiB cell_id": (cells_long_line, "CATHODE_MAX_LINE_BYTES"),
    "cells.csv 300-char cell_id": (cells_long_id, "CATHODE_MAX_ID_CHARS"),
    "cells.csv with a NUL": (cells_nul, "row 3, column 'process': a NUL byte"),
    "FIFO": (fifo, "a FIFO"),
    "socket": (unix_socket, "a socket"),
    "/dev/zero": (dev_zero, "a character device"),
}
