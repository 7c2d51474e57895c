"""What the model registry stores in a model's metrics_json (models.registry.model_row), as frames the Models page
plots."""
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


def parity_rows(metrics: dict) -> pd.DataFrame | None:
    """The cross-validated predictions: y_true, y_pred, y_lo, y_hi, censored (the target's unit)."""
    rows = metrics.get("cv_predictions") if isinstance(metrics, dict) else None
    return pd.DataFrame(rows) if rows else None


def importance(metrics: dict) -> pd.DataFrame | None:
    """Permutation importance of each input column, as shares."""
    raw = metrics.get("feature_importance") if isinstance(metrics, dict) else None
    if not raw:
        return None
    return pd.DataFrame({"feature": list(raw), "importance": [float(v) for v in raw.values()]})


LABELS = {"rmse": "CV RMSE", "rmse_uncensored": "CV RMSE, uncensored cells", "mae_uncensored":
          "CV MAE, uncensored cells", "interval_coverage_90": "90 % interval coverage", "n": "cells",
          "n_censored": "censored cells", "early_cycles": "early cycles used"}


def scalar_metrics(metrics: dict) -> dict[str, float]:
    """The numbers at the top level of metrics_json, under readable names (rmse -> CV RMSE …)."""
    if not isinstance(metrics, dict):
        return {}
    return {LABELS.get(k, k): float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
