"""The building blocks of the schema: a column (name, DuckDB type, unit, description), a table or view, and the
columns many tables share. lake.schema and lake.schema_derived both build on these (neither imports the other's
tables back)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str          # DuckDB type
    unit: str          # "" when dimensionless or text
    description: str

    @property
    def comment(self) -> str:
        return f"{self.description} [{self.unit}]" if self.unit else self.description


@dataclass(frozen=True)
class Table:
    name: str
    kind: str          # catalog | bulk | view
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    sql: str = ""      # for views: the SELECT that defines it

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def cols(*rows: tuple[str, str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)


VERSION = ("lake_version", "BIGINT", "", "the lake version (commit) that added this row")
SOURCE = ("source_sha256", "VARCHAR", "", "sha256 of the source file this row came from (see sources)")
CELL = ("cell_id", "VARCHAR", "", "the cell this row belongs to (see cells)")
