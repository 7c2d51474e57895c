"""SQL console: one read-only statement at a time, sandboxed, with the schema's documentation beside it."""
import pandas as pd
import streamlit as st

from app.ui import data, sql_console

root = data.require_lake()
st.title("SQL console")
EXAMPLES = {
    "cycle life per cell": "SELECT * FROM cell_life ORDER BY cycles_to_80 DESC LIMIT 20",
    "cells by process": "SELECT process, count(*) AS cells, avg(loading_mg_cm2) AS mean_loading FROM cells "
                        "GROUP BY process ORDER BY cells DESC",
    "time-series rows per cell": "SELECT cell_id, count(*) AS rows, max(cycle_count) AS cycles FROM timeseries "
                                 "GROUP BY cell_id ORDER BY cell_id",
    "rejected files": "SELECT original_name, reason FROM sources WHERE status = 'rejected'",
}
query_col, doc_col = st.columns([3, 2])
with query_col:
    example = st.selectbox("start from an example", list(EXAMPLES), key="sql_example")
    sql = st.text_area("query", value=EXAMPLES[example], height=140, key=f"sql_text_{example}",
                       help=f"One statement. Read-only, no file access, at most {sql_console.ROW_CAP:,} rows, "
                            f"{sql_console.TIMEOUT_S:g} s time limit.")
    run = st.button("Run", type="primary", key="sql_run")
    if run or "sql_result" not in st.session_state or st.session_state.get("sql_last") != sql:
        st.session_state["sql_last"] = sql
        try:
            result = sql_console.run(root, sql)
            st.session_state["sql_result"] = ("ok", result.table, result.truncated, result.seconds)
        except sql_console.Refused as exc:
            st.session_state["sql_result"] = ("refused", str(exc), False, 0.0)
    kind, payload, truncated, seconds = st.session_state["sql_result"]
    if kind == "refused":
        st.error(f"**Refused:** {payload}", icon=":material/block:")
    else:
        note = f" — showing the first {sql_console.ROW_CAP:,}; add a LIMIT or an aggregate" if truncated else ""
        st.caption(f"{payload.num_rows:,} rows in {seconds * 1000:.0f} ms{note}")
        st.dataframe(payload.to_pandas(), hide_index=True, width="stretch")
        st.download_button("download CSV", sql_console.download_csv(payload), "query.csv", "text/csv",
                           key="sql_download")
with doc_col:
    st.subheader("Tables and columns")
    docs = sql_console.documentation()
    name = st.selectbox("table", [d["name"] for d in docs], key="sql_doc_table")
    doc = next(d for d in docs if d["name"] == name)
    st.markdown(f"**{doc['name']}** ({doc['kind']}) — {doc['description']}")
    st.dataframe(pd.DataFrame(doc["columns"]), hide_index=True, width="stretch", height=420)
