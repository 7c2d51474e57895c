"""Registry of instrument-file readers.

A reader turns one file into rows of lake tables (``Reading``); it never touches the lake. Each reader module
registers itself with ``@register``; detection is by content (``sniff`` on the first bytes), the suffix only
narrows the candidates. ``detect(path)`` returns the one format that claims the file.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from lake.errors import UnknownFormatError

HEAD_BYTES = 8192


@dataclass(frozen=True)
class Reading:
    """What a reader found in one file.

    tables: lake table name -> rows in canonical column names (e.g. "timeseries" with BDF machine names,
        "eis_points", "microstructure", "literature", "cells", "cycles"). Columns a table does not declare are
        kept by the pipeline as ``raw_*``.
    meta: facts about the file for `sources`/`cells` (e.g. barcode, channel, active_mass_mg, started_at).
    """
    tables: dict[str, pa.Table]
    meta: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    sniff: Callable[[bytes, Path], bool]
    read: Callable[..., Reading]
    library: str          # the package that parses the file ("fastnda 1.3.1", "own CSV rules", ...)
    description: str
    binary: bool = False  # not text and in no container ingest.limits knows (zip, Parquet, TIFF): no line limits


_FORMATS: dict[str, Format] = {}


def register(name: str, *, suffixes: tuple[str, ...], sniff: Callable[[bytes, Path], bool], library: str,
             description: str, binary: bool = False):
    """Decorator: register ``read(path, **options) -> Reading`` as the reader of format ``name``."""
    def wrap(read):
        if name in _FORMATS:
            raise ValueError(f"reader '{name}' registered twice")
        _FORMATS[name] = Format(name, tuple(s.lower() for s in suffixes), sniff, read, library, description, binary)
        return read
    return wrap


def formats() -> list[Format]:
    """Every registered format, loading all reader modules of this package first."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return sorted(_FORMATS.values(), key=lambda f: f.name)


def detect(path: Path) -> Format:
    """The format whose sniff accepts the file's first bytes; suffix-matching formats are asked first."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    known = formats()
    suffix = "".join(path.suffixes[-2:]).lower() if len(path.suffixes) > 1 else path.suffix.lower()
    ordered = sorted(known, key=lambda f: not any(path.name.lower().endswith(s) for s in f.suffixes))
    for fmt in ordered:
        if _claims(fmt, head, path):
            return fmt
    names = ", ".join(f.name for f in known)
    raise UnknownFormatError(
        f"no reader recognises this file (suffix '{suffix or 'none'}', first bytes {head[:8]!r}). "
        f"Known formats: {names}; see `cathode formats`.", file=str(path))


def _claims(fmt: Format, head: bytes, path: Path) -> bool:
    """A sniffer that fails on odd bytes simply does not claim the file."""
    try:
        return bool(fmt.sniff(head, path))
    except Exception:
        return False
