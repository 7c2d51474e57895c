"""Overview: lake version, counts, latest ingests and commits, rejected files and why."""
import streamlit as st

from app.ui import data

root = data.require_lake()
version, _ = data.stamp()
st.title("cathode-lake")
st.caption(f"Lake at `{root}` · version {version}")

counts = data.frame("""SELECT (SELECT count(*) FROM cells) AS cells, (SELECT count(*) FROM cycles) AS cycles,
    (SELECT count(*) FROM timeseries) AS timeseries, (SELECT count(*) FROM eis_spectra) AS eis_spectra,
    (SELECT count(*) FROM microstructure) AS volumes, (SELECT count(*) FROM literature) AS literature,
    (SELECT count(*) FROM models) AS models, (SELECT count(*) FROM proposals) AS proposals,
    (SELECT count(*) FROM sources WHERE status = 'ingested') AS files,
    (SELECT count(*) FROM sources WHERE status = 'rejected') AS rejected""").iloc[0]
labels = {"cells": "cells", "cycles": "cycles", "timeseries": "time-series rows", "eis_spectra": "EIS spectra",
          "volumes": "tomography volumes", "literature": "literature values", "models": "models",
          "proposals": "proposals", "files": "files ingested", "rejected": "files rejected"}
cols = st.columns(5)
cols[0].metric("lake version", version)
for i, (key, label) in enumerate(labels.items(), start=1):
    cols[i % 5].metric(label, f"{int(counts[key]):,}")

if int(counts["files"]) == 0 and int(counts["rejected"]) == 0:
    data.empty("files", "Add cycler files, lab templates, EIS spectra or tomography volumes on the **Ingest** page, "
               "or build the demo lake with `cathode demo`.")
    st.stop()

n = st.select_slider("show the latest", options=[5, 10, 25, 100], value=10, key="overview_n")
left, right = st.columns(2)
with left:
    st.subheader("Latest ingests")
    st.dataframe(data.frame("""SELECT ingested_at, original_name, format, rows, lake_version FROM sources
        WHERE status = 'ingested' ORDER BY ingested_at DESC, original_name LIMIT ?""", [n]),
        hide_index=True, width="stretch")
with right:
    st.subheader("Commits")
    st.dataframe(data.frame("SELECT lake_version, committed_at, command, summary FROM commits "
                            "ORDER BY lake_version DESC LIMIT ?", [n]), hide_index=True, width="stretch")

st.subheader("Rejected files")
rejected = data.frame("""SELECT ingested_at, original_name, format, reason FROM sources WHERE status = 'rejected'
    ORDER BY ingested_at DESC LIMIT ?""", [n])
if rejected.empty:
    st.success("No file was rejected.")
else:
    st.dataframe(rejected, hide_index=True, width="stretch",
                 column_config={"reason": st.column_config.TextColumn("why", width="large")})
