"""Computations and Altair charts for the pages: plain functions of DataFrames, no Streamlit, testable alone."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

PLATEAU_BAND_V = (3.7, 3.9)     # seed: the extra first-charge dQ/dV peak of poorly contacted cells sits near 3.8 V
PROCESS_COLORS = alt.Scale(domain=["cold_calendered", "hot_calendered", "in_situ_polymerized"],
                           range=["#d62728", "#ff7f0e", "#1f77b4"])


def band_layer(band: tuple[float, float] = PLATEAU_BAND_V, axis: str = "x") -> alt.Chart:
    """A shaded band (the 3.8 V plateau window) with its label."""
    frame = pd.DataFrame({"lo": [band[0]], "hi": [band[1]], "label": ["3.8 V band (PEO oxidation)"]})
    enc = {"x": "lo:Q", "x2": "hi:Q"} if axis == "x" else {"y": "lo:Q", "y2": "hi:Q"}
    rect = alt.Chart(frame).mark_rect(opacity=0.15, color="#d62728").encode(**enc, tooltip=["label:N"])
    text = alt.Chart(frame).mark_text(align="left", dx=3, dy=8, color="#d62728", baseline="top").encode(
        **({"x": "lo:Q", "y": alt.value(0)} if axis == "x" else {"y": "hi:Q", "x": alt.value(0)}), text="label:N")
    return rect + text


def dqdv_chart(curves: pd.DataFrame) -> alt.LayerChart:
    """The lake's dqdv rows (cell_id, cycle_count, direction, voltage_v, dqdv, unit) with the 3.8 V band."""
    unit = curves["unit"].iloc[0] if len(curves) else "mAh/g/V"
    lines = alt.Chart(curves).mark_line(strokeWidth=1.5).encode(
        x=alt.X("voltage_v:Q", title="voltage (V)", scale=alt.Scale(zero=False)),
        y=alt.Y("dqdv:Q", title=f"dQ/dV ({unit})"),
        color=alt.Color("cell_id:N", title="cell"),
        strokeDash=alt.StrokeDash("direction:N", title="direction"),
        detail="cycle_count:N",
        tooltip=["cell_id", "cycle_count", "direction", alt.Tooltip("voltage_v", format=".3f"),
                 alt.Tooltip("dqdv", format=".1f")])
    return (band_layer() + lines).properties(height=320)


def cycle_chart(rows: pd.DataFrame, y: str, title: str, fmt: str = ".3g") -> alt.Chart:
    """A per-cycle quantity versus cycle number, one line per cell."""
    return alt.Chart(rows).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("cycle_index:Q", title="cycle"),
        y=alt.Y(f"{y}:Q", title=title, scale=alt.Scale(zero=False)),
        color=alt.Color("cell_id:N", title="cell"),
        tooltip=["cell_id", "cycle_index", alt.Tooltip(y, format=fmt)]).properties(height=320)


def voltage_chart(curves: pd.DataFrame, x_title: str) -> alt.Chart:
    return alt.Chart(curves).mark_line(strokeWidth=1.5).encode(
        x=alt.X("capacity:Q", title=x_title),
        y=alt.Y("voltage_volt:Q", title="voltage (V)", scale=alt.Scale(zero=False)),
        color=alt.Color("cell_id:N", title="cell"),
        strokeDash=alt.StrokeDash("direction:N", title="direction"),
        detail="cycle_count:N", order="test_time_second:Q",
        tooltip=["cell_id", "cycle_count", "direction", alt.Tooltip("voltage_volt", format=".3f")]
    ).properties(height=320)


def nyquist_chart(points: pd.DataFrame, fitted: pd.DataFrame | None = None) -> alt.LayerChart:
    """-Z'' versus Z' with equal axis scales; the fitted circuit (the lake's eis_fit_points, in point_index
    order) as a dashed line where there is one."""
    lo = float(min(points["z_real_ohm"].min(), 0.0))
    hi = float(max(points["z_real_ohm"].max(), (-points["z_imag_ohm"]).max()))
    scale = alt.Scale(domain=[lo, hi * 1.05])
    base = alt.Chart(points.assign(minus_z_imag_ohm=-points["z_imag_ohm"])).mark_circle(size=28).encode(
        x=alt.X("z_real_ohm:Q", title="Z' (ohm)", scale=scale),
        y=alt.Y("minus_z_imag_ohm:Q", title="-Z'' (ohm)", scale=scale),
        color=alt.Color("spectrum:N", title="spectrum"),
        tooltip=["spectrum", alt.Tooltip("frequency_hz", format=".3g"), alt.Tooltip("z_real_ohm", format=".4g"),
                 alt.Tooltip("minus_z_imag_ohm", format=".4g")])
    layers = [base]
    if fitted is not None and len(fitted):
        layers.append(alt.Chart(fitted.assign(minus_z_imag_ohm=-fitted["z_imag_ohm"])).mark_line().encode(
            x="z_real_ohm:Q", y="minus_z_imag_ohm:Q", color="spectrum:N", order="point_index:Q",
            strokeDash=alt.value([4, 2])))
    return alt.layer(*layers).properties(height=380)


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for points no other point beats on both x and y (both maximised)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    mask = np.ones(len(x), bool)
    for i in range(len(x)):
        mask[i] = not np.any((x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i])))
    return mask


def loading_life_chart(points: pd.DataFrame) -> alt.Chart:
    """Loading versus cycle life, this lab's cells beside published ones (like the seed's Fig. S18)."""
    shapes = {"published": "diamond", "this lab": "circle"}
    present = [o for o in shapes if o in set(points["origin"])]
    return alt.Chart(points[points["cycles"] > 0]).mark_point(filled=True, opacity=0.8).encode(
        x=alt.X("loading_mg_cm2:Q", title="NCM loading (mg/cm²)"),
        y=alt.Y("cycles:Q", title="cycles (to 80 % for lab cells; as reported for published)",
                scale=alt.Scale(type="log")),
        size=alt.condition("datum.origin == 'published'", alt.value(260), alt.value(70)),
        color=alt.Color("process:N", scale=PROCESS_COLORS, title="process"),
        shape=alt.Shape("origin:N", title="origin", scale=alt.Scale(domain=present,
                                                                    range=[shapes[o] for o in present])),
        tooltip=["cell_id", "origin", "process", "loading_mg_cm2", "cycles", "detail"]).properties(height=420)


def parity_chart(rows: pd.DataFrame, target: str) -> alt.LayerChart:
    """Predicted versus measured with the 90 % interval as a rule, and the y = x line; censored cells (lower
    bounds) drawn open."""
    values = rows[[c for c in ("y_true", "y_pred", "y_lo", "y_hi") if c in rows.columns]].to_numpy(float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (hi - lo or 1.0)
    scale = alt.Scale(domain=[lo - pad, hi + pad], zero=False)
    line = alt.Chart(pd.DataFrame({"a": [lo, hi], "b": [lo, hi]})).mark_line(color="gray", strokeDash=[4, 4]).encode(
        x=alt.X("a:Q", scale=scale), y=alt.Y("b:Q", scale=scale))
    layers = [line]
    if {"y_lo", "y_hi"} <= set(rows.columns):
        layers.append(alt.Chart(rows).mark_rule(opacity=0.4).encode(x="y_true:Q", y="y_lo:Q", y2="y_hi:Q"))
    censored = "censored" in rows.columns
    points = alt.Chart(rows.assign(measured=np.where(rows["censored"], "censored (lower bound)", "measured"))
                       if censored else rows).mark_point(size=45, filled=not censored)
    encoding = {"x": alt.X("y_true:Q", title=f"measured {target}", scale=scale),
                "y": alt.Y("y_pred:Q", title=f"predicted {target}", scale=scale),
                "tooltip": [c for c in rows.columns if c in ("cell_id", "y_true", "y_pred", "y_lo", "y_hi")]}
    if censored:
        encoding["fill"] = alt.Fill("measured:N", scale=alt.Scale(domain=["measured", "censored (lower bound)"],
                                                                  range=["#1f77b4", "white"]), title=None)
    layers.append(points.encode(**encoding))
    return alt.layer(*layers).properties(height=380)


def label_image(slice2d: np.ndarray, labels: dict[str, int]) -> np.ndarray:
    """An RGB image of one label slice: pore dark, NCM grey-blue, binder orange."""
    colors = {"pore": (20, 20, 30), "ncm": (90, 130, 200), "binder": (240, 160, 40)}
    rgb = np.zeros(slice2d.shape + (3,), np.uint8)
    for name, value in labels.items():
        rgb[slice2d == value] = colors.get(name, (255, 0, 255))
    return rgb


def outcome(short_cycle, censored_80) -> str:
    """A cell's outcome so far, from the lake's cell_life: shorted, fell below 80 %, or still above it."""
    if pd.notna(short_cycle):
        return "shorted"
    if pd.isna(censored_80):
        return "no capacity data"
    return "still above 80 %" if censored_80 else "fell below 80 %"


TIME_AXIS_PX = 30      # room for the y labels of stacked time charts, so their x axes line up


def _utc(column: str, domain: list[str], title: str | None) -> alt.X:
    return alt.X(f"{column}:T", title=title, scale=alt.Scale(type="utc", domain=domain),
                 axis=alt.Axis(format="%Y-%m-%d"))


def time_domain(*columns: pd.Series) -> list[str]:
    """One x range covering every given time column, so stacked time charts line up (ISO 8601 text: Vega-Lite
    ignores a numeric domain on a single-layer time axis)."""
    times = pd.concat([pd.to_datetime(c, utc=True) for c in columns if len(c)])
    return [times.min().isoformat(), times.max().isoformat()]


def campaign_chart(spans: pd.DataFrame, batches: pd.DataFrame, color_by: str, domain: list[str]) -> alt.LayerChart:
    """Cells on cycler lanes over lab time (a bar from a cell's start to its last cycle; lighter while no end of test
    is recorded), with a rule where each proposal batch was made."""
    spans = spans.assign(channel=spans["lane"] + 1,
                         test=np.where(spans["test_ended"], "ended (end_of_test)", "no end recorded (may run)"))
    color = (alt.Color("process:N", scale=PROCESS_COLORS, title="process") if color_by == "process" else
             alt.Color("outcome:N", title="outcome", scale=alt.Scale(
                 domain=["fell below 80 %", "still above 80 %", "shorted", "no capacity data"],
                 range=["#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"])))
    bars = alt.Chart(spans).mark_bar(height={"band": 0.8}, stroke="black", strokeWidth=0.3).encode(
        x=_utc("started_at", domain, "date (UTC)"), x2="last_cycle_ended_at:T",
        y=alt.Y("channel:O", title="cycler channel (lane)", axis=alt.Axis(minExtent=TIME_AXIS_PX)), color=color,
        opacity=alt.Opacity("test:N", title="test", scale=alt.Scale(
            domain=["ended (end_of_test)", "no end recorded (may run)"], range=[0.95, 0.55])),
        tooltip=["cell_id", "process", "outcome", "cycles_run", alt.Tooltip("cycle_hours", format=".1f"),
                 alt.Tooltip("started_at:T", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("last_cycle_ended_at:T", format="%Y-%m-%d %H:%M"), "test"])
    layers = [bars]
    if len(batches):
        rules = alt.Chart(batches).mark_rule(color="black", strokeDash=[4, 3]).encode(
            x="created_at:T", tooltip=[alt.Tooltip("created_at:T", format="%Y-%m-%d %H:%M", title="proposed at"),
                                       "proposals", "lake_version"])
        labels = alt.Chart(batches).mark_text(align="right", dx=-3, dy=-4, baseline="bottom").encode(
            x="created_at:T", y=alt.value(0), text="label:N")
        layers += [rules, labels]
    lanes = int(spans["channel"].max()) if len(spans) else 1
    legends_px = 70                    # below the plot, so its x axis lines up with the regret chart's
    return alt.layer(*layers).properties(height=max(160, 30 * lanes + 40) + legends_px).configure_legend(
        orient="bottom")


def regret_so_far(tried: pd.DataFrame, true_values: list[float], optimum: float) -> pd.DataFrame:
    """In the order cells started: the best true value among the recipes tried so far and its regret, the shortfall
    from the optimum as a fraction of it (rows without a true value are skipped)."""
    rows = tried.assign(true_value=true_values).dropna(subset=["true_value"]).sort_values(["started_at", "cell_id"])
    best = rows["true_value"].cummax()
    return pd.DataFrame({"at": rows["started_at"], "cell_id": rows["cell_id"], "true_value": rows["true_value"],
                         "best_so_far": best, "regret_frac": (optimum - best) / optimum}).reset_index(drop=True)


def regret_chart(regret: pd.DataFrame, until, domain: list[str]) -> alt.Chart:
    """Regret of the best recipe tried so far over lab time, a step at each cell's start, held until ``until``."""
    steps = pd.concat([regret, regret.tail(1).assign(at=pd.Timestamp(until), cell_id="(held)")], ignore_index=True)
    steps = steps.assign(regret_pct=100 * steps["regret_frac"])
    return alt.Chart(steps).mark_line(interpolate="step-after", point=True).encode(
        x=_utc("at", domain, "date (UTC)"),
        y=alt.Y("regret_pct:Q", title="regret (% of optimum)", scale=alt.Scale(zero=True),
                axis=alt.Axis(minExtent=TIME_AXIS_PX)),
        tooltip=[alt.Tooltip("at:T", format="%Y-%m-%d", title="cell started"), "cell_id",
                 alt.Tooltip("true_value", format=".3f"), alt.Tooltip("best_so_far", format=".3f"),
                 alt.Tooltip("regret_pct", format=".1f")]).properties(height=220)
