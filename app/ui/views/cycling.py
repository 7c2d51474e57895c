"""Cycling: retention and capacity versus cycle for chosen cells, voltage curves, dQ/dV with the 3.8 V band."""
import pandas as pd
import streamlit as st

from app.ui import charts, data

data.require_lake()
st.title("Cycling")
life = data.frame("SELECT cell_id, cycles_to_80 FROM cell_life ORDER BY cell_id")
with_ts = data.frame("SELECT DISTINCT cell_id FROM timeseries ORDER BY cell_id")["cell_id"].tolist()
if life.empty and not with_ts:
    data.empty("cycling data", "Ingest a `cycles.csv` or cycler files (Neware, BioLogic, Maccor, Arbin, BDF) on the "
               "Ingest page.")
    st.stop()

cells = life["cell_id"].tolist()
default = data.compare_cells() or with_ts or life.sort_values("cycles_to_80")["cell_id"].tolist()[-4:]
chosen = data.cell_picker("cells", sorted(set(cells) | set(with_ts)), default, key="cycling_cells")
if not chosen:
    st.info("Pick one or more cells above (or tick them on the Cells page).")
    st.stop()

QUANTITIES = {"retention": ("retention_frac", "retention (fraction of best of cycles 1-3)", ".3f"),
              "discharge capacity": ("discharge_capacity_mah_g", "discharge capacity (mAh/g)", ".1f"),
              "coulombic efficiency": ("coulombic_efficiency_frac", "coulombic efficiency", ".4f")}
quantity = st.radio("per-cycle quantity", list(QUANTITIES), horizontal=True, key="cycling_quantity")
column, title, fmt = QUANTITIES[quantity]
rows = data.frame("""SELECT y.cell_id, y.cycle_index, r.retention_frac, y.discharge_capacity_mah_g,
    y.coulombic_efficiency_frac FROM cycles y JOIN retention r USING (cell_id, cycle_index)
    WHERE y.cell_id IN (SELECT unnest(?)) ORDER BY y.cell_id, y.cycle_index""", [chosen])
if rows.empty:
    st.caption("No per-cycle rows for these cells.")
else:
    st.caption(f"{quantity} versus cycle for {rows['cell_id'].nunique()} cells")
    st.altair_chart(charts.cycle_chart(rows.dropna(subset=[column]), column, title, fmt), width="stretch")

st.subheader("Voltage curves and dQ/dV")
ts_cells = [c for c in chosen if c in with_ts]
if not ts_cells:
    st.info("None of the chosen cells has a time series. Cells with one: "
            + (", ".join(with_ts) if with_ts else "none yet — ingest cycler files on the Ingest page."))
    st.stop()
cycles = data.frame("SELECT DISTINCT cycle_count FROM timeseries WHERE cell_id IN (SELECT unnest(?)) "
                    "ORDER BY 1", [ts_cells])["cycle_count"].dropna().astype(int).tolist()
picked_cycles = st.multiselect("cycles", cycles, default=cycles[:1], key="cycling_cycles")
ts = data.frame("""SELECT t.cell_id, t.cycle_count, t.test_time_second, t.voltage_volt, t.current_ampere,
    t.charging_capacity_ah, t.discharging_capacity_ah FROM timeseries t
    WHERE t.cell_id IN (SELECT unnest(?)) AND t.cycle_count IN (SELECT unnest(?))
    ORDER BY t.cell_id, t.test_time_second""", [ts_cells, picked_cycles or cycles[:1]])
mass = dict(data.frame("SELECT cell_id, active_mass_mg FROM cells WHERE cell_id IN (SELECT unnest(?)) "
                       "AND active_mass_mg > 0", [ts_cells]).itertuples(index=False))
direction = ts["current_ampere"].apply(lambda i: "charge" if i > 0 else ("discharge" if i < 0 else "rest"))
curves = ts.assign(direction=direction)
curves = curves[curves["direction"] != "rest"]
grams = curves["cell_id"].map(lambda c: mass.get(c, float("nan")) / 1000.0)
specific = bool(mass) and all(c in mass for c in ts_cells)
capacity_mah = curves["charging_capacity_ah"].where(curves["direction"] == "charge",
                                                     curves["discharging_capacity_ah"]) * 1000.0
curves = curves.assign(capacity=capacity_mah / grams if specific else capacity_mah)
left, right = st.columns(2)
with left:
    st.altair_chart(charts.voltage_chart(curves, "capacity (mAh/g)" if specific else "capacity (mAh)"),
                    width="stretch")
with right:
    dq = data.frame("""SELECT cell_id, cycle_index AS cycle_count, direction, voltage_v, dqdv_mah_v, dqdv_mah_g_v
        FROM dqdv WHERE cell_id IN (SELECT unnest(?)) AND cycle_index IN (SELECT unnest(?))
        ORDER BY cell_id, cycle_index, direction, voltage_v""", [ts_cells, picked_cycles or cycles[:1]])  # derive
    per_gram = not dq.empty and dq["dqdv_mah_g_v"].notna().all()       # mAh/g/V when every chosen cell has a mass
    dq = dq.assign(dqdv=dq["dqdv_mah_g_v" if per_gram else "dqdv_mah_v"], unit="mAh/g/V" if per_gram else "mAh/V")
    if dq.empty:
        st.caption("No stored dQ/dV for these cells and cycles: `cathode derive --what dqdv` computes it.")
    else:
        st.altair_chart(charts.dqdv_chart(dq), width="stretch")
        st.caption("The shaded 3.7–3.9 V band is where the seed paper sees an extra first-charge plateau: PEO "
                   "oxidising at poorly contacted NCM particles (cold-calendered cells; absent after in-situ "
                   "polymerisation).")
flags = data.frame("""SELECT cell_id, first_charge_plateau, plateau_voltage_v, plateau_extra_capacity_mah_g
    FROM first_charge WHERE cell_id IN (SELECT unnest(?)) ORDER BY cell_id""", [ts_cells])   # `cathode derive`
if not flags.empty:
    st.caption("First-charge plateau (`first_charge`): " + ", ".join(
        f"{r.cell_id} {'**yes**' if r.first_charge_plateau else 'no'}"
        + (f" ({r.plateau_voltage_v:.2f} V)" if r.first_charge_plateau and pd.notna(r.plateau_voltage_v) else "")
        for r in flags.itertuples()))
