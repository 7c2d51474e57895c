"""Off-the-shelf baselines for bench/generalization.py, used as a practitioner would use them out of the box.

Surrogates (scikit-learn) on the raw recipe (process one-hot + six numbers) and the measured microstructure,
standardised; target log10 cycles-to-80 %, censored cells taken at face value (their last cycle), cells without a
test dropped. Optimizers (Optuna): TPE (multivariate, constant liar) and GPSampler, asked a batch at a time, the
pending trials of a batch believed by the sampler's own rule, every measured cell told with its measured value.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from lake.recipe import PROCESSES

BASELINES = ("sk_gp", "random_forest", "gradient_boosting")
NUMBERS = ("loading_mg_cm2", "densification_frac", "eca_wt_frac", "temperature_c", "voltage_max_v", "c_rate",
           "porosity_frac", "active_area_frac")
Z90 = 1.6448536269514722


def design(frame: pl.DataFrame) -> np.ndarray:
    onehot = np.column_stack([(frame["process"] == p).to_numpy().astype(float) for p in PROCESSES])
    return np.column_stack([onehot, frame.select(NUMBERS).to_numpy().astype(float)])


def estimator(name: str, d: int):
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if name == "sk_gp":
        kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(d), nu=2.5) + WhiteKernel(0.1)
        model = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=3, random_state=0)
    elif name == "random_forest":
        model = RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=0, n_jobs=1)
    else:
        model = GradientBoostingRegressor(random_state=0)
    return make_pipeline(StandardScaler(), model)


def fit_predict(name: str, train: pl.DataFrame, test: pl.DataFrame, level: float = 0.9) -> dict:
    """Mean and ``level`` interval of log10 cycles-to-80 % at the test cells."""
    import warnings
    from sklearn.model_selection import KFold
    train = train.filter(pl.col("cycles_to_80").is_not_null())
    x, y = design(train), np.log10(train["cycles_to_80"].to_numpy().astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # convergence warnings at the kernel bounds
        model = estimator(name, x.shape[1]).fit(x, y)
        xt = design(test)
        if name == "sk_gp":
            mean, sd = model.predict(xt, return_std=True)
            return {"mean": mean, "lo": mean - Z90 * sd, "hi": mean + Z90 * sd}
        oof = np.empty_like(y)
        for tr, te in KFold(5, shuffle=True, random_state=0).split(x):
            oof[te] = estimator(name, x.shape[1]).fit(x[tr], y[tr]).predict(x[te])
    q = float(np.quantile(np.abs(oof - y), level))
    mean = model.predict(xt)
    return {"mean": mean, "lo": mean - q, "hi": mean + q}


def optuna_campaign(method: str, lab, space, warm: list[dict], rounds: int, batch: int, seed: int, recommend):
    """(frame of every measured cell with `round`, recommendation after each round); (None, why) when the
    sampler cannot run here (GPSampler without torch)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import create_trial

    from optimizer.objectives import parse
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
    else:
        try:
            import torch  # noqa: F401
        except ImportError:
            return None, "optuna's GPSampler needs torch; run with .venv-bench/peers/bin/python"
        sampler = optuna.samplers.GPSampler(seed=seed)
    dists = {"process": CategoricalDistribution(list(space.processes)),
             **{n: FloatDistribution(*space.bounds[n]) for n in space.free}}
    objective = parse("delivered_capacity:300")[0]
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def measured(frame: pl.DataFrame) -> np.ndarray:
        return np.nan_to_num(objective.observed(frame)[0], nan=0.0)
    frame = lab(warm).with_columns(pl.lit(-1).alias("round"))
    for params, value in zip(warm, measured(frame)):
        study.add_trial(create_trial(params={k: params[k] for k in dists}, distributions=dists, value=float(value)))
    recommended = []
    for r in range(rounds):
        trials = [study.ask(dists) for _ in range(batch)]
        params = [space.complete(t.params) for t in trials]
        new = lab(params).with_columns(pl.lit(r).alias("round"))
        for t, value in zip(trials, measured(new)):
            study.tell(t, float(value))
        frame = pl.concat([frame, new], how="diagonal_relaxed")
        recommended.append(recommend(frame))
    return frame, recommended


def baybe_campaign(lab, space, warm: list[dict], rounds: int, batch: int, seed: int, recommend):
    """BayBE with its defaults (hybrid space: the process one-hot + continuous knobs; its default recommender,
    batches of ``batch``), warm-started with the measured seed cells. (None, why) when BayBE is not importable:
    it needs torch, the project does not; `generalization.py --setup` makes .venv-bench/peers."""
    try:
        from baybe import Campaign
        from baybe.parameters import CategoricalParameter, NumericalContinuousParameter
        from baybe.searchspace import SearchSpace
        from baybe.targets import NumericalTarget
        from baybe.utils.random import set_random_seed
    except ImportError as e:
        return None, f"BayBE is not importable here ({e}); run with .venv-bench/peers/bin/python"
    from optimizer.objectives import parse
    set_random_seed(seed)
    params = [CategoricalParameter("process", values=list(space.processes)),
              *[NumericalContinuousParameter(n, bounds=space.bounds[n]) for n in space.free]]
    study = Campaign(SearchSpace.from_product(params), NumericalTarget("value").to_objective())
    objective = parse("delivered_capacity:300")[0]

    def told(params_list: list[dict], frame: pl.DataFrame):
        import pandas as pd
        values = np.nan_to_num(objective.observed(frame)[0], nan=0.0)
        study.add_measurements(pd.DataFrame([{**{k: p[k] for k in ("process", *space.free)}, "value": float(v)}
                                             for p, v in zip(params_list, values)]))
    frame = lab(warm).with_columns(pl.lit(-1).alias("round"))
    told(warm, frame)
    recommended = []
    for r in range(rounds):
        params = [space.complete({k: (v if k == "process" else float(v)) for k, v in row.items()})
                  for row in study.recommend(batch_size=batch).to_dict("records")]
        new = lab(params).with_columns(pl.lit(r).alias("round"))
        told(params, new)
        frame = pl.concat([frame, new], how="diagonal_relaxed")
        recommended.append(recommend(frame))
    return frame, recommended
