"""Optimizer: the measured Pareto front, the campaign in lab time, proposals with their status, accept or reject,
run a new `propose`."""
import altair as alt
import pandas as pd
import streamlit as st

import virtual_lab                                    # the package alone: its SOURCE, no simulator
from app.ui import charts, data
from lake import timeline
from lake.recipe import RECIPE, SEED_PROTOCOL

RECIPE_FIELDS = [c for c in RECIPE if c not in SEED_PROTOCOL]   # what a recipe chooses beside the protocol
LATE_BATCH_DAYS = 30      # a batch proposed this long after the last recorded cycle is named under the time line


def act(action, failed: str, message_key: str, done: str) -> None:
    """Run an optimizer action; its one-line error on failure, else refresh the cached lake and rerun with ``done``
    shown (at the place that reads ``message_key``)."""
    try:
        action()
    except Exception as exc:  # the optimizer's own message, one line
        st.error(f"{failed}: {exc}")
    else:
        data.refresh()
        st.session_state[message_key] = done
        st.rerun()


@st.cache_data(show_spinner=False)
def true_optimum() -> float:
    from virtual_lab import variants                   # imported on demand: SciPy, and a virtual-lab lake only
    return variants.optimum(0)[0]


@st.cache_data(show_spinner=False)
def true_values(recipes) -> list[float]:
    """True (noise-free) delivered_capacity:300 at the optimum's protocol, per recipe; NaN where the simulator
    refuses the recipe (outside its bounds)."""
    from virtual_lab import variants
    out = []
    for row in recipes.to_dict("records"):
        try:
            out.append(variants.true_value({**row, **SEED_PROTOCOL}, variants.variant(0)))
        except ValueError:
            out.append(float("nan"))
    return out


root = data.require_lake()
st.title("Optimizer")


life = data.frame("""SELECT l.cell_id, c.process, c.loading_mg_cm2, l.cycles_to_80, l.censored_80,
    l.initial_areal_capacity_mah_cm2 FROM cell_life l JOIN cells c USING (cell_id)
    WHERE l.initial_areal_capacity_mah_cm2 IS NOT NULL AND l.cycles_to_80 IS NOT NULL""")
st.subheader("Pareto front: cycle life and areal capacity")
if life.empty:
    data.empty("cycled cells", "The front needs cells with cycles (ingest a cells.csv and cycles.csv).")
else:
    life["on_front"] = charts.pareto_mask(life["cycles_to_80"], life["initial_areal_capacity_mah_cm2"])
    front = life[life["on_front"]].sort_values("initial_areal_capacity_mah_cm2")
    points = alt.Chart(life).mark_point(filled=True, size=70).encode(
        x=alt.X("initial_areal_capacity_mah_cm2:Q", title="initial areal capacity (mAh/cm²)"),
        y=alt.Y("cycles_to_80:Q", title="cycles to 80 %", scale=alt.Scale(type="log")),
        color=alt.Color("process:N", scale=charts.PROCESS_COLORS),
        opacity=alt.condition("datum.on_front", alt.value(1.0), alt.value(0.35)),
        tooltip=["cell_id", "process", "loading_mg_cm2", "cycles_to_80", "censored_80",
                 alt.Tooltip("initial_areal_capacity_mah_cm2", format=".2f")])
    line = alt.Chart(front).mark_line(color="black", strokeDash=[5, 3], interpolate="step-before").encode(
        x="initial_areal_capacity_mah_cm2:Q", y="cycles_to_80:Q")
    st.altair_chart((points + line).properties(height=360), width="stretch")
    st.caption(f"{int(life['on_front'].sum())} of {len(life)} measured cells are on the front (no other cell has "
               "both more cycles and more capacity). Censored cells are lower bounds.")

st.subheader("Campaign in lab time")
spans = data.frame("""SELECT s.*, c.process, c.source, l.short_cycle, l.censored_80, c.loading_mg_cm2,
    c.densification_frac, c.eca_wt_frac, c.temperature_c FROM cell_spans s JOIN cells c USING (cell_id)
    LEFT JOIN cell_life l USING (cell_id) ORDER BY s.started_at, s.cell_id""")
if spans.empty:
    data.empty("cycle end times", "Add an `ended_at` column to cycles.csv (ISO 8601, UTC) or ingest cycler files "
               "that log absolute times, and each cell's test shows here on a time line.")
else:
    spans["lane"] = timeline.lanes(list(spans["started_at"]), list(spans["last_cycle_ended_at"]))
    spans["outcome"] = [charts.outcome(s, c) for s, c in zip(spans["short_cycle"], spans["censored_80"])]
    batches = data.frame("""SELECT lake_version, min(created_at) AS created_at, count(*) AS proposals
        FROM proposals GROUP BY lake_version ORDER BY lake_version""")
    batches["label"] = [f"{n} proposed" for n in batches["proposals"]]
    # a batch proposed long after the last recorded cycle (a backdated campaign, such as the demo's) is named, not
    # drawn: on the time line it would squeeze the whole campaign into a corner
    last = pd.to_datetime(spans["last_cycle_ended_at"], utc=True).max()
    later = pd.to_datetime(batches["created_at"], utc=True) > last + pd.Timedelta(days=LATE_BATCH_DAYS)
    batches, late = batches[~later], batches[later]
    domain = charts.time_domain(spans["started_at"], spans["last_cycle_ended_at"], batches["created_at"])
    color_by = st.radio("colour by", ["process", "outcome"], horizontal=True, key="opt_time_color")
    st.altair_chart(charts.campaign_chart(spans, batches, color_by, domain), width="stretch")
    st.caption(f"{len(spans)} cells on {spans['lane'].max() + 1} lanes (a cell takes the lowest lane free when it "
               "starts: its first cycle's end minus its median cycle time). A bar ends at the cell's last cycle; "
               "lighter: no end_of_test recorded, so the test may still run. Dashed lines: proposal batches.")
    if len(late):
        st.caption("Proposed after the last recorded cycle (" + last.strftime("%Y-%m-%d") + "), not drawn: "
                   + "; ".join(f"{n} on {pd.to_datetime(t, utc=True):%Y-%m-%d}"
                               for n, t in zip(late["proposals"], late["created_at"])) + ".")
    tried = spans[spans["source"].fillna("").str.startswith(virtual_lab.SOURCE)]
    if not tried.empty:
        optimum = true_optimum()
        regret = charts.regret_so_far(tried, true_values(tried[RECIPE_FIELDS]), optimum)
        if not regret.empty:
            st.markdown("**Regret so far** (virtual lab): best recipe tried so far, true value from the simulator")
            st.altair_chart(charts.regret_chart(regret, spans["last_cycle_ended_at"].max(), domain),
                            width="stretch")
            st.caption(f"True delivered_capacity:300 (mAh/cm²) at {SEED_PROTOCOL['voltage_max_v']} V / "
                       f"{SEED_PROTOCOL['c_rate']} C of each virtual-lab recipe, noise-free, in the seed's lab, "
                       "counted from the day its cell went on test; "
                       f"its optimum is {optimum:.3f}. Now {100 * regret['regret_frac'].iloc[-1]:.1f} % short of "
                       "it. A real lab never knows these values: the simulator does.")

st.subheader("Proposals")
proposals = data.frame("""SELECT proposal_id, status, study_name, process, loading_mg_cm2, densification_frac,
    eca_wt_frac, temperature_c, voltage_max_v, c_rate, objective, predicted_mean, predicted_lo, predicted_hi,
    acquisition, model_id, result_cell_id, created_at, lake_version FROM proposals
    ORDER BY created_at DESC, proposal_id""")
if proposals.empty:
    data.empty("proposals", "Run `cathode propose --n 4` or the button below: each proposal is a recipe with its "
               "predicted interval, tracked from proposed to done.")
else:
    statuses = st.multiselect("status", sorted(proposals["status"].dropna().unique()), key="opt_status")
    shown = proposals[proposals["status"].isin(statuses)] if statuses else proposals
    st.dataframe(shown, hide_index=True, width="stretch")
    ranged = shown.dropna(subset=["predicted_mean"])
    if not ranged.empty:
        st.altair_chart((alt.Chart(ranged).mark_rule().encode(
            x=alt.X("proposal_id:N", title=None), y=alt.Y("predicted_lo:Q", title="predicted (90 % interval)"),
            y2="predicted_hi:Q", color="status:N") + alt.Chart(ranged).mark_point(filled=True).encode(
            x="proposal_id:N", y="predicted_mean:Q", color="status:N",
            tooltip=["proposal_id", "objective", "predicted_mean", "predicted_lo", "predicted_hi"])
        ).properties(height=260), width="stretch")
    open_ids = list(proposals.loc[proposals["status"].isin(["proposed", "accepted"]), "proposal_id"])
    if open_ids:
        a, b, c = st.columns([2, 1, 1])
        pid = a.selectbox("proposal", open_ids, key="opt_pick")
        for col, status, label in ((b, "accepted", "Accept"), (c, "rejected", "Reject")):
            if col.button(label, key=f"opt_{status}"):
                from optimizer.proposals import set_status   # imported on demand: Optuna takes seconds
                act(lambda: set_status(root, pid, status), f"could not set {pid} to {status}", "opt_done",
                    f"{pid} is now {status}.")
    if st.session_state.get("opt_done"):
        st.success(st.session_state.pop("opt_done"))

st.subheader("Run a new propose")
with st.form("opt_propose"):
    n = st.number_input("recipes in the batch", 1, 32, 4, key="opt_n")
    objective = st.selectbox("objective", ["pareto (cycle life × areal capacity)", "cycle_life", "areal_capacity",
                                           "delivered_capacity:300"], key="opt_objective")
    submitted = st.form_submit_button("Propose")
if submitted:
    from optimizer.proposals import propose                 # imported on demand: Optuna takes seconds

    def run_propose():
        batch = propose(root, int(n), None if objective.startswith("pareto") else objective)
        st.session_state["opt_notes"] = batch.notes        # e.g. a refused model file skipped by the warm start
    with st.spinner("proposing…"):
        act(run_propose, "propose failed", "opt_proposed", f"Proposed {n} recipes (listed under Proposals).")
if st.session_state.get("opt_proposed"):
    st.success(st.session_state.pop("opt_proposed"))
    for note in st.session_state.pop("opt_notes", []):
        st.warning(note)
