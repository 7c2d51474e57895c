"""EIS: Nyquist plots with the fitted circuit, interfacial resistance versus voltage."""
import altair as alt
import pandas as pd
import streamlit as st

from app.ui import charts, data

data.require_lake()
st.title("Impedance (EIS)")
spectra = data.frame("""SELECT s.spectrum_id, s.cell_id, s.spectrum_index, s.voltage_v, s.instrument, s.n_points,
    src.original_name FROM eis_spectra s LEFT JOIN sources src ON src.sha256 = s.source_sha256
    ORDER BY s.cell_id, s.spectrum_id""")
if spectra.empty:
    data.empty("impedance spectra", "Ingest Gamry `.DTA`, ZPlot `.z`, PARSTAT, VersaStudio `.par`, Autolab, CHI or "
               "BioLogic PEIS files on the Ingest page (they belong to a cell by `--cell-id` or file name).")
    st.stop()

cells = sorted(spectra["cell_id"].unique())
cell = st.selectbox("cell", cells, key="eis_cell")
mine = spectra[spectra["cell_id"] == cell]
label = {r.spectrum_id: f"{r.voltage_v:.2f} V (spectrum {r.spectrum_index})" if pd.notna(r.voltage_v) else
         (f"{r.original_name} #{r.spectrum_index}" if pd.notna(r.original_name) else r.spectrum_id)
         for r in mine.itertuples()}         # short: the legend truncates; the files are in "fitted parameters"
ids = list(label)
spread = list(dict.fromkeys([ids[0], ids[len(ids) // 2], ids[-1]]))      # first, middle and last of the series
chosen = st.multiselect("spectra", ids, default=spread, format_func=label.get, key="eis_spectra")
if not chosen:
    st.info("Pick one or more spectra.")
    st.stop()
points = data.frame("""SELECT spectrum_id, frequency_hz, z_real_ohm, z_imag_ohm FROM eis_points
    WHERE spectrum_id IN (SELECT unnest(?)) ORDER BY spectrum_id, frequency_hz DESC""", [chosen])
points["spectrum"] = points["spectrum_id"].map(label)
fits = data.frame("""SELECT spectrum_id, circuit, parameter, value, stderr, unit, residual_rms_ohm FROM eis_fits
    WHERE spectrum_id IN (SELECT unnest(?)) ORDER BY spectrum_id, parameter""", [chosen])
curves = data.frame("""SELECT spectrum_id, point_index, frequency_hz, z_real_ohm, z_imag_ohm FROM eis_fit_points
    WHERE spectrum_id IN (SELECT unnest(?)) ORDER BY spectrum_id, point_index""", [chosen])   # `cathode derive`
curves["spectrum"] = curves["spectrum_id"].map(label)
st.altair_chart(charts.nyquist_chart(points, curves), width="stretch")
if fits.empty:
    st.caption("No equivalent-circuit fit stored for these spectra yet.")
else:
    st.caption(f"Dashed: fitted circuit `{fits['circuit'].iloc[0]}` (impedance.py).")
    with st.expander("fitted parameters"):
        st.dataframe(fits, hide_index=True, width="stretch")

st.subheader("Interfacial resistance versus voltage")
r_int = data.frame("""SELECT cell_id, voltage_v, r_interface_ohm AS r_interface, 'ohm' AS unit FROM eis_results
    WHERE r_interface_ohm IS NOT NULL AND voltage_v IS NOT NULL ORDER BY cell_id, voltage_v""")
if r_int.empty:
    st.caption("Needs circuit fits (`cathode derive`) of spectra taken at known voltages (in-situ EIS during "
               "charge, the seed's Fig. 3f; EC-Lab files log the voltage).")
else:
    st.altair_chart(alt.Chart(r_int).mark_line(point=True).encode(
        x=alt.X("voltage_v:Q", title="voltage (V)", scale=alt.Scale(zero=False)),
        y=alt.Y("r_interface:Q", title=f"R interface ({r_int['unit'].iloc[0] or 'ohm'})"),
        color="cell_id:N", tooltip=["cell_id", "voltage_v", "r_interface"]).properties(height=300),
        width="stretch")
