"""Microstructure: phase fractions, active-area fraction, a slice viewer of a label volume, per-particle contacts."""
import json
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from app.ui import charts, data, volume

data.require_lake()
st.title("Microstructure")
rows = data.frame("""SELECT m.cell_id, c.process, m.pore_frac, m.ncm_frac, m.binder_frac, m.active_area_frac,
    m.pore_volume_m3, m.ssa_ncm_per_m, m.shape_z, m.shape_y, m.shape_x, m.voxel_size_m, m.source_sha256,
    s.original_name, s.original_path, s.meta_json
    FROM microstructure m LEFT JOIN cells c USING (cell_id) LEFT JOIN sources s ON s.sha256 = m.source_sha256
    ORDER BY m.cell_id, s.original_name""")
if rows.empty:
    data.empty("tomography volumes", "Ingest a 3-phase label TIFF stack (pore / NCM / binder) with its voxel size "
               "and label map (a sidecar `<file>.json`) on the Ingest page.")
    st.stop()

rows["volume"] = rows["cell_id"] + " · " + rows["original_name"].fillna("?")
fractions = rows.melt(id_vars=["volume"], value_vars=["pore_frac", "ncm_frac", "binder_frac"], var_name="phase",
                      value_name="fraction")
fractions["phase"] = fractions["phase"].str.removesuffix("_frac")
left, right = st.columns(2)
with left:
    st.subheader("Phase volume fractions")
    st.altair_chart(alt.Chart(fractions).mark_bar().encode(
        y=alt.Y("volume:N", title=None), x=alt.X("fraction:Q", stack="normalize", title="volume fraction"),
        color=alt.Color("phase:N", scale=alt.Scale(domain=["pore", "ncm", "binder"],
                                                   range=["#333344", "#5a82c8", "#f0a028"])),
        tooltip=["volume", "phase", alt.Tooltip("fraction", format=".3f")]).properties(height=60 + 30 * len(rows)),
        width="stretch")
with right:
    st.subheader("Active-area fraction")
    st.altair_chart(alt.Chart(rows).mark_bar().encode(
        y=alt.Y("volume:N", title=None), x=alt.X("active_area_frac:Q", scale=alt.Scale(domain=[0, 1]),
                                                 title="NCM surface touching binder (fraction)"),
        color=alt.Color("process:N", scale=charts.PROCESS_COLORS),
        tooltip=["volume", alt.Tooltip("active_area_frac", format=".3f")]).properties(height=60 + 30 * len(rows)),
        width="stretch")
st.dataframe(rows.drop(columns=["source_sha256", "original_path", "meta_json", "volume"]), hide_index=True,
             width="stretch", column_config={c: st.column_config.NumberColumn(format="%.3e")
                                             for c in ("pore_volume_m3", "ssa_ncm_per_m", "voxel_size_m")})

pick = st.selectbox("volume", list(rows["volume"]), key="micro_volume")
row = rows[rows["volume"] == pick].iloc[0]
path = Path(str(row["original_path"]))
labels = (json.loads(row["meta_json"]) if isinstance(row["meta_json"], str) else {}).get("labels") or {}
readable = path.is_file() and bool(labels)

st.subheader("Per-particle contact with the binder")
stored = data.frame("""SELECT contact_frac FROM particle_contacts WHERE source_sha256 = ? AND NOT touches_boundary
    AND contact_frac IS NOT NULL""", [row["source_sha256"]])                                 # `cathode derive`
fractions = stored["contact_frac"].to_numpy()
if len(fractions) == 0:
    st.caption("No per-particle contacts stored for this volume: `cathode derive --what microstructure` splits "
               "its NCM into particles and counts their contacts.")
else:
    st.altair_chart(alt.Chart(pd.DataFrame({"contact": fractions})).mark_bar().encode(
        x=alt.X("contact:Q", bin=alt.Bin(extent=[0, 1], step=0.05),
                title="share of the particle's surface touching binder"),
        y=alt.Y("count():Q", title="particles")).properties(height=260), width="stretch")
    st.caption(f"{len(fractions)} particles inside the box (the lake's particle_contacts); median contact {np.median(fractions):.2f}. A low-contact tail marks "
               "particles that charge late (the seed's asynchronous charging).")

st.subheader("Slice viewer")
if not readable:
    st.info(f"The label volume is no longer at `{path}` (the lake keeps its metrics, not the voxels). Files "
            f"uploaded on the Ingest page stay inside the lake and can be viewed here.")
    st.stop()
shape, get = volume.open_volume(path)
z = st.slider("slice (z)", 0, shape[0] - 1, shape[0] // 2, key="micro_z")
zoom = max(1, 384 // max(shape[1], shape[2]))               # whole voxels, no smoothing between phases
st.image(np.kron(charts.label_image(get(z), labels), np.ones((zoom, zoom, 1), np.uint8)),
         width=min(640, zoom * shape[2]),
         caption=f"slice {z} of {shape[0]} · pore dark, NCM blue, binder orange · {shape[2]}×{shape[1]} voxels of "
                 f"{row['voxel_size_m'] * 1e6:.3g} µm")
