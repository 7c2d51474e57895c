"""Literature: loading versus cycle life like the seed's Fig. S18, this lab's cells beside published ones."""
import pandas as pd
import streamlit as st

from app.ui import charts, data

data.require_lake()
st.title("Literature")
published = data.frame("""SELECT l.cell_id, l.doi, l.figure, l.quantity, l.value, l.unit, l.at_cycle, l.note,
    c.process, c.loading_mg_cm2 FROM literature l LEFT JOIN cells c USING (cell_id)
    ORDER BY l.doi, l.cell_id, l.quantity""")
lab = data.frame("""SELECT l.cell_id, c.process, c.loading_mg_cm2, l.cycles_to_80, l.censored_80
    FROM cell_life l JOIN cells c USING (cell_id)
    WHERE l.cell_id NOT IN (SELECT cell_id FROM literature WHERE cell_id IS NOT NULL)""")
if published.empty and lab.empty:
    data.empty("literature values", "Ingest a literature CSV (`cathode template literature`) with a DOI and figure "
               "per value; `cathode demo` adds the seed paper's four cells.")
    st.stop()

show_lab = st.toggle("show this lab's cells", value=True, key="lit_show_lab")
life = published[(published["quantity"] == "retention_frac") & published["at_cycle"].notna()]
points = [pd.DataFrame({"cell_id": life["cell_id"], "origin": "published", "process": life["process"],
                        "loading_mg_cm2": life["loading_mg_cm2"], "cycles": life["at_cycle"].astype(float),
                        "detail": [f"{v:.1%} retention at cycle {int(n)} ({f}, {d})" for v, n, f, d in
                                   zip(life["value"], life["at_cycle"], life["figure"], life["doi"])]})]
if show_lab and not lab.empty:
    points.append(pd.DataFrame({"cell_id": lab["cell_id"], "origin": "this lab", "process": lab["process"],
                                "loading_mg_cm2": lab["loading_mg_cm2"], "cycles": lab["cycles_to_80"].astype(float),
                                "detail": ["≥ (test ended above 80 %)" if c else "cycles to 80 %"
                                           for c in lab["censored_80"]]}))
chart_rows = pd.concat(points, ignore_index=True).dropna(subset=["loading_mg_cm2", "cycles"])
if chart_rows.empty:
    st.caption("No value with both a loading and a cycle count to plot.")
else:
    st.altair_chart(charts.loading_life_chart(chart_rows), width="stretch")
    st.caption("Like the seed paper's Fig. S18: high loading and long life rarely come together. Published points "
               "show the cycle a retention was reported at; this lab's show cycles to 80 % retention.")
st.subheader("Published values")
st.dataframe(published, hide_index=True, width="stretch",
             column_config={"doi": st.column_config.TextColumn("DOI"),
                            "note": st.column_config.TextColumn(width="large")})
