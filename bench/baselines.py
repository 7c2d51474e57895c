"""Off-the-shelf baselines for bench/generalization.py, used as a practitioner would use them out of the box.

Surrogates (scikit-learn) on the raw recipe (process one-hot + six numbers) and the measured microstructure,
standardised; target log10 cycles-to-80 %, censored cells taken at face value (their last cycle), cells without a
test dropped. Optimizers: Optuna's TPE (multivariate, constant liar) and GPSampler, and BayBE, asked a batch at a
time (`peer`: ask / tell, so bench/lab_time.py can also ask while earlier cells still run), the pending cells
believed by each one's own rule, every measured cell told with its measured value.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from lake.recipe import PROCESSES

OBJECTIVE = "delivered_capacity:300"

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


def measured_values(frame: pl.DataFrame) -> np.ndarray:
    """The benchmark objective as each cell measured it (a cell without a value counts as 0)."""
    from optimizer.objectives import parse
    return np.nan_to_num(parse(OBJECTIVE)[0].observed(frame)[0], nan=0.0)


class OptunaPeer:
    """An Optuna sampler asked for batches: trials asked and not yet told are pending, believed by the sampler's own
    rule (TPE: constant liar). ImportError when the sampler cannot run here (GPSampler without torch)."""

    def __init__(self, method: str, space, seed: int):
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if method == "tpe":
            sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
        else:
            import torch  # noqa: F401
            sampler = optuna.samplers.GPSampler(seed=seed)
        self.space, self.pending = space, {}
        self.dists = {"process": CategoricalDistribution(list(space.processes)),
                      **{n: FloatDistribution(*space.bounds[n]) for n in space.free}}
        self.study = optuna.create_study(direction="maximize", sampler=sampler)

    def ask(self, n: int) -> list[dict]:
        params = []
        for _ in range(n):
            trial = self.study.ask(self.dists)
            params.append(self.space.complete(trial.params))
            self.pending[_key(params[-1], self.space)] = trial
        return params

    def tell(self, params: list[dict], values) -> None:
        """Results of asked trials, or of cells made without asking (the warm start)."""
        from optuna.trial import create_trial
        for p, value in zip(params, values):
            trial = self.pending.pop(_key(p, self.space), None)
            if trial is None:
                self.study.add_trial(create_trial(params={k: p[k] for k in self.dists}, distributions=self.dists,
                                                  value=float(value)))
            else:
                self.study.tell(trial, float(value))


class BaybePeer:
    """BayBE with its defaults (hybrid space: the process one-hot + continuous knobs; its default recommender); cells
    asked for and not yet told are passed to it as pending experiments. ImportError when BayBE is not importable: it
    needs torch, the project does not; `generalization.py --setup` makes .venv-bench/peers."""

    def __init__(self, space, seed: int):
        from baybe import Campaign
        from baybe.parameters import CategoricalParameter, NumericalContinuousParameter
        from baybe.searchspace import SearchSpace
        from baybe.targets import NumericalTarget
        from baybe.utils.random import set_random_seed
        set_random_seed(seed)
        self.space, self.names, self.pending = space, ("process", *space.free), {}
        params = [CategoricalParameter("process", values=list(space.processes)),
                  *[NumericalContinuousParameter(n, bounds=space.bounds[n]) for n in space.free]]
        self.study = Campaign(SearchSpace.from_product(params), NumericalTarget("value").to_objective())

    def ask(self, n: int) -> list[dict]:
        import pandas as pd
        pending = pd.DataFrame([{k: p[k] for k in self.names} for p in self.pending.values()]) if self.pending \
            else None
        rows = self.study.recommend(batch_size=n, pending_experiments=pending).to_dict("records")
        params = [self.space.complete({k: (v if k == "process" else float(v)) for k, v in row.items()})
                  for row in rows]
        self.pending.update({_key(p, self.space): p for p in params})
        return params

    def tell(self, params: list[dict], values) -> None:
        import pandas as pd
        for p in params:
            self.pending.pop(_key(p, self.space), None)
        self.study.add_measurements(pd.DataFrame([{**{k: p[k] for k in self.names}, "value": float(v)}
                                                  for p, v in zip(params, values)]))


def _key(params: dict, space) -> tuple:
    return tuple(params[k] for k in ("process", *space.free))


def peer(method: str, space, seed: int):
    """The peer optimizer ``method`` (tpe, gp_sampler, baybe), or (None, why) when it cannot run here."""
    try:
        return (BaybePeer(space, seed) if method == "baybe" else OptunaPeer(method, space, seed)), None
    except ImportError as e:
        return None, (f"{method} needs {e.name or e}, which the project does not install; run with "
                      ".venv-bench/peers/bin/python (`generalization.py --setup` makes it)")


def peer_campaign(method: str, lab, space, warm: list[dict], rounds: int, batch: int, seed: int, recommend):
    """(frame of every measured cell with `round`, recommendation after each round): the peer asked a batch at a
    time, every batch measured before the next; (None, why) when the peer cannot run here."""
    study, why = peer(method, space, seed)
    if study is None:
        return None, why
    frame = lab(warm).with_columns(pl.lit(-1).alias("round"))
    study.tell(warm, measured_values(frame))
    recommended = []
    for r in range(rounds):
        params = study.ask(batch)
        new = lab(params).with_columns(pl.lit(r).alias("round"))
        study.tell(params, measured_values(new))
        frame = pl.concat([frame, new], how="diagonal_relaxed")
        recommended.append(recommend(frame))
    return frame, recommended
