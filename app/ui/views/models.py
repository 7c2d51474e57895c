"""Models: parity plot with intervals, coverage, feature importance, and the lake version each model saw."""
import altair as alt
import streamlit as st

from app.ui import charts, data, hooks

data.require_lake()
st.title("Models")
models = data.frame("""SELECT model_id, target, estimator, trained_on_version, n_cells, created_at, features_json,
    metrics_json, library_versions_json, artifact_path FROM models ORDER BY created_at DESC, model_id""")
if models.empty:
    data.empty("models", "Train one with `cathode train`; each model records the lake version it saw, its "
               "features, cross-validation metrics and interval coverage.")
    st.stop()

version, _ = data.stamp()
st.dataframe(models[["model_id", "target", "estimator", "trained_on_version", "n_cells", "created_at"]],
             hide_index=True, width="stretch")
model_id = st.selectbox("model", list(models["model_id"]), key="models_pick")
row = models[models["model_id"] == model_id].iloc[0]
metrics = hooks.loads(row["metrics_json"])
behind = version - int(row["trained_on_version"] or 0)
newer = f" ({behind} commit{'s' if behind > 1 else ''} newer: consider retraining)." if behind > 0 else "."
st.caption(f"Trained on lake version {row['trained_on_version']} with {row['n_cells']} cells; the lake is at "
           f"version {version}{newer}")
numbers = hooks.scalar_metrics(metrics)
if numbers:
    cols = st.columns(min(len(numbers), 5))
    for i, (name, value) in enumerate(numbers.items()):
        cols[i % len(cols)].metric(name, f"{value:.3g}")



scale = metrics.get("scale", "") if isinstance(metrics, dict) else ""
left, right = st.columns(2)
with left:
    st.subheader("Parity (cross-validated)")
    parity = hooks.parity_rows(metrics)
    if parity is None:
        st.caption("This model stores no cross-validated predictions in its metrics.")
    else:
        st.altair_chart(charts.parity_chart(parity, f"{scale} {row['target']}".strip()), width="stretch")
        if {"y_lo", "y_hi"} <= set(parity.columns):
            exact = parity[~parity["censored"]] if "censored" in parity.columns else parity
            inside = ((exact["y_true"] >= exact["y_lo"]) & (exact["y_true"] <= exact["y_hi"])).mean()
            st.caption(f"{len(exact)} uncensored cells inside their 90 % interval: {inside:.0%}.")
with right:
    st.subheader("Feature importance")
    imp = hooks.importance(metrics)
    if imp is None:
        features = hooks.loads(row["features_json"])
        st.caption("No importance stored. Features: " + (", ".join(map(str, features)) if features else "—"))
    else:
        st.altair_chart(alt.Chart(imp).mark_bar().encode(
            x=alt.X("importance:Q", title="share of the prediction's change when shuffled"),
            y=alt.Y("feature:N", sort="-x", title=None)).properties(height=320),
            width="stretch")
with st.expander("library versions"):
    st.json(hooks.loads(row["library_versions_json"]))
