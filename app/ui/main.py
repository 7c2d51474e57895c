"""cathode-lake's Streamlit app: `cathode [--lake DIR] app` or `streamlit run app/ui/main.py -- --lake DIR`."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui import data

HERE = Path(__file__).resolve().parent
PAGES = (  # (file, title, icon, url)
    ("overview.py", "Overview", ":material/dashboard:", "overview"),
    ("cells.py", "Cells", ":material/battery_full:", "cells"),
    ("cycling.py", "Cycling", ":material/show_chart:", "cycling"),
    ("eis.py", "EIS", ":material/bubble_chart:", "eis"),
    ("microstructure.py", "Microstructure", ":material/grain:", "microstructure"),
    ("literature.py", "Literature", ":material/menu_book:", "literature"),
    ("sql.py", "SQL", ":material/terminal:", "sql"),
    ("models.py", "Models", ":material/model_training:", "models"),
    ("optimizer.py", "Optimizer", ":material/tune:", "optimizer"),
    ("ingest.py", "Ingest", ":material/upload_file:", "ingest"),
)

st.set_page_config(page_title="cathode-lake", page_icon=":material/battery_charging_full:", layout="wide")
page = st.navigation([st.Page(HERE / "views" / f, title=t, icon=i, url_path=u, default=(u == "overview"))
                      for f, t, i, u in PAGES])
root = data.lake_root()
with st.sidebar:
    st.caption(f"lake `{root}`")
    try:
        version, _ = data.stamp()
        st.caption(f"lake version **{version}**")
    except Exception:                               # no lake yet: each page explains
        pass
page.run()
