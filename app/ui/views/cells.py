"""Cells: filter by process, loading, ECA and source; a sortable table; pick cells to compare."""
import altair as alt
import streamlit as st

from app.ui import charts, data

data.require_lake()
st.title("Cells")
cells = data.frame("""SELECT c.cell_id, c.process, c.loading_mg_cm2, c.eca_wt_frac, c.temperature_c,
    c.voltage_max_v, c.c_rate, c.porosity_frac, c.active_area_frac, coalesce(c.source, 'lab') AS source,
    l.cycles_tested, l.cycles_to_80, l.censored_80, l.initial_capacity_mah_g, l.initial_areal_capacity_mah_cm2,
    l.last_retention_frac
    FROM cells c LEFT JOIN cell_life l USING (cell_id) ORDER BY c.cell_id""")
if cells.empty:
    data.empty("cells", "Ingest a `cells.csv` (see `cathode template cells`) on the Ingest page.")
    st.stop()

with st.container(border=True):
    a, b, c, d = st.columns(4)
    processes = a.multiselect("process", sorted(cells["process"].dropna().unique()), key="cells_process")
    lo, hi = float(cells["loading_mg_cm2"].min()), float(cells["loading_mg_cm2"].max())
    loading = b.slider("loading (mg/cm²)", lo, max(hi, lo + 0.1), (lo, max(hi, lo + 0.1)), key="cells_loading")
    eca_hi = float(max(cells["eca_wt_frac"].max(), 0.001))
    eca = c.slider("ECA fraction", 0.0, eca_hi, (0.0, eca_hi), key="cells_eca")
    sources = d.multiselect("source", sorted(cells["source"].unique()), key="cells_source")

shown = cells[cells["loading_mg_cm2"].between(*loading) & cells["eca_wt_frac"].fillna(0).between(*eca)]
if processes:
    shown = shown[shown["process"].isin(processes)]
if sources:
    shown = shown[shown["source"].isin(sources)]
st.caption(f"{len(shown)} of {len(cells)} cells · click a column header to sort · tick rows to compare")
event = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                     key="cells_table", column_config={
                         "loading_mg_cm2": st.column_config.NumberColumn("loading mg/cm²", format="%.1f"),
                         "eca_wt_frac": st.column_config.NumberColumn("ECA", format="%.3f"),
                         "last_retention_frac": st.column_config.NumberColumn("last retention", format="%.3f"),
                         "censored_80": st.column_config.CheckboxColumn("censored")})
ticked = [shown.iloc[i]["cell_id"] for i in event.selection.rows] if event and event.selection else []
picked = data.cell_picker("cells to compare (Cycling page)", list(cells["cell_id"]),
                          data.compare_cells() or ticked, key="cells_compare")
if ticked and set(ticked) - set(picked):
    picked = list(dict.fromkeys(picked + ticked))
data.set_compare_cells(picked)
if picked:
    st.page_link("views/cycling.py", label=f"compare {len(picked)} cells on the Cycling page",
                 icon=":material/show_chart:")

life = shown.dropna(subset=["cycles_to_80"])
if not life.empty:
    st.subheader("Cycle life versus loading")
    st.altair_chart(alt.Chart(life).mark_point(filled=True, size=70).encode(
        x=alt.X("loading_mg_cm2:Q", title="loading (mg/cm²)"),
        y=alt.Y("cycles_to_80:Q", title="cycles to 80 %", scale=alt.Scale(type="log")),
        color=alt.Color("process:N", scale=charts.PROCESS_COLORS),
        shape=alt.Shape("censored_80:N", title="censored (lower bound)"),
        tooltip=["cell_id", "process", "loading_mg_cm2", "eca_wt_frac", "cycles_to_80", "censored_80"]
    ).properties(height=340), width="stretch")
