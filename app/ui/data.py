"""The app's way to the lake: which lake, cached read-only queries, and the small shared widgets of every page.

Every query goes through ``lake.store.query``: a short read-only connection, opened and closed per query, so the app
never holds the catalog between reruns and a `cathode ingest` can run while it is open. Results are cached with
``st.cache_data`` keyed on the lake's *stamp* — its version plus the number of `sources` rows (a rejected file does
not raise the version, but the Overview must still show it) — so a new commit shows up at the next rerun.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import streamlit as st

from lake import store
from lake.errors import CathodeLakeError

COMPARE_KEY = "compare_cells"           # cells picked on the Cells page, used by the Cycling page


def lake_root() -> Path:
    """`--lake DIR` after `streamlit run main.py --`, else `$CATHODE_LAKE`, else the default lake folder."""
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg == "--lake" and i + 1 < len(args):
            return Path(args[i + 1]).expanduser().resolve()
        if arg.startswith("--lake="):
            return Path(arg.split("=", 1)[1]).expanduser().resolve()
    if os.environ.get("CATHODE_LAKE"):
        return Path(os.environ["CATHODE_LAKE"]).expanduser().resolve()
    return store.default_root().resolve()


@st.cache_data(ttl=1.0, show_spinner=False, max_entries=16)
def _stamp(root: str) -> tuple[int, int]:
    row = store.query(root, "SELECT (SELECT coalesce(max(lake_version), 0) FROM commits) AS v, "
                            "(SELECT count(*) FROM sources) AS n").to_pylist()[0]
    return int(row["v"]), int(row["n"])


def stamp() -> tuple[int, int]:
    return _stamp(str(lake_root()))


def refresh() -> None:
    """Forget the stamp, so the next query sees a commit this session just made."""
    _stamp.clear()


@st.cache_data(show_spinner=False, max_entries=512)
def _frame(root: str, lake_stamp: tuple[int, int], sql: str, params: tuple | None) -> pd.DataFrame:
    return store.query(root, sql, list(params) if params else None).to_pandas()


def frame(sql: str, params: list | tuple | None = None) -> pd.DataFrame:
    """Rows of a read-only query as a DataFrame, cached until the lake changes."""
    return _frame(str(lake_root()), stamp(), sql, tuple(params) if params else None)


def require_lake() -> Path:
    """The lake folder, or an explanation and a stop when there is none."""
    root = lake_root()
    if not store.exists(root):
        st.error(f"No lake at `{root}`. Build the demo with `cathode --lake {root} demo`, or create one with "
                 f"`cathode --lake {root} init` and add files on the Ingest page.")
        st.stop()
    try:
        stamp()
    except CathodeLakeError as exc:
        st.error(f"The lake at `{root}` cannot be read: {exc}")
        st.stop()
    return root


def count(table: str) -> int:
    return int(frame(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])


def empty(what: str, hint: str) -> None:
    """The empty state: what is missing and how to fill it."""
    st.info(f"**No {what} in this lake yet.** {hint}", icon=":material/info:")


def compare_cells() -> list[str]:
    return list(st.session_state.get(COMPARE_KEY, []))


def set_compare_cells(cells: list[str]) -> None:
    st.session_state[COMPARE_KEY] = list(cells)


def cell_picker(label: str, options: list[str], default: list[str], key: str, max_default: int = 6) -> list[str]:
    """A multiselect whose choice survives page switches (widget state is dropped when its page is left)."""
    keep = f"_{key}_kept"
    if keep not in st.session_state:
        st.session_state[keep] = [c for c in default if c in options][:max_default]
    chosen = st.multiselect(label, options, default=[c for c in st.session_state[keep] if c in options], key=key)
    st.session_state[keep] = chosen
    return chosen
