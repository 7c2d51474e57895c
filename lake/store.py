"""The lake on disk: a DuckDB catalog (`lake.duckdb`) plus immutable, content-addressed Parquet files (`data/`).

Write path (one writer at a time, queued by a lake-wide file lock):
  1. ``with writer(root, "ingest") as w`` takes the lock (a second writer waits, up to a timeout);
  2. ``w.stage_bulk(...)`` writes each Parquet file to a temporary name, fsyncs it and renames it to its content
     hash — before anything refers to it;
  3. ``w.insert(...)`` queues catalog rows;
  4. leaving the block opens the catalog once and, in one transaction, inserts the rows, registers the files in
     ``bulk_files``, records the commit (lake version + 1) and re-creates the bulk views over exactly the registered
     files. An exception anywhere rolls everything back and deletes the files it staged: the lake is unchanged.
Readers open short read-only connections (``connect``) and retry while a commit holds the catalog.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lake import schema
from lake.errors import LakeError, QueryError

CATALOG = "lake.duckdb"
LOCK = "lake.lock"
DATA = "data"
# A fingerprint of lake/schema.py: a lake made by an older cathode-lake gets the tables, columns and views it lacks
# the first time it is opened (stored in lake_meta; see `_current`).
SCHEMA_VERSION = hashlib.sha256(repr(schema.TABLES).encode()).hexdigest()[:16]
LOCK_TIMEOUT_S = float(os.environ.get("CATHODE_LOCK_TIMEOUT", "600"))
READ_RETRY_S = 30.0


def default_root() -> Path:
    """`$CATHODE_LAKE`, else `$XDG_DATA_HOME/cathode-lake` (by default `~/.local/share/cathode-lake`)."""
    if os.environ.get("CATHODE_LAKE"):
        return Path(os.environ["CATHODE_LAKE"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "cathode-lake"


def catalog_path(root: Path) -> Path:
    return Path(root) / CATALOG


def exists(root: Path) -> bool:
    return catalog_path(root).is_file()


def _require(root: Path) -> Path:
    root = Path(root).resolve()
    if not exists(root):
        raise LakeError(f"No lake at {root}: {CATALOG} is missing. Create one with `cathode --lake {root} init` "
                        f"or build the demo with `cathode --lake {root} demo --no-app`.")
    return root


# ---------------------------------------------------------------- reading

@contextlib.contextmanager
def connect(root: Path, *, read_only: bool = True, timeout_s: float = READ_RETRY_S):
    """A short connection to the catalog; read-only connections retry while a writer is committing."""
    root = _require(root)
    con = _open(root, read_only, timeout_s)
    if _outdated(con, root):                 # moved folder or older schema: bring it up to date, then reopen
        con.close()
        _current(root)
        con = _open(root, read_only, timeout_s)
    try:
        yield con
    finally:
        con.close()


def _outdated(con: duckdb.DuckDBPyConnection, root: Path) -> str | None:
    """'schema' when the catalog predates lake/schema.py, 'root' when the folder moved, else None."""
    meta = dict(con.execute("SELECT key, value FROM lake_meta WHERE key IN ('root', 'schema_version')").fetchall())
    return "schema" if meta.get("schema_version") != SCHEMA_VERSION else "root" if meta.get("root") != str(root) \
        else None


def _current(root: Path) -> Path:
    """Bring the catalog up to date before use: a moved folder gets its bulk views re-pointed, a lake made by an
    older cathode-lake its missing tables, columns and views (both idempotent, under the writer lock)."""
    con = _open(root, True, READ_RETRY_S)
    try:
        outdated = _outdated(con, root)
    finally:
        con.close()
    if outdated == "schema":
        init(root)
    elif outdated == "root":
        _rebind(root)
    return root


def _open(root: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(catalog_path(root)), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise LakeError(f"Cannot open {catalog_path(root)}: {exc}") from exc
            time.sleep(0.05)


def query(root: Path, sql: str, params: list | None = None) -> pa.Table:
    """Run one read-only query and return its rows as an Arrow table."""
    with connect(root) as con:
        try:
            return con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as exc:
            raise _query_error(exc) from exc


def _query_error(exc: duckdb.Error) -> QueryError:
    return QueryError(f"the query failed: {' '.join(str(exc).split())}")


def query_one(root: Path, sql: str) -> pa.Table:
    """Run exactly one statement typed by a person (`cathode sql`): none or several is an error, not a guess."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise _query_error(exc) from exc
    if len(statements) != 1:
        raise QueryError("give exactly one SQL statement." + (f" Found {len(statements)}, separated by ';'."
                                                               if statements else " The query is empty."))
    with connect(root) as con:
        try:
            relation = con.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise _query_error(exc) from exc


def lake_version(root: Path) -> int:
    return int(query(root, "SELECT coalesce(max(lake_version), 0) AS v FROM commits")["v"][0].as_py())


# ---------------------------------------------------------------- creating

def init(root: Path) -> Path:
    """Create the lake folder and catalog (idempotent): every table, view and comment from `lake.schema`."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / DATA).mkdir(exist_ok=True)
    with _lock(root):
        con = _open(root, False, READ_RETRY_S)     # waits while a reader has the catalog open
        try:
            con.execute("BEGIN")
            for table in schema.TABLES:
                if table.kind == "catalog":
                    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
                    key = f", PRIMARY KEY ({', '.join(table.key)})" if table.key else ""
                    con.execute(f"CREATE TABLE IF NOT EXISTS {table.name} ({cols}{key})")
                    for c in table.columns:      # a lake made before a column was added gets it (null in old rows)
                        con.execute(f'ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS "{c.name}" {c.type}')
            con.execute("INSERT OR REPLACE INTO lake_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            _create_views(con, root)
            con.execute("COMMIT")
        finally:
            con.close()
    return root


def _rebind(root: Path) -> None:
    with _lock(root):
        con = _open(root, False, READ_RETRY_S)     # waits while a reader has the catalog open
        try:
            con.execute("BEGIN")
            _create_views(con, root)
            con.execute("COMMIT")
        finally:
            con.close()


def _create_views(con: duckdb.DuckDBPyConnection, root: Path, *, bulk_only: bool = False) -> None:
    """(Re)create the bulk views over exactly the registered Parquet files (and, unless ``bulk_only``, the derived
    views and every table's comments). A replaced view loses its comments, so they are published again."""
    for table in schema.TABLES:
        if table.kind == "bulk":
            files = [r[0] for r in con.execute(
                "SELECT path FROM bulk_files WHERE table_name = ? ORDER BY lake_version, path", [table.name]).fetchall()]
            con.execute(f"CREATE OR REPLACE VIEW {table.name} AS {_bulk_select(table, root, files)}")
    if not bulk_only:
        for view in schema.VIEWS:
            con.execute(f"CREATE OR REPLACE VIEW {view.name} AS {view.sql}")
    for table in schema.ALL:
        if bulk_only and table.kind != "bulk":
            continue
        kind = "VIEW" if table.kind != "catalog" else "TABLE"
        con.execute(f"COMMENT ON {kind} {table.name} IS {_quote(table.description)}")
        for col in table.columns:
            con.execute(f"COMMENT ON COLUMN {table.name}.{col.name} IS {_quote(col.comment)}")
    con.execute("INSERT OR REPLACE INTO lake_meta VALUES ('root', ?)", [str(root)])


def _bulk_select(table: schema.Table, root: Path, files: list[str]) -> str:
    if not files:
        cols = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in table.columns)
        return f"SELECT {cols} WHERE false"
    paths = ", ".join(_quote(str(root / f)) for f in files)
    return f"SELECT * FROM read_parquet([{paths}], union_by_name = true, hive_partitioning = false)"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- writing

@contextlib.contextmanager
def _lock(root: Path, timeout_s: float = LOCK_TIMEOUT_S, on_wait=None):
    """The lake-wide writer lock: waits (calling ``on_wait`` once) rather than failing, up to ``timeout_s``."""
    path = Path(root) / LOCK
    with open(path, "a+") as handle:
        deadline, told = time.monotonic() + timeout_s, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LakeError(f"Waited {timeout_s:.0f} s for the writer lock {path}; another `cathode` "
                                    f"process is still writing. Try again when it has finished.") from None
                if on_wait and not told:
                    on_wait(f"another writer holds {path}; waiting (up to {timeout_s:.0f} s)")
                    told = True
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Writer:
    """One pending commit: staged Parquet files and queued catalog rows, applied together on exit."""
    root: Path
    command: str
    version: int
    inserts: list[tuple[str, pa.Table]] = field(default_factory=list)
    staged: list[dict] = field(default_factory=list)
    summary: str = ""

    def sql(self, text: str, params: list | None = None) -> pa.Table:
        """Read the lake as it stands before this commit (the lock keeps it still)."""
        con = duckdb.connect(str(catalog_path(self.root)), read_only=True)
        try:
            return con.sql(text, params=params or None).to_arrow_table()
        finally:
            con.close()

    def insert(self, table: str, rows: pa.Table) -> None:
        if schema.table(table).kind != "catalog":
            raise LakeError(f"'{table}' is not a catalog table; bulk rows go through stage_bulk")
        declared = schema.table(table).names
        if "lake_version" in declared and "lake_version" not in rows.column_names:
            rows = rows.append_column("lake_version", pa.array([self.version] * rows.num_rows, pa.int64()))
        if rows.num_rows:
            self.inserts.append((table, rows))

    def stage_bulk(self, table: str, rows: pa.Table, source_sha256: str, partition: str) -> str:
        """Write ``rows`` as an immutable Parquet file now; it becomes visible only when the commit lands."""
        rows = conform(table, rows.append_column("lake_version", pa.array([self.version] * rows.num_rows,
                                                                          pa.int64())))
        folder = self.root / DATA / table / f"cell_id={_safe(partition)}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".tmp-{os.getpid()}-{len(self.staged)}.parquet"
            floats = [f.name for f in rows.schema if pa.types.is_floating(f.type)]
            pq.write_table(rows, tmp, compression="zstd", use_byte_stream_split=floats or False)
            digest = _sha256(tmp)
            final = folder / f"{digest[:32]}.parquet"
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
            _fsync_dir(folder)
        except OSError as exc:
            raise LakeError(f"cannot write the Parquet file under {folder} ({exc.strerror or exc}); nothing was "
                            "committed. Check the lake folder's permissions and free space.") from exc
        rel = str(final.relative_to(self.root))
        self.staged.append({"table_name": table, "path": rel, "sha256": digest, "rows": rows.num_rows,
                            "source_sha256": source_sha256, "lake_version": self.version})
        return rel

    def _apply(self) -> None:
        con = _open(self.root, False, READ_RETRY_S)     # waits while a reader has it open
        try:
            con.execute("BEGIN")
            for i, (table, rows) in enumerate(self.inserts):
                con.register(f"rows_{i}", rows)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM rows_{i}")
                con.unregister(f"rows_{i}")
            if self.staged:
                con.register("staged", pa.Table.from_pylist(self.staged))
                con.execute("INSERT INTO bulk_files BY NAME SELECT * FROM staged")
            con.execute("INSERT INTO commits VALUES (?, ?, ?, ?)",
                        [self.version, dt.datetime.now(dt.timezone.utc), self.command, self.summary])
            if self.staged:
                _create_views(con, self.root, bulk_only=True)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()


@contextlib.contextmanager
def writer(root: Path, command: str, *, on_wait=None, timeout_s: float = LOCK_TIMEOUT_S):
    """Hold the writer lock; commit everything queued on the yielded ``Writer`` as one new lake version."""
    root = _current(_require(root))
    with _lock(root, timeout_s, on_wait):
        con = duckdb.connect(str(catalog_path(root)), read_only=True)
        try:
            version = con.execute("SELECT coalesce(max(lake_version), 0) FROM commits").fetchall()[0][0] + 1
        finally:
            con.close()
        w = Writer(root, command, version)
        try:
            yield w
            if w.inserts or w.staged:
                w._apply()
        except BaseException:
            for item in w.staged:    # never registered, so never visible; remove them now rather than at vacuum
                with contextlib.suppress(OSError):
                    (root / item["path"]).unlink()
            raise


def record_rejections(root: Path, rows: list[dict]) -> None:
    """Note rejected files in `sources`, once per content (a file rejected again adds no row); the lake version does
    not move and no data is added."""
    if not rows:
        return
    root = _current(_require(root))
    with _lock(root):
        con = _open(root, False, READ_RETRY_S)     # waits while a reader has the catalog open
        try:
            version = con.execute("SELECT coalesce(max(lake_version), 0) FROM commits").fetchall()[0][0]
            table = pa.Table.from_pylist([{**r, "lake_version": version} for r in rows])
            con.register("rejected", table)
            con.execute("""INSERT INTO sources BY NAME SELECT * FROM rejected r WHERE NOT EXISTS
                           (SELECT 1 FROM sources s WHERE s.sha256 = r.sha256 AND s.status = 'rejected')
                           QUALIFY row_number() OVER (PARTITION BY r.sha256) = 1""")
        finally:
            con.close()


ARROW_TYPES = {"DOUBLE": pa.float64(), "BIGINT": pa.int64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(),
               "TIMESTAMPTZ": pa.timestamp("us", tz="UTC")}


def conform(table: str, rows: pa.Table) -> pa.Table:
    """Declared columns first, in schema order and type (missing ones as nulls), then any extra columns."""
    declared = schema.table(table).columns
    arrays, names = [], []
    for col in declared:
        kind = ARROW_TYPES[col.type]
        if col.name in rows.column_names:
            try:
                arrays.append(rows[col.name].cast(kind))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise LakeError(f"{table}.{col.name}: cannot store {rows[col.name].type} as {col.type}: {exc}") from exc
        else:
            arrays.append(pa.nulls(rows.num_rows, kind))
        names.append(col.name)
    for name in rows.column_names:
        if name not in names:
            arrays.append(rows[name])
            names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


sha256_file = _sha256


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
