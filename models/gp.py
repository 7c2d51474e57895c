"""A small, fast Gaussian process: constant x Matern-5/2 (one length scale per feature) + linear + white noise.

Same model as scikit-learn's `GaussianProcessRegressor(ConstantKernel * Matern(nu=2.5) + ConstantKernel *
DotProduct(sigma_0=0) + WhiteKernel)`, written out
with analytic gradients of the log marginal likelihood because the generic kernel algebra spent ~20 ms per
evaluation on 60 cells, and a campaign refits many times. Weak log-normal priors on the hyperparameters (MAP, as
BoTorch does) keep a 60-cell fit from collapsing a length scale. `condition` adds points at fixed hyperparameters
(kriging believer / constant liar for batches).

The linear kernel v x.x'/d (``linear=True``, the default) is a Bayesian linear trend with one prior variance v on
the standardised features. Log cycle life is close to linear in log-scale rate features, and a Matern alone must
learn that trend cell by cell (and reverts to the mean outside the data). It helps most with few cells.

Inputs are standardised by the training cells' spread. A feature they do not vary (a campaign's first cells all ran
at 60 °C) has none: with ``prior_scale`` (the Surrogate passes each feature's spread over the recipe ranges) it is
kept at that scale, so a move along it is a move into the unknown; without, it is dropped.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize
from sklearn.base import BaseEstimator

SQ5 = np.sqrt(5.0)
# log-normal priors (mean, sd) on log hyperparameters, in standardised units
PRIOR_LS, PRIOR_AMP, PRIOR_NOISE = (np.log(3.0), 1.5), (0.0, 1.5), (np.log(0.05), 2.0)
BOUNDS_LS, BOUNDS_AMP, BOUNDS_NOISE = (np.log(0.05), np.log(1e3)), (np.log(1e-2), np.log(1e2)), \
    (np.log(1e-4), np.log(2.0))
PRIOR_LIN, BOUNDS_LIN = (np.log(0.3), 2.0), (np.log(1e-4), np.log(1e2))


def _matern(X1: np.ndarray, X2: np.ndarray, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matern-5/2 correlation, the scaled distance r and the per-feature squared scaled differences."""
    diff2 = ((X1[:, None, :] - X2[None, :, :]) / ls) ** 2
    r = np.sqrt(diff2.sum(-1))
    k = (1 + SQ5 * r + 5.0 / 3.0 * r ** 2) * np.exp(-SQ5 * r)
    return k, r, diff2


def _matern_k(X1: np.ndarray, X2: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """Matern-5/2 correlation only, by the dot-product form (no (n, m, d) temporary): for predictions."""
    A, B = X1 / ls, X2 / ls
    r = np.sqrt(np.maximum((A ** 2).sum(1)[:, None] + (B ** 2).sum(1)[None, :] - 2 * A @ B.T, 0.0))
    return (1 + SQ5 * r + 5.0 / 3.0 * r ** 2) * np.exp(-SQ5 * r)


class MaternGP(BaseEstimator):
    """Gaussian-process regressor with standardised inputs and target; ``predict(X, return_std=True)`` gives
    the predictive sd of a new observation (noise included)."""

    def __init__(self, n_restarts: int = 1, random_state: int = 0, max_iter: int = 200, theta0=None,
                 max_fit_points: int = 120, linear: bool = True, prior_scale=None):
        self.n_restarts, self.random_state, self.max_iter = n_restarts, random_state, max_iter
        self.theta0, self.max_fit_points, self.linear = theta0, max_fit_points, linear
        self.prior_scale = prior_scale

    def fit(self, X, y):
        X, y = np.asarray(X, float), np.asarray(y, float)
        self.x_mean_ = np.nanmean(X, axis=0)
        spread = np.nanstd(X, axis=0)
        # a feature the data do not vary is kept at its prior scale, when given: cells that all ran at 60 °C say
        # nothing about 80 °C, and a model blind to temperature would take every temperature for the one measured
        prior = np.zeros(X.shape[1]) if self.prior_scale is None else np.nan_to_num(np.asarray(self.prior_scale, float))
        self.x_scale_ = np.where(spread > 1e-12, spread, prior if len(prior) == X.shape[1] else 0.0)
        self.active_ = self.x_scale_ > 1e-12              # constant without a prior scale: no information
        self.x_scale_ = np.where(self.active_, self.x_scale_, 1.0)
        self.y_mean_, self.y_scale_ = float(np.mean(y)), float(np.std(y)) or 1.0
        Xs, ys = self._scale(X), (y - self.y_mean_) / self.y_scale_
        d = Xs.shape[1]
        rng = np.random.default_rng(self.random_state)
        lin = [PRIOR_LIN[0]] if self.linear else []
        starts = [np.r_[0.0, np.full(d, np.log(2.0)), np.log(0.05), lin]]
        # theta0 of another size (fitted on other features, or on a subset where some feature was constant) is
        # ignored: its length scales would land on the wrong features
        usable = self.theta0 is not None and len(self.theta0) == len(starts[0])
        if usable:                                      # warm start: the previous optimum
            starts = [np.asarray(self.theta0, float)]
        starts += [np.r_[rng.normal(0, 0.5), rng.normal(np.log(2.0), 0.7, d), rng.normal(np.log(0.05), 1.0),
                         rng.normal(PRIOR_LIN[0], 1.0, len(lin))]
                   for _ in range(0 if usable else self.n_restarts)]
        bounds = [BOUNDS_AMP] + [BOUNDS_LS] * d + [BOUNDS_NOISE] + [BOUNDS_LIN] * len(lin)
        if usable and self.max_iter == 0:               # fixed hyperparameters: condition only
            self.theta_ = np.asarray(self.theta0, float)
            self._set_data(Xs, ys)
            return self
        best = None
        sub = np.arange(len(ys))
        if len(ys) > self.max_fit_points:     # hyperparameters from a subset (O(n^3) per step), then all data
            sub = rng.choice(len(ys), self.max_fit_points, replace=False)
        for theta0 in starts:
            theta0 = np.clip(theta0, [b[0] for b in bounds], [b[1] for b in bounds])
            res = minimize(self._objective, theta0, args=(Xs[sub], ys[sub], self.linear), jac=True,
                           method="L-BFGS-B", bounds=bounds, options={"maxiter": self.max_iter or 200})
            if best is None or res.fun < best.fun:
                best = res
        self.theta_ = best.x
        self._set_data(Xs, ys)
        return self

    def _scale(self, X) -> np.ndarray:
        return np.nan_to_num((np.asarray(X, float) - self.x_mean_) / self.x_scale_)[:, self.active_]

    @staticmethod
    def _objective(theta, X, y, linear: bool = False):
        """Negative log posterior (marginal likelihood + priors) and its gradient."""
        n, d = X.shape
        amp, ls, noise = np.exp(theta[0]), np.exp(theta[1:d + 1]), np.exp(theta[d + 1])
        k, r, diff2 = _matern(X, X, ls)
        K = amp * k + (noise + 1e-8) * np.eye(n)
        if linear:
            lin_k = np.exp(theta[d + 2]) * X @ X.T / max(d, 1)
            K += lin_k
        try:
            c = cho_factor(K, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve(c, y)
        nll = 0.5 * y @ alpha + np.log(np.diag(c[0])).sum() + 0.5 * n * np.log(2 * np.pi)
        W = np.outer(alpha, alpha) - cho_solve(c, np.eye(n))      # dNLL/dK = -W / 2
        grad = np.empty_like(theta)
        grad[0] = -0.5 * np.sum(W * amp * k)
        dk_dr2 = amp * (5.0 / 6.0) * (1 + SQ5 * r) * np.exp(-SQ5 * r)   # d k / d log ls_j = dk_dr2 * diff2_j
        grad[1:d + 1] = -0.5 * np.einsum("ij,ijk->k", W * dk_dr2, diff2) * 2
        grad[d + 1] = -0.5 * np.trace(W) * noise
        priors = [(slice(0, 1), PRIOR_AMP), (slice(1, d + 1), PRIOR_LS), (slice(d + 1, d + 2), PRIOR_NOISE)]
        if linear:
            grad[d + 2] = -0.5 * np.sum(W * lin_k)
            priors.append((slice(d + 2, d + 3), PRIOR_LIN))
        for idx, (m, s) in priors:
            z = (theta[idx] - m) / s
            nll += 0.5 * np.sum(z ** 2)
            grad[idx] += z / s
        return nll, grad

    def _set_data(self, Xs: np.ndarray, ys: np.ndarray) -> None:
        d = Xs.shape[1]
        self.X_train_, self.y_train_ = Xs, ys
        self.amp_, self.ls_, self.noise_ = np.exp(self.theta_[0]), np.exp(self.theta_[1:d + 1]), \
            np.exp(self.theta_[d + 1])
        self.lin_ = np.exp(self.theta_[d + 2]) / max(d, 1) if self.linear else 0.0
        K = self._kernel(Xs, Xs) + (self.noise_ + 1e-8) * np.eye(len(ys))
        self.L_ = np.linalg.cholesky(K)
        self.alpha_ = cho_solve((self.L_, True), ys)

    def _kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Covariance between scaled inputs A and B at the fitted hyperparameters."""
        return self.amp_ * _matern_k(A, B, self.ls_) + self.lin_ * A @ B.T

    def _prior_var(self, A: np.ndarray) -> np.ndarray:
        return self.amp_ + self.lin_ * np.sum(A ** 2, axis=1)

    def predict(self, X, return_std: bool = False, include_noise: bool = True):
        Xs = self._scale(X)
        ks = self._kernel(Xs, self.X_train_)
        mean = ks @ self.alpha_ * self.y_scale_ + self.y_mean_
        if not return_std:
            return mean
        v = solve_triangular(self.L_, ks.T, lower=True)
        var = self._prior_var(Xs) - np.sum(v ** 2, axis=0) + (self.noise_ if include_noise else 0.0)
        return mean, np.sqrt(np.maximum(var, 1e-12)) * self.y_scale_

    def condition(self, X, y) -> "MaternGP":
        """A copy with (X, y) added to the data, hyperparameters unchanged (no refit)."""
        new = MaternGP(self.n_restarts, self.random_state, self.max_iter, self.theta0, self.max_fit_points,
                       self.linear, getattr(self, "prior_scale", None))   # absent from older pickles
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        Xs = np.vstack([self.X_train_, self._scale(X)])
        ys = np.r_[self.y_train_, (np.asarray(y, float) - self.y_mean_) / self.y_scale_]
        new._set_data(Xs, ys)
        return new

    def loo(self, X=None):
        """Exact leave-one-out at fixed hyperparameters (no refits). Without X: each training point's LOO mean
        and observation sd. With X: arrays (n_train, n_new) of the LOO models' means and observation sds at X."""
        n = len(self.y_train_)
        Kinv = cho_solve((self.L_, True), np.eye(n))
        d = np.diag(Kinv)
        if X is None:
            mu = self.y_train_ - self.alpha_ / d
            return mu * self.y_scale_ + self.y_mean_, np.sqrt(1.0 / d) * self.y_scale_
        Xs = self._scale(X)
        ks = self._kernel(Xs, self.X_train_)                                # (m, n)
        A = ks @ Kinv                                                       # (m, n)
        mean = ks @ self.alpha_
        var = self._prior_var(Xs) - np.sum(A * ks, axis=1) + self.noise_
        mu_i = mean[None, :] - (A * (self.alpha_ / d)).T                    # (n, m)
        var_i = var[None, :] + (A ** 2 / d).T
        return mu_i * self.y_scale_ + self.y_mean_, np.sqrt(np.maximum(var_i, 1e-12)) * self.y_scale_
