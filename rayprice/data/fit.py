"""Demand estimation per product, with partial pooling across products.

Each product ``i`` sells Poisson units on day ``t`` with mean
``m_i * exp(a_i - b_i * z_it)``, the simulator's demand models with one segment:

- ``exponential``: ``z = p / list_price`` (``u = a - b x``);
- ``constant_elasticity``: ``z = log(p / list_price)`` (``x ** -b``).

``m_i`` (the market size) is the product's average daily units and its list price
the median of its daily prices, so ``exp(a - b z)`` is of order one. The
parameters ``theta_i = (c_i, log b_i)``, with ``c = a - b z(list price)`` the
demand index at the list price (which the sales pin down even when the price
never moved), share a normal prior ``N(mu, Sigma)``
whose mean and covariance are fitted from the products themselves (empirical
Bayes): a product whose price hardly moved learns its price sensitivity mostly
from the others, one with many price changes mostly from its own sales.

The fit alternates (a Laplace-approximate EM):

1. given ``(mu, Sigma)``, each product's posterior mode by damped Fisher-scoring
   Newton steps, all products at once (2 x 2 systems solved in closed form), and
   its Laplace covariance ``C_i`` (the inverse of the Fisher information plus the
   prior precision);
2. ``mu = mean(theta_i)``, ``Sigma = mean((theta_i - mu)(theta_i - mu)^T + C_i)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from rayprice.data.panel import Panel

logger = logging.getLogger(__name__)

FIT_MODELS = ("exponential", "constant_elasticity")
_ETA_LIMIT = 40.0
_MAX_STEP = np.array([4.0, 1.5])


@dataclass
class PooledPrior:
    """The normal prior over ``(c, log price_sensitivity)`` shared by products.

    ``c`` is the demand index at the list price: ``intercept - price_sensitivity``
    for the exponential model, ``intercept`` for constant elasticity.
    """

    mean: np.ndarray
    cov: np.ndarray

    @property
    def precision(self) -> np.ndarray:
        return np.linalg.inv(self.cov)

    def to_dict(self) -> dict[str, list]:
        return {"mean": self.mean.tolist(), "cov": self.cov.tolist()}

    def intercept_moments(
        self, model: str, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of ``(intercept, log price_sensitivity)``.

        For the exponential model ``intercept = c + price_sensitivity`` is not
        linear in ``log price_sensitivity``, so the moments are estimated from
        200,000 draws made with ``seed``.
        """
        if model != "exponential":
            return self.mean.copy(), self.cov.copy()
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(self.mean, self.cov, size=200_000)
        draws[:, 0] += np.exp(draws[:, 1])
        return draws.mean(axis=0), np.cov(draws, rowvar=False)


@dataclass
class DemandFit:
    """Fitted demand, one entry per product (arrays of shape (P,) unless noted).

    Attributes:
        model: ``exponential`` or ``constant_elasticity``.
        product_id: the products.
        market_size: average daily units over the fitted days.
        list_price: median daily price over the fitted days (currency).
        intercept: ``a``, at the posterior mode.
        log_sensitivity: ``log b``, posterior mode.
        cov: Laplace posterior covariance of ``(c, log b)``, shape (P, 2, 2),
            ``c = a - b`` (exponential) or ``a`` (constant elasticity): the
            demand index at the list price.
        prior: the pooled prior over ``(c, log b)`` the modes were found under.
        fitted_days: days each product was fitted on.
        price_variation: coefficient of variation of the daily price over the
            fitted days.
        em_iterations: rounds of the prior's fit (0 when the prior was given).
    """

    model: str
    product_id: np.ndarray
    market_size: np.ndarray
    list_price: np.ndarray
    intercept: np.ndarray
    log_sensitivity: np.ndarray
    cov: np.ndarray
    prior: PooledPrior
    fitted_days: np.ndarray
    price_variation: np.ndarray
    em_iterations: int

    @property
    def n_products(self) -> int:
        return int(self.product_id.shape[0])

    @property
    def price_sensitivity(self) -> np.ndarray:
        """``b``: utility lost per list price of price (the elasticity for CE)."""
        return np.exp(self.log_sensitivity)

    @property
    def index_sd(self) -> np.ndarray:
        """Standard deviation of the demand index at the list price, ``c``."""
        return np.sqrt(self.cov[:, 0, 0])

    @property
    def log_sensitivity_sd(self) -> np.ndarray:
        return np.sqrt(self.cov[:, 1, 1])

    def take(self, index: np.ndarray) -> DemandFit:
        """The fit of the products at ``index``."""
        index = np.asarray(index)
        return DemandFit(
            model=self.model,
            product_id=self.product_id[index],
            market_size=self.market_size[index],
            list_price=self.list_price[index],
            intercept=self.intercept[index],
            log_sensitivity=self.log_sensitivity[index],
            cov=self.cov[index],
            prior=self.prior,
            fitted_days=self.fitted_days[index],
            price_variation=self.price_variation[index],
            em_iterations=self.em_iterations,
        )

    def features(self, price: np.ndarray) -> np.ndarray:
        """``z`` of the demand index at ``price`` (currency), shape (P,) or (P, K)."""
        price = np.asarray(price, dtype=np.float64)
        scale = self.list_price if price.ndim == 1 else self.list_price[:, None]
        x = np.maximum(price / scale, 1e-12)
        return x if self.model == "exponential" else np.log(x)

    def expected_units(self, price: np.ndarray) -> np.ndarray:
        """Expected daily units at ``price`` (currency), shape (P,) or (P, K)."""
        price = np.asarray(price, dtype=np.float64)
        col = (lambda v: v) if price.ndim == 1 else (lambda v: v[:, None])
        eta = col(self.intercept) - col(self.price_sensitivity) * self.features(price)
        return col(self.market_size) * np.exp(np.clip(eta, -_ETA_LIMIT, _ETA_LIMIT))

    def elasticity(self, price: np.ndarray | None = None) -> np.ndarray:
        """Price elasticity ``-d log q / d log p`` (default: at the list price)."""
        b = self.price_sensitivity
        if self.model == "constant_elasticity":
            return b if price is None else np.broadcast_to(b, np.shape(price)).copy()
        if price is None:
            return b.copy()
        price = np.asarray(price, dtype=np.float64)
        scale = self.list_price if price.ndim == 1 else self.list_price[:, None]
        bb = b if price.ndim == 1 else b[:, None]
        return bb * price / scale

    def elasticity_sd(self) -> np.ndarray:
        """Standard deviation of the elasticity at the list price (delta method)."""
        return self.price_sensitivity * self.log_sensitivity_sd

    def optimal_price(self, unit_cost: np.ndarray) -> np.ndarray:
        """The static profit-maximising price (currency), unlimited stock.

        ``exponential``: ``c + list_price / b``; ``constant_elasticity``:
        ``c * b / (b - 1)``, infinite where ``b <= 1``.
        """
        b = self.price_sensitivity
        if self.model == "exponential":
            return unit_cost + self.list_price / b
        with np.errstate(divide="ignore"):
            return np.where(b > 1, unit_cost * b / np.maximum(b - 1, 1e-12), np.inf)


def fit_demand(
    panel: Panel,
    model: str = "exponential",
    day_mask: np.ndarray | None = None,
    prior: PooledPrior | None = None,
    max_em_iterations: int = 200,
    initial_prior: PooledPrior | None = None,
    tolerance: float = 1e-3,
) -> DemandFit:
    """Fit each product's demand by penalised maximum likelihood.

    Args:
        panel: daily sales; every product needs at least one unit sold on the
            fitted days.
        model: ``exponential`` or ``constant_elasticity``.
        day_mask: fit on these (product, day) cells only (with the panel's
            active days); all active days by default.
        prior: a fixed pooled prior; by default the prior is fitted from the
            products (empirical Bayes).
        max_em_iterations: rounds of the prior's fit at most.
        tolerance: stop when the prior's mean and covariance move less than this.
        initial_prior: where the prior's fit starts (a weak prior by default).

    Returns:
        The fitted products.
    """
    if model not in FIT_MODELS:
        raise ValueError(
            f"model: cannot fit {model!r}; choose one of {', '.join(FIT_MODELS)}"
        )
    mask = panel.active if day_mask is None else panel.active & day_mask
    weight = mask.astype(np.float64)
    units = np.where(mask, panel.units, 0.0)
    days = weight.sum(axis=1)
    market_size = units.sum(axis=1) / np.maximum(days, 1.0)
    if np.any(market_size <= 0):
        bad = panel.product_id[market_size <= 0][:3].tolist()
        raise ValueError(
            f"panel: products {bad} sold nothing on the fitted days; leave them out "
            "(raise min_sale_days) before fitting"
        )
    price = np.where(mask, panel.price, np.nan)
    list_price = np.nanmedian(np.where(units > 0, price, np.nan), axis=1)
    x = np.where(mask, price / list_price[:, None], 1.0)
    z = x if model == "exponential" else np.log(x)
    mean_price = np.nansum(price, axis=1) / np.maximum(days, 1.0)
    spread = np.sqrt(
        np.nansum(np.where(mask, (price - mean_price[:, None]) ** 2, 0.0), axis=1)
        / np.maximum(days, 1.0)
    )
    # Work with the demand index at the list price, ``c = a - b * z(list price)``,
    # which the data pin down even when the price never moved.
    z_list = 1.0 if model == "exponential" else 0.0
    data = _Data(units, np.where(mask, z - z_list, 0.0), weight, np.log(market_size))

    # Start every product at b = 1, selling its average units at the list price.
    theta = np.zeros((len(units), 2))
    iterations = 0
    if prior is None:
        start = initial_prior or PooledPrior(np.zeros(2), np.diag([25.0, 4.0]))
        prior, theta, iterations = _fit_prior(
            data, theta, start, max_em_iterations, tolerance
        )
    theta, cov = _posterior_modes(data, theta, prior)
    logger.info(
        "fit: %d products, %s demand, pooled log price_sensitivity %.3f +- %.3f "
        "(%d rounds)",
        len(theta),
        model,
        prior.mean[1],
        np.sqrt(prior.cov[1, 1]),
        iterations,
    )
    return DemandFit(
        model=model,
        product_id=panel.product_id,
        market_size=market_size,
        list_price=list_price,
        intercept=theta[:, 0] + np.exp(theta[:, 1]) * z_list,
        log_sensitivity=theta[:, 1],
        cov=cov,
        prior=prior,
        fitted_days=days.astype(np.int64),
        price_variation=spread / mean_price,
        em_iterations=iterations,
    )


@dataclass
class _Data:
    units: np.ndarray  # (P, D), 0 off the fitted days
    z: np.ndarray  # (P, D)
    weight: np.ndarray  # (P, D), 1 on fitted days
    log_m: np.ndarray  # (P,)


def _fit_prior(
    data: _Data,
    theta: np.ndarray,
    start: PooledPrior,
    max_rounds: int,
    tolerance: float,
) -> tuple[PooledPrior, np.ndarray, int]:
    """The pooled prior by Laplace-approximate EM, sped up by squared extrapolation.

    Each EM round finds the products' modes under the current prior (warm
    started, a few Newton steps) and moves the prior to their moments. Two rounds
    give a direction; a step along it (SQUAREM) stands in for many rounds.

    Returns:
        The prior, the products' modes under it, and the EM rounds run.
    """
    modes_now = [theta]
    rounds = [0]

    def em_round(params: np.ndarray) -> np.ndarray:
        current = _unpack(params)
        modes, cov = _posterior_modes(data, modes_now[0], current, max_steps=12)
        modes_now[0] = modes
        rounds[0] += 1
        mean = modes.mean(axis=0)
        dev = modes - mean
        sigma = (dev.T @ dev + cov.sum(axis=0)) / len(modes) + 1e-6 * np.eye(2)
        return _pack(PooledPrior(mean, sigma))

    params = _pack(start)
    params = em_round(params)
    moved = np.inf
    while rounds[0] < max_rounds:
        first = em_round(params)
        second = em_round(first)
        r, v = first - params, second - 2 * first + params
        alpha = -min(
            float(np.linalg.norm(r)) / max(float(np.linalg.norm(v)), 1e-300), 50.0
        )
        alpha = min(alpha, -1.0)
        jump = params - 2 * alpha * r + alpha**2 * v
        after = em_round(jump) if np.all(np.isfinite(jump)) else em_round(second)
        moved = float(np.abs(after - params).max())
        logger.debug("fit: round %d, prior moved %.3g", rounds[0], moved)
        params = after
        if moved < tolerance:
            break
    else:
        logger.warning(
            "fit: the pooled prior moved %.2g in its last rounds after %d rounds; "
            "raise max_em_iterations for a tighter fit",
            moved,
            max_rounds,
        )
    return _unpack(params), modes_now[0], rounds[0]


def _pack(prior: PooledPrior) -> np.ndarray:
    """Prior as a free vector: mean, then log-diagonal and off-diagonal Cholesky."""
    chol = np.linalg.cholesky(prior.cov)
    return np.array(
        [
            prior.mean[0],
            prior.mean[1],
            np.log(chol[0, 0]),
            np.log(chol[1, 1]),
            chol[1, 0],
        ]
    )


def _unpack(params: np.ndarray) -> PooledPrior:
    chol = np.array([[np.exp(params[2]), 0.0], [params[4], np.exp(params[3])]])
    return PooledPrior(params[:2].copy(), chol @ chol.T)


def _objective(data: _Data, theta: np.ndarray, prior: PooledPrior) -> np.ndarray:
    """Negative log posterior per product (up to constants)."""
    eta = np.clip(theta[:, :1] - np.exp(theta[:, 1:]) * data.z, -_ETA_LIMIT, _ETA_LIMIT)
    mu = np.exp(data.log_m[:, None] + eta)
    nll = (data.weight * (mu - data.units * eta)).sum(axis=1)
    dev = theta - prior.mean
    return nll + 0.5 * np.einsum("pi,ij,pj->p", dev, prior.precision, dev)


def _posterior_modes(
    data: _Data, theta: np.ndarray, prior: PooledPrior, max_steps: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior modes and Laplace covariances of every product at once."""
    theta = theta.copy()
    precision = prior.precision
    todo = np.ones(len(theta), dtype=bool)
    for _ in range(max_steps):
        idx = np.flatnonzero(todo)
        if len(idx) == 0:
            break
        sub = _Data(data.units[idx], data.z[idx], data.weight[idx], data.log_m[idx])
        th = theta[idx]
        grad, info, before = _score(sub, th, prior.mean, precision, observed=True)

        # Newton steps: solve the 2 x 2 systems in closed form.
        det = info[:, 0, 0] * info[:, 1, 1] - info[:, 0, 1] ** 2
        step = np.stack(
            [
                (info[:, 1, 1] * grad[:, 0] - info[:, 0, 1] * grad[:, 1]) / det,
                (info[:, 0, 0] * grad[:, 1] - info[:, 0, 1] * grad[:, 0]) / det,
            ],
            axis=1,
        )
        step = np.clip(step, -_MAX_STEP, _MAX_STEP)

        # Halve each product's step until its posterior does not get worse.
        slack = 1e-10 * np.abs(before) + 1e-9
        scale = np.ones(len(idx))
        pending = np.arange(len(idx))
        for _halving in range(30):
            trial = th[pending] - scale[pending, None] * step[pending]
            part = _Data(
                sub.units[pending],
                sub.z[pending],
                sub.weight[pending],
                sub.log_m[pending],
            )
            ok = _objective(part, trial, prior) <= before[pending] + slack[pending]
            th[pending[ok]] = trial[ok]
            pending = pending[~ok]
            if len(pending) == 0:
                break
            scale[pending] *= 0.5
        theta[idx] = th
        moved = np.abs(scale[:, None] * step).max(axis=1)
        stuck = np.zeros(len(idx), dtype=bool)
        stuck[pending] = True
        todo[idx] = ~stuck & (moved > 1e-7)
    _, info, _ = _score(data, theta, prior.mean, precision)
    return theta, np.linalg.inv(info)


def _score(
    data: _Data,
    theta: np.ndarray,
    mean: np.ndarray,
    precision: np.ndarray,
    observed: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of the negative log posterior, its curvature, and its value.

    The curvature is the Fisher information, or with ``observed`` the Hessian
    wherever that is positive definite (it converges faster near the mode).
    """
    b = np.exp(theta[:, 1])
    eta = np.clip(theta[:, :1] - b[:, None] * data.z, -_ETA_LIMIT, _ETA_LIMIT)
    mu = np.exp(data.log_m[:, None] + eta) * data.weight
    resid = mu - data.units * data.weight
    dz = -b[:, None] * data.z  # d eta / d log b
    grad = np.stack([resid.sum(axis=1), (resid * dz).sum(axis=1)], axis=1)
    dev = theta - mean
    grad += dev @ precision
    value = (mu - data.units * data.weight * eta).sum(axis=1) + 0.5 * np.einsum(
        "pi,ij,pj->p", dev, precision, dev
    )
    info = np.empty((len(theta), 2, 2))
    info[:, 0, 0] = mu.sum(axis=1)
    info[:, 0, 1] = info[:, 1, 0] = (mu * dz).sum(axis=1)
    info[:, 1, 1] = (mu * dz * dz).sum(axis=1)
    info += precision
    if observed:
        # d2 eta / d (log b)2 = d eta / d log b, so the Hessian adds the score.
        hessian = info[:, 1, 1] + (resid * dz).sum(axis=1)
        det = info[:, 0, 0] * hessian - info[:, 0, 1] ** 2
        use = (hessian > 0) & (det > 1e-12 * info[:, 0, 0] * hessian)
        info[:, 1, 1] = np.where(use, hessian, info[:, 1, 1])
    return grad, info, value


@dataclass
class HoldoutScore:
    """Out-of-time fit: each product fitted on its first days, scored on the rest.

    Held-out prices outside the range of prices a product was fitted on are
    clamped to that range before predicting (no extrapolation).

    Attributes:
        fraction: share of each product's days held out (its last days).
        deviance: Poisson deviance of the fitted demand on the held-out days, per
            product.
        baseline_deviance: the same for a demand without a price effect (the
            product's average daily units on its fitted days).
        abs_error: summed absolute error of the daily units, per product.
        baseline_abs_error: the same for the baseline.
        units: units sold on the held-out days, per product.
        days: held-out days per product.
    """

    fraction: float
    deviance: np.ndarray
    baseline_deviance: np.ndarray
    abs_error: np.ndarray
    baseline_abs_error: np.ndarray
    units: np.ndarray
    days: np.ndarray

    @property
    def skill(self) -> float:
        """``1 - deviance / baseline deviance`` over all products (1 is perfect)."""
        return 1.0 - float(self.deviance.sum()) / max(
            float(self.baseline_deviance.sum()), 1e-12
        )

    @property
    def wape(self) -> float:
        """Absolute error over units sold, all products and held-out days."""
        return float(self.abs_error.sum()) / max(float(self.units.sum()), 1e-12)

    @property
    def baseline_wape(self) -> float:
        return float(self.baseline_abs_error.sum()) / max(
            float(self.units.sum()), 1e-12
        )

    @property
    def median_product_skill(self) -> float:
        """Median over products of ``1 - deviance / baseline deviance``."""
        ratio = self.deviance / np.maximum(self.baseline_deviance, 1e-12)
        return float(np.median(1.0 - ratio))

    @property
    def share_better(self) -> float:
        """Share of products whose held-out deviance beats the baseline's."""
        return float(np.mean(self.deviance < self.baseline_deviance))

    def to_dict(self) -> dict[str, float]:
        return {
            "fraction": self.fraction,
            "days": int(self.days.sum()),
            "units": float(self.units.sum()),
            "poisson_deviance": float(self.deviance.sum()),
            "baseline_poisson_deviance": float(self.baseline_deviance.sum()),
            "deviance_skill": self.skill,
            "wape": self.wape,
            "baseline_wape": self.baseline_wape,
            "share_products_better": self.share_better,
            "median_product_skill": self.median_product_skill,
        }


def holdout_split(panel: Panel, fraction: float) -> np.ndarray:
    """Mask of each product's fitted days: all but the last ``fraction`` of its span."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout_fraction: must lie in (0, 1), got {fraction}")
    position = np.cumsum(panel.active, axis=1)
    total = panel.active.sum(axis=1)
    held = np.ceil(fraction * total).astype(int)
    return panel.active & (position <= (total - held)[:, None])


def score_holdout(
    panel: Panel,
    model: str = "exponential",
    fraction: float = 0.2,
    prior: PooledPrior | None = None,
    initial_prior: PooledPrior | None = None,
) -> tuple[HoldoutScore, DemandFit]:
    """Fit on each product's first days and score the last ``fraction`` of them.

    Products that sell nothing before their held-out days are not scored. The
    pooled prior is refitted on the early days (from ``initial_prior``, e.g. the
    full fit's, to save rounds) unless ``prior`` fixes it. Returns the score and
    the fit on the early days.
    """
    train = holdout_split(panel, fraction)
    sells = (np.where(train, panel.units, 0.0) > 0).any(axis=1)
    if not sells.all():
        logger.info(
            "holdout: %d products sold nothing before their held-out days; "
            "they are not scored",
            int((~sells).sum()),
        )
        panel, train = panel.take(np.flatnonzero(sells)), train[sells]
    test = panel.active & ~train
    fit = fit_demand(
        panel, model, day_mask=train, prior=prior, initial_prior=initial_prior
    )
    # The fit says nothing about prices the product was never sold at in its
    # fitted days, so held-out prices are clamped to that range.
    seen = np.where(train, panel.price, np.nan)
    low, high = np.nanmin(seen, axis=1), np.nanmax(seen, axis=1)
    price = np.where(test, panel.price, fit.list_price[:, None])
    price = np.clip(price, low[:, None], high[:, None])
    predicted = fit.expected_units(price)
    baseline = np.broadcast_to(fit.market_size[:, None], predicted.shape)
    y = np.where(test, panel.units, 0.0)
    score = HoldoutScore(
        fraction=fraction,
        deviance=_poisson_deviance(y, predicted, test),
        baseline_deviance=_poisson_deviance(y, baseline, test),
        abs_error=(np.abs(y - predicted) * test).sum(axis=1),
        baseline_abs_error=(np.abs(y - baseline) * test).sum(axis=1),
        units=y.sum(axis=1),
        days=test.sum(axis=1),
    )
    return score, fit


def _poisson_deviance(y: np.ndarray, mu: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mu = np.maximum(mu, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
    return 2.0 * (term * mask).sum(axis=1)
