"""Ingest: upload files; they are saved inside the lake and go through the same path and messages as the CLI."""
import streamlit as st

from app import outcomes as outcomes_text
from app.ui import data, uploads
from lake import store
from lake.errors import CathodeLakeError

root = data.lake_root()
st.title("Ingest files")
st.markdown("Cycler files (Neware, BioLogic, Maccor, Arbin, BDF), lab templates (`cells.csv`, `cycles.csv`), "
            "literature tables, impedance spectra and tomography label stacks (with their `<file>.json` sidecar). "
            "Detection is by content. Files are saved in "
            f"`{root / uploads.UPLOADS}` and ingested exactly as `cathode ingest` does.")
with st.form("ingest_form", clear_on_submit=True):
    files = st.file_uploader("files", accept_multiple_files=True, key="ingest_files",
                             help=f"at most {uploads.max_upload_mb():g} MB per file")
    cell_id = st.text_input("cell id for instrument files (optional: else barcode or file name)", key="ingest_cell")
    submitted = st.form_submit_button("Ingest", type="primary")
if submitted:
    if not files:
        st.warning("Choose one or more files first.")
    else:
        try:
            if not store.exists(root):
                store.init(root)
            outcomes = uploads.ingest_uploads(root, [uploads.Upload(f.name, f) for f in files],
                                              cell_id=cell_id.strip() or None)
        except CathodeLakeError as exc:
            st.session_state["ingest_report"] = ("error", str(exc))
        else:
            data.refresh()
            version, _ = data.stamp()
            st.session_state["ingest_report"] = (
                "ok", "\n".join(outcomes_text.outcome_line(o) for o in outcomes),
                outcomes_text.summary_line(outcomes, version), any(o.status == "rejected" for o in outcomes))
report = st.session_state.get("ingest_report")
if report and report[0] == "error":
    st.error(f"error: {report[1]}")
elif report:
    _, lines, summary, rejected = report
    (st.warning if rejected else st.success)(summary)
    st.code(lines, language=None)
