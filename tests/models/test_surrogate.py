"""Estimators: the GP's likelihood and leave-one-out, censoring as lower bounds, calibrated intervals, features."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.optimize import check_grad

from models.early import early_features
from models.features import Featurizer, target, target_values
from models.gp import MaternGP
from models.surrogate import CensoredRegressor, Surrogate, truncated_mean
from virtual_lab.labs import cycles_rows, frame_of, life_row
from optimizer.space import BENCHMARK_SPACE
from virtual_lab.labs import recipe_of
from virtual_lab.lab import simulate


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    return X, 2 * X[:, 0] + np.sin(4 * X[:, 1]) + 0.05 * rng.standard_normal(n)


@pytest.mark.parametrize("linear", [False, True])
def test_gp_gradient_is_exact(linear):
    X, y = _data()
    Xs, ys = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    theta = np.random.default_rng(1).normal(0, 0.5, X.shape[1] + 2 + linear)
    err = check_grad(lambda t: MaternGP._objective(t, Xs, ys, linear)[0],
                     lambda t: MaternGP._objective(t, Xs, ys, linear)[1], theta)
    assert err < 1e-4


def test_gp_linear_kernel_carries_a_trend_beyond_the_data():
    """y = 2 x on [0, 1]: at x = 2 the linear kernel continues the trend; a Matern alone falls back to the mean."""
    rng = np.random.default_rng(4)
    X = rng.random((30, 2))
    y = 2 * X[:, 0] + 0.02 * rng.standard_normal(30)
    far = np.array([[2.0, 0.5]])
    assert MaternGP(linear=True).fit(X, y).predict(far)[0] == pytest.approx(4.0, abs=0.25)
    assert MaternGP(linear=False).fit(X, y).predict(far)[0] < 3.0


def test_gp_ignores_hyperparameters_of_another_feature_count():
    """theta0 from a fit that saw fewer active features (a constant column in a subset) is not applied to the
    wrong length scales: the GP fits afresh, even when asked to hold hyperparameters fixed."""
    X, y = _data(30)
    theta_small = MaternGP().fit(X[:, :2], y).theta_
    gp = MaternGP(theta0=theta_small, max_iter=0).fit(X, y)
    assert len(gp.theta_) == X.shape[1] + 3 and len(gp.ls_) == X.shape[1]
    assert np.abs(gp.predict(X) - y).mean() < 0.1


def test_gp_leave_one_out_equals_refitting_without_the_point():
    X, y = _data(25)
    gp = MaternGP().fit(X, y)
    mu, sd = gp.loo()
    X_new = np.random.default_rng(2).random((4, 3))
    mu_new, sd_new = gp.loo(X_new)
    for i in (0, 11):
        keep = np.delete(np.arange(len(y)), i)
        other = MaternGP(theta0=gp.theta_, max_iter=0).fit(X[keep], y[keep])
        # the same standardisation as the full fit, so the comparison is exact
        other.x_mean_, other.x_scale_, other.y_mean_, other.y_scale_ = \
            gp.x_mean_, gp.x_scale_, gp.y_mean_, gp.y_scale_
        other._set_data(gp.X_train_[keep], gp.y_train_[keep])
        m, s = other.predict(X[i:i + 1], return_std=True)
        assert m[0] == pytest.approx(mu[i], rel=1e-5) and s[0] == pytest.approx(sd[i], rel=1e-5)
        m, s = other.predict(X_new, return_std=True)
        assert np.allclose(m, mu_new[i], rtol=1e-5) and np.allclose(s, sd_new[i], rtol=1e-5)


def test_censored_cells_are_lower_bounds_not_failures():
    """Cut the top third of y at a 'test length': the censoring-aware fit predicts above the cut for them and
    much closer to the truth than a fit that counts them as failing at the cut."""
    X, y = _data(60, seed=3)
    cut = np.quantile(y, 0.66)
    cens = y > cut
    y_obs = np.where(cens, cut, y)
    aware = CensoredRegressor(MaternGP()).fit(X, y_obs, cens)
    naive = MaternGP().fit(X, y_obs)
    assert np.all(aware.y_imputed_[cens] >= cut)
    err_aware = np.abs(aware.predict(X[cens]) - y[cens]).mean()
    err_naive = np.abs(naive.predict(X[cens]) - y[cens]).mean()
    assert err_aware < 0.85 * err_naive
    assert np.mean(aware.predict(X[cens]) >= cut) > 0.8 > np.mean(naive.predict(X[cens]) >= cut)
    assert truncated_mean(np.array([0.0]), np.array([1.0]), np.array([10.0]))[0] > 10.0   # stable in the tail


def test_censored_fit_survives_a_feature_constant_among_uncensored_cells():
    X, y = _data(40, seed=5)
    cens = y > np.quantile(y, 0.8)
    X = np.column_stack([X, cens.astype(float)])        # constant (0) over the uncensored cells
    fit = CensoredRegressor(MaternGP()).fit(X, np.where(cens, np.quantile(y, 0.8), y), cens)
    assert len(fit.estimator_.ls_) == X.shape[1] and np.all(fit.y_imputed_[cens] >= np.quantile(y, 0.8))


def test_censoring_is_read_from_the_lake_flags():
    frame = pl.DataFrame({"cycles_to_80": [50, 300, 12], "censored_80": [False, True, False],
                          "initial_areal_capacity_mah_cm2": [2.0, None, 3.0]})
    y, cens, ok = target_values(frame, target("cycles_to_80"))
    assert list(cens) == [False, True, False] and y[1] == pytest.approx(np.log10(300))
    _, _, ok = target_values(frame, target("initial_areal_capacity"))
    assert list(ok) == [True, False, True]


def _cells(n: int, seed: int, n_cycles: int) -> tuple[pl.DataFrame, list]:
    rng = np.random.default_rng(seed)
    recipes = BENCHMARK_SPACE.random(n, rng)
    results = [simulate(recipe_of(r), n_cycles, seed=int(rng.integers(2**62))) for r in recipes]
    return frame_of([life_row(r) for r in results]), results


def test_conformal_intervals_cover_a_simulated_test_set():
    """60 virtual-lab cells (4.2 V, 0.1 C, tested 300 cycles) -> 150 other cells tested to the end of life."""
    train, _ = _cells(60, 11, 300)
    test, results = _cells(150, 12, 2000)
    truth = np.log10([r.cycles_to_80 for r in results])
    model = Surrogate(kind="gp").fit(train, target("cycles_to_80"), groups=np.arange(60) // 6)
    pred = model.predict(test, level=0.9)
    coverage = np.mean((pred["lo"] <= truth) & (truth <= pred["hi"]))
    assert 0.8 <= coverage <= 0.99
    assert np.sqrt(np.mean((pred["mean"] - truth) ** 2)) < 0.2
    assert model.cv_scheme_.startswith("GroupKFold")
    assert 0.8 <= model.cv_metrics_["interval_coverage_90"] <= 1.0


def test_a_knob_no_cell_varied_stays_uncertain():
    """Issue 14: a campaign's first cells (the seed's) all ran at 60 °C and 5 % ECA. The model must not read that as
    "temperature does not matter": away from 60 °C its latent sd grows (before, a constant feature was dropped and
    every temperature predicted the same as 60 °C, so a batch of four took four temperatures for one recipe)."""
    train, _ = _cells(16, 3, 300)
    train = train.with_columns(pl.lit(60.0).alias("temperature_c"), pl.lit(0.05).alias("eca_wt_frac"))
    model = Surrogate(kind="gp").fit(train, target("cycles_to_80"))
    gp = model.latent_model
    assert gp.active_.all()
    at = {t: model.features(train.with_columns(pl.lit(float(t)).alias("temperature_c"))) for t in (60, 80)}
    sd = {t: gp.predict(x, return_std=True, include_noise=False)[1] for t, x in at.items()}
    assert (sd[80] > 1.5 * sd[60]).all()
    blind = MaternGP().fit(at[60], gp.predict(at[60]))       # no prior scale: the constant features are dropped
    assert not blind.active_.all()
    assert blind.predict(at[80], return_std=True)[1] == pytest.approx(blind.predict(at[60], return_std=True)[1])


def test_missing_microstructure_is_imputed_and_flagged_never_zero():
    train, _ = _cells(20, 5, 50)
    featurizer = Featurizer().fit(train)
    blank = train.with_columns(pl.lit(None, pl.Float64).alias("active_area_frac"))
    x, imputed = featurizer.transform(blank)
    col = featurizer.feature_names_.index("active_area_frac")
    measured = train["active_area_frac"].to_numpy()
    assert imputed.all() and (x[:, col] > 0).all() and np.abs(x[:, col] - measured).mean() < 0.05
    _, imputed = featurizer.transform(train)
    assert not imputed.any()
    unseen = train.with_columns(pl.lit("spray_coated").alias("process"))
    assert featurizer.extrapolation(unseen).all() and not featurizer.extrapolation(train).any()


def test_a_blank_densification_is_imputed_from_its_process_and_the_cell_still_counts():
    """Issue 14: a cell whose densification was not reported (the seed paper's) is learnt from and predicted, at
    the mean densification of its process's cells; a frame without the column at all reads the same."""
    train, _ = _cells(24, 5, 50)
    featurizer = Featurizer().fit(train)
    blank = train.with_columns(pl.lit(None, pl.Float64).alias("densification_frac"))
    filled, imputed = featurizer.complete(blank)
    assert imputed.all() and not featurizer.complete(train)[1].any()
    means = train.group_by("process").agg(pl.col("densification_frac").mean())
    for process, mean in means.iter_rows():
        assert filled.filter(pl.col("process") == process)["densification_frac"].to_numpy() == pytest.approx(mean)
    assert featurizer.complete(train.drop("densification_frac"))[0]["densification_frac"].to_list() == \
        filled["densification_frac"].to_list()
    half = train.with_columns(pl.when(pl.int_range(pl.len()) % 2 == 0).then(None)
                              .otherwise(pl.col("densification_frac")).alias("densification_frac"))
    model = Surrogate(kind="gp").fit(half, target("cycles_to_80"))
    assert model.n_cells_ == 24
    x = model.features(half)
    assert np.isfinite(x).all() and np.isfinite(model.predict(train.drop("densification_frac"))["mean"]).all()


def test_mechanism_features_are_log_scale_and_finite_at_the_edges():
    """No ECA and full contact (a = 1) give finite log features; ECA's log axis stretches its first wt %."""
    frame, _ = _cells(12, 6, 20)
    edge = frame.with_columns(pl.Series("eca_wt_frac", np.linspace(0.0, 0.15, 12)),
                              pl.Series("active_area_frac", np.linspace(0.5, 1.0, 12)))
    featurizer = Featurizer().fit(frame)
    x, _ = featurizer.transform(edge)
    names = featurizer.feature_names_
    assert {"log10_eca", "log10_asynchrony"} <= set(names) and np.isfinite(x).all()
    log_eca, asyn = x[:, names.index("log10_eca")], x[:, names.index("log10_asynchrony")]
    assert np.all(np.diff(log_eca) > 0) and np.all(np.diff(asyn) < 0)
    assert log_eca[1] - log_eca[0] > 2 * (log_eca[-1] - log_eca[-2])   # 0 -> 1.4 % counts more than 13.6 -> 15 %
    assert "log10_eca" not in Featurizer(physics=False).fit(frame).feature_names_


def test_early_life_features_from_the_first_cycles():
    res = simulate(recipe_of({"process": "in_situ_polymerized", "loading_mg_cm2": 12.7,
                              "densification_frac": 0.8, "eca_wt_frac": 0.05}), 120, seed=1)
    feats = early_features(cycles_rows("A", res), 50)
    assert feats.height == 1 and all(np.isfinite(feats.row(0)[1:]))
    assert early_features(cycles_rows("A", res), 500).height == 0      # not tested that long
