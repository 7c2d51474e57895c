"""Resource limits on ingest: what a file may declare or hold before cathode-lake allocates memory for it.

Each limit is a setting (an environment variable, read when checked) with a default that every real sample and the
demo stay far below; a file over one is rejected with a line naming the limit and its setting. The checks read only
what a file declares — a zip's central directory, a Parquet footer, a TIFF's tags, an xlsx sheet's dimension — or
stream over its bytes a block at a time (text), so a small hostile file is refused before it can blow up.
The README's "Limits" table lists them (`limit_table()` prints the same rows).
"""
from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingest.readers.text import SEPARATORS, scan
from lake.errors import InputError, UsageError


@dataclass(frozen=True)
class Limit:
    setting: str            # the environment variable
    default: int
    unit: str
    what: str               # what is counted, for the README and `limit_table()`

    def value(self) -> int:
        raw = os.environ.get(self.setting)
        if raw is None:
            return self.default
        try:
            value = int(float(raw))
        except ValueError:
            value = 0
        if value < 1:
            raise UsageError("must be a whole number >= 1.", argument=self.setting, expected="e.g. "
                             f"{self.default}", found=raw)
        return value

    def check(self, found: int, path: Path, what: str, **where) -> None:
        """Raise the rejection line when ``found`` is over the limit."""
        limit = self.value()
        if found > limit:
            raise InputError(f"{what} over the limit.", file=str(path), **where,
                             expected=f"at most {limit:,} {self.unit} ({self.setting})", found=f"{found:,} {self.unit}")


MAX_ROWS = Limit("CATHODE_MAX_ROWS", 10_000_000, "rows",
                 "rows of one file: text lines, a Parquet file's declared rows, an xlsx sheet's dimension, each table "
                 "a reader returns")
MAX_COLUMNS = Limit("CATHODE_MAX_COLUMNS", 1_000, "columns", "columns of one file: fields on a text line "
                    "(separated by `,` tab or `;`), Parquet columns, an xlsx dimension")
MAX_LINE_BYTES = Limit("CATHODE_MAX_LINE_BYTES", 1 << 20, "bytes", "one line of a text file")
MAX_ID_CHARS = Limit("CATHODE_MAX_ID_CHARS", 200, "characters", "a cell_id")
MAX_TEXT_CHARS = Limit("CATHODE_MAX_TEXT_CHARS", 10_000, "characters",
                       "any other text value a reader returns (notes, references, vendor text columns, metadata)")
MAX_UNCOMPRESSED = Limit("CATHODE_MAX_UNCOMPRESSED_BYTES", 1 << 31, "bytes",
                         "declared uncompressed size: all members of a zip (.ndax, .xlsx), a Parquet file's row groups")
MAX_RATIO = Limit("CATHODE_MAX_COMPRESSION_RATIO", 100, "x",
                  "uncompressed / compressed size of a zip member, or of a TIFF's pages together, over 1 MiB inflated")
MAX_ZIP_MEMBERS = Limit("CATHODE_MAX_ZIP_MEMBERS", 10_000, "members", "files inside one zip (.ndax, .xlsx)")
MAX_VOXELS = Limit("CATHODE_MAX_VOXELS", 1 << 33, "voxels", "a TIFF label volume (pages x height x width), streamed")
MAX_PAGE_PIXELS = Limit("CATHODE_MAX_PAGE_PIXELS", 1 << 26, "pixels",
                        "one TIFF page, decoded whole (and a volume whose layout must be read whole)")
MAX_PAGES = Limit("CATHODE_MAX_TIFF_PAGES", 65_536, "pages", "pages of one TIFF")
LIMITS = (MAX_ROWS, MAX_COLUMNS, MAX_LINE_BYTES, MAX_ID_CHARS, MAX_TEXT_CHARS, MAX_UNCOMPRESSED, MAX_RATIO,
          MAX_ZIP_MEMBERS, MAX_VOXELS, MAX_PAGE_PIXELS, MAX_PAGES)
RATIO_GRACE_BYTES = 1 << 20         # small members compress very well legitimately (Neware's 8 KiB .ndc stubs: 90x)
ID_COLUMNS = ("cell_id",)
ZIP_MAGIC, PARQUET_MAGIC = b"PK\x03\x04", b"PAR1"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def limit_table() -> list[dict]:
    return [{"setting": x.setting, "default": x.default, "unit": x.unit, "limits": x.what} for x in LIMITS]


def validate() -> dict[str, int]:
    """Every limit's value now; a malformed setting is a UsageError before any file is read."""
    return {x.setting: x.value() for x in LIMITS}


# ---------------------------------------------------------------- the file itself

def check_regular(path: Path) -> None:
    """Only regular files are read: a FIFO, device or socket is refused from its stat, never opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputError("cannot be read.", file=str(path), expected="a regular file",
                         found=exc.strerror or type(exc).__name__) from None
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise InputError("not a regular file; it was not opened.", file=str(path), expected="a regular file",
                         found=kind)


def check_container(path: Path) -> bytes:
    """Limits of the container the file's first bytes announce (zip, Parquet, TIFF), before any reader or sniffer
    opens it; returns the head."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(ZIP_MAGIC):
        check_zip(path)
    elif head.startswith(PARQUET_MAGIC):
        check_parquet(path)
    elif head[:4] in TIFF_MAGICS:
        check_tiff(path)
    return head


def is_container(head: bytes) -> bool:
    return head.startswith((ZIP_MAGIC, PARQUET_MAGIC)) or head[:4] in TIFF_MAGICS


def check_text(path: Path) -> None:
    """Lines, line length and fields per line of a text file, and no NUL byte — one streaming pass."""
    shape = scan(path, fields_from=MAX_COLUMNS.value())      # a line shorter than the limit cannot break it
    if shape.nul:
        line, field = shape.nul
        raise InputError("a NUL byte (\\x00) in a text file: it is damaged or not text.", file=str(path), row=line,
                         column=_header_field(path, field), expected="text without NUL bytes", found="NUL")
    MAX_COLUMNS.check(shape.widest, path, "fields on one line", row=shape.widest_at)
    MAX_LINE_BYTES.check(shape.longest_line, path, "a line", row=shape.longest_at)
    MAX_ROWS.check(shape.lines, path, "lines")


def _header_field(path: Path, field: int) -> str:
    """The first line's name of field ``field`` (from 1), or 'field N'."""
    with open(path, "rb") as handle:
        first = handle.read(min(MAX_LINE_BYTES.value(), 1 << 16)).split(b"\n", 1)[0]
    text = first.decode("utf-8", "replace").replace("\x00", "")
    names = [n.strip().strip('"') for n in re.split(f"[{re.escape(SEPARATORS.decode())}]", text)]
    return names[field - 1] if field <= len(names) and names[field - 1] else f"field {field}"


# ---------------------------------------------------------------- containers

def check_zip(path: Path) -> None:
    """Members, each member's and the total declared uncompressed size, and each member's compression ratio, from
    the central directory (Python's zipfile, which fastnda uses, never inflates past a declared size); an xlsx's
    sheet dimensions, then its rows counted while inflating (the dimension is optional and may be wrong)."""
    with open(path, "rb") as handle:
        count = _zip_entries(handle)
    MAX_ZIP_MEMBERS.check(count, path, "zip members")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return                                  # not a readable zip: the reader says so
    with archive:
        members = archive.infolist()
        sheets = [i for i in members if re.fullmatch(r"xl/worksheets/[^/]+\.xml", i.filename)]
        for info in sheets:
            _check_dimension(archive, info, path)
        total = 0
        for info in members:
            MAX_UNCOMPRESSED.check(info.file_size, path, f"zip member '{info.filename[:80]}' uncompressed size")
            total += info.file_size
            if info.file_size > RATIO_GRACE_BYTES:
                ratio = info.file_size // max(info.compress_size, 1)
                MAX_RATIO.check(ratio, path, f"zip member '{info.filename[:80]}' compression ratio")
        MAX_UNCOMPRESSED.check(total, path, "zip members' total uncompressed size")
        for info in sheets:
            _count_rows(archive, info, path)


def _zip_entries(handle) -> int:
    """Entries the end-of-central-directory record declares (0 when there is none: not a zip to check)."""
    size = handle.seek(0, 2)
    handle.seek(max(0, size - 65557))
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return 0
    entries = struct.unpack("<H", tail[at + 10:at + 12])[0]
    if entries == 0xFFFF and (z64 := tail.rfind(b"PK\x06\x06")) >= 0 and len(tail) - z64 >= 56:
        entries = struct.unpack("<Q", tail[z64 + 32:z64 + 40])[0]
    return entries


def _sheet(info: zipfile.ZipInfo) -> str:
    return f"sheet '{info.filename.rsplit('/', 1)[-1]}'"


def _check_dimension(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """An xlsx worksheet's `<dimension ref="A1:F15000000"/>`, from its first inflated bytes."""
    with archive.open(info) as member:
        head = member.read(1 << 16)
    found = re.search(rb'<dimension\s+ref="[A-Z]*\d*:?([A-Z]+)(\d+)"', head)
    if found:
        columns = 0
        for letter in found.group(1).decode():
            columns = columns * 26 + ord(letter) - 64
        MAX_ROWS.check(int(found.group(2)), path, f"{_sheet(info)} dimension rows")
        MAX_COLUMNS.check(columns, path, f"{_sheet(info)} dimension columns")


def _count_rows(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> None:
    """The worksheet's `<row>` elements, counted a MiB of inflated XML at a time; stops once over the limit."""
    limit, rows, carry = MAX_ROWS.value(), 0, b""
    with archive.open(info) as member:
        while block := member.read(1 << 20):
            text = carry + block
            rows += text.count(b"<row ") + text.count(b"<row>")     # 5 bytes: never inside the 4 carried
            if rows > limit:
                MAX_ROWS.check(rows, path, f"{_sheet(info)} rows (counted so far)")
            carry = text[-4:]


def check_parquet(path: Path) -> None:
    """Rows, columns and uncompressed size a Parquet footer declares (the footer, read whole, is itself bounded)."""
    import pyarrow.parquet as pq
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - 8))
        tail = handle.read(8)
    if len(tail) < 8 or tail[4:] != PARQUET_MAGIC:
        return                                  # no footer: the reader says so
    footer = struct.unpack("<I", tail[:4])[0]
    MAX_UNCOMPRESSED.check(footer, path, "Parquet footer")
    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError):
        return
    MAX_ROWS.check(meta.num_rows, path, "Parquet declared rows")
    MAX_COLUMNS.check(meta.num_columns, path, "Parquet columns")
    total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    MAX_UNCOMPRESSED.check(total, path, "Parquet declared uncompressed size")


def check_tiff(path: Path) -> None:
    """Pages, each page's pixels and compression ratio, and the volume's voxels, from the tags (nothing decoded)."""
    import tifffile
    with open(path, "rb") as handle:
        MAX_PAGES.check(_tiff_pages(handle, MAX_PAGES.value() + 1), path, "TIFF pages (counted so far)")
    try:
        tif = tifffile.TiffFile(path)
    except Exception:  # noqa: BLE001 - tifffile's errors on a damaged file: the reader reports them
        return
    with tif:
        pages = tif.pages
        pages.cache = False                     # full tags of every page, none kept
        try:
            count = len(pages)
        except Exception:  # noqa: BLE001
            return
        MAX_PAGES.check(count, path, "TIFF pages")
        voxels = stored = decoded = 0
        for index in range(count):
            page = pages[index]
            pixels = _pixels(page)
            MAX_PAGE_PIXELS.check(pixels, path, f"TIFF page {index + 1} ({_dims(page)})")
            voxels += pixels
            stored += sum(int(n) for n in page.databytecounts)
            decoded += pixels * page.dtype.itemsize if page.dtype is not None else 0
        MAX_VOXELS.check(voxels, path, "TIFF volume")
        if decoded > RATIO_GRACE_BYTES:        # the pages together: one empty slice of a volume compresses 1000x
            MAX_RATIO.check(decoded // max(stored, 1), path, "TIFF pages' compression ratio")


def _tiff_pages(handle, stop: int) -> int:
    """IFDs in the file's chain, walked from the header's offsets (classic or BigTIFF), up to ``stop``; a loop or
    an offset past the end ends the walk (tifffile reports such a file)."""
    head = handle.read(16)
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")
    count_fmt, entry, next_fmt = (order + "Q", 20, order + "Q") if big else (order + "H", 12, order + "L")
    offset = struct.unpack(next_fmt, head[8:16] if big else head[4:8])[0]
    size, seen, pages = handle.seek(0, 2), set(), 0
    while offset and offset < size and offset not in seen and pages < stop:
        seen.add(offset)
        handle.seek(offset)
        raw = handle.read(struct.calcsize(count_fmt))
        if len(raw) < struct.calcsize(count_fmt):
            break
        handle.seek(offset + len(raw) + struct.unpack(count_fmt, raw)[0] * entry)
        raw = handle.read(struct.calcsize(next_fmt))
        pages += 1
        offset = struct.unpack(next_fmt, raw)[0] if len(raw) == struct.calcsize(next_fmt) else 0
    return pages


def _pixels(page) -> int:
    n = 1
    for size in page.shape:
        n *= int(size)
    return n


def _dims(page) -> str:
    return " x ".join(str(int(s)) for s in page.shape)


# ---------------------------------------------------------------- what a reader returns

def check_tables(tables: dict[str, pa.Table], path: Path) -> None:
    """Rows of each table and the length of every text value (cell_id: MAX_ID_CHARS; others: MAX_TEXT_CHARS);
    a row is named by its place in the table the reader returned (from 1)."""
    for name, table in tables.items():
        MAX_ROWS.check(table.num_rows, path, f"rows of {name}")
        check_text_columns(table, path, row_offset=1, what=f"a text value of {name}")


def check_text_columns(table: pa.Table, path: Path, row_offset: int = 0, rows: pa.Array | None = None,
                       what: str = "a text value") -> None:
    """Every string column's longest value; the error names the first row over (``rows``: the file's own row
    numbers, else index + ``row_offset``)."""
    for column in table.column_names:
        values = table[column]
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                or pa.types.is_string_view(values.type)) or values.null_count == len(values):
            continue
        limit = MAX_ID_CHARS if column in ID_COLUMNS else MAX_TEXT_CHARS
        lengths = pc.utf8_length(values.cast(pa.large_string()))
        longest = pc.max(lengths).as_py() or 0
        if longest > limit.value():
            first = pc.index(pc.greater(lengths, limit.value()).fill_null(False), True).as_py()
            row = int(rows[first].as_py()) if rows is not None else first + row_offset
            limit.check(longest if first < 0 else lengths[first].as_py(), path, what, row=row, column=column)


def check_meta(meta: dict, path: Path) -> None:
    """Text a reader took from a file's header (barcode, remark, step program …) is bounded like any text value."""
    stack = [meta]
    while stack:
        item = stack.pop()
        values = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else ()
        for value in values:
            if isinstance(value, str):
                MAX_TEXT_CHARS.check(len(value), path, "a metadata text value")
            elif isinstance(value, (dict, list, tuple)):
                stack.append(value)

