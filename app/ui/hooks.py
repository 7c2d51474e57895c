"""Reading what the model registry stores (metrics JSON, model artifacts) into frames the Models page plots."""
from __future__ import annotations

import json

import pandas as pd


def loads(text) -> dict | list:
    if not isinstance(text, str) or not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


PREDICTION_KEYS = ("cv_predictions", "predictions", "oof", "parity")
TRUE_KEYS, PRED_KEYS = ("y_true", "measured", "y"), ("y_pred", "predicted", "mean")
LO_KEYS, HI_KEYS = ("y_lo", "lo", "lower"), ("y_hi", "hi", "upper")


def parity_rows(metrics: dict) -> pd.DataFrame | None:
    """Cross-validated predictions stored in a model's metrics_json, as y_true / y_pred / y_lo / y_hi."""
    for key in PREDICTION_KEYS:
        raw = metrics.get(key) if isinstance(metrics, dict) else None
        if not raw:
            continue
        frame = pd.DataFrame(raw)
        rename = {}
        for target, options in (("y_true", TRUE_KEYS), ("y_pred", PRED_KEYS), ("y_lo", LO_KEYS), ("y_hi", HI_KEYS)):
            hit = next((c for c in options if c in frame.columns), None)
            if hit:
                rename[hit] = target
        frame = frame.rename(columns=rename)
        if {"y_true", "y_pred"} <= set(frame.columns):
            return frame
    return None


def importance(metrics: dict) -> pd.DataFrame | None:
    raw = metrics.get("feature_importance") or metrics.get("importance") if isinstance(metrics, dict) else None
    if isinstance(raw, dict):
        return pd.DataFrame({"feature": list(raw), "importance": [float(v) for v in raw.values()]})
    if isinstance(raw, list) and raw and isinstance(raw[0], dict):
        return pd.DataFrame(raw)
    return None


def scalar_metrics(metrics: dict) -> dict[str, float]:
    """The numbers at the top level of metrics_json (rmse, coverage, width …)."""
    if not isinstance(metrics, dict):
        return {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def artifact_parity(model, level: float = 0.9) -> pd.DataFrame | None:
    """Out-of-fold predictions kept on a trained surrogate (``oof_``: y, mean, sd, censored) with the conformal
    interval ``mean ± q·sd`` (q: the ``level`` quantile of its ``scores_``), on the model's own scale."""
    import numpy as np
    oof = getattr(model, "oof_", None)
    if not isinstance(oof, dict) or "y" not in oof or "mean" not in oof:
        return None
    frame = pd.DataFrame({"y_true": np.asarray(oof["y"], float), "y_pred": np.asarray(oof["mean"], float)})
    scores = getattr(model, "scores_", None)
    if "sd" in oof and scores is not None and len(scores):
        q = float(np.quantile(np.asarray(scores, float), level))
        sd = np.asarray(oof["sd"], float)
        frame["y_lo"], frame["y_hi"] = frame["y_pred"] - q * sd, frame["y_pred"] + q * sd
    if "censored" in oof:
        frame["censored"] = np.asarray(oof["censored"], bool)
    return frame


def artifact_importance(model) -> pd.DataFrame | None:
    """Impurity importances of a tree model inside the surrogate, named by its features, when there are any."""
    names = getattr(model, "feature_names_", None)
    for inner in (model, getattr(model, "model_", None), getattr(getattr(model, "model_", None), "gbt_", None)):
        values = getattr(inner, "feature_importances_", None)
        if values is not None and names is not None and len(values) == len(names):
            return pd.DataFrame({"feature": list(names), "importance": [float(v) for v in values]})
    return None
