"""Demand models, vectorised over markets: purchase probabilities and sales draws.

Every function takes a :class:`~rayprice.market.batch.MarketBatch` and arrays with
the markets on the first axis. Sales are drawn by inverting the count
distribution's CDF at given uniforms, so that a higher purchase probability
never sells fewer units on the same uniforms (the coupling behind common
random numbers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from rayprice.market.batch import MarketBatch

POISSON_MODELS = ("linear", "exponential", "constant_elasticity")
BINOMIAL_MODELS = ("logit", "mnl", "table")

# Above this variance a count is drawn from its normal approximation; below it the
# CDF is inverted exactly. 9 keeps the approximation's error in the pmf under ~1%.
_EXACT_VARIANCE = 9.0
_MAX_EXACT_STEPS = 64


def reference_term(batch: MarketBatch, x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Utility from buying below (gain) or above (loss) the reference price."""
    if not batch.has_reference:
        return np.zeros_like(x)
    gap = reference - x
    extra = (1,) * (x.ndim - 1)
    gain = batch.ref_gain.reshape(-1, *extra)
    loss = batch.ref_loss.reshape(-1, *extra)
    return gain * np.maximum(gap, 0.0) - loss * np.maximum(-gap, 0.0)


def segment_rates(
    batch: MarketBatch,
    price: np.ndarray,
    rival_price: np.ndarray | None = None,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Per-segment purchase probability (Binomial models) or Poisson rate per customer.

    Args:
        batch: N markets.
        price: our price per market, shape (N,) or (N, P) for P candidate prices.
        rival_price: rival prices in currency, shape (N, R).
        reference: reference price (scaled by list price), shape (N,).

    Returns:
        Shape (N, K) or (N, P, K): for Binomial models the probability that a
        customer of segment k buys from us; for Poisson models the expected units
        per unit of market size.
    """
    price = np.asarray(price, dtype=np.float64)
    lead = price.ndim == 2
    x = price / (batch.list_price[:, None] if lead else batch.list_price)
    ref = np.ones(batch.n) if reference is None else reference
    ref_u = reference_term(batch, x, ref[:, None] if lead else ref)
    a = batch.seg_intercept[:, None, :] if lead else batch.seg_intercept
    b = batch.seg_slope[:, None, :] if lead else batch.seg_slope
    xs = x[..., None]
    u = a - b * xs + ref_u[..., None]
    model = batch.model

    if model == "logit":
        return 1.0 / (1.0 + np.exp(-u))
    if model == "linear":
        return np.maximum(u, 0.0)
    if model == "exponential":
        return np.exp(u)
    if model == "constant_elasticity":
        return np.exp(a + ref_u[..., None]) * np.power(np.maximum(xs, 1e-12), -b)
    if model == "table":
        q = _table_probability(batch, price)
        return q[..., None]
    if model == "mnl":
        if batch.has_rivals:
            assert rival_price is not None, "the mnl model with rivals needs rival prices"
            if not lead:
                rival_x = rival_price.T / batch.list_price
                quality, slope = batch.rival_quality.T, batch.seg_slope.T
                rival_u = rival_utilities(quality, slope, rival_x)
                return np.ascontiguousarray(our_mnl_share(u.T, rival_u).T)
            shares = _mnl_shares(batch, u, rival_price, lead)
            return shares[..., 0, :]
        return 1.0 / (1.0 + np.exp(-u))
    raise ValueError(f"demand.model: unknown model {model!r}")


def _mnl_shares(
    batch: MarketBatch, u: np.ndarray, rival_price: np.ndarray, lead: bool
) -> np.ndarray:
    """Choice shares of (our offer, each rival, not buying) per segment.

    ``u`` is our utility per segment, (N, K) or (N, P, K); the result has the
    alternatives on the second-to-last axis: (..., 1 + R + 1, K).
    """
    # Customers choose among our offer, the rivals and not buying (utility 0).
    rx = rival_price / batch.list_price[:, None]  # (N, R)
    ru = batch.rival_quality[:, :, None] - rx[:, :, None] * batch.seg_slope[:, None, :]
    if lead:
        n, points, _, k = (*u.shape[:2], *ru.shape[1:])
        ru = np.broadcast_to(ru[:, None, :, :], (n, points, ru.shape[1], k))
    utilities = np.concatenate([u[..., None, :], ru, np.zeros_like(u)[..., None, :]], axis=-2)
    top = utilities.max(axis=-2, keepdims=True)
    e = np.exp(utilities - top)
    return e / e.sum(axis=-2, keepdims=True)


def rival_utilities(
    quality: np.ndarray, slope: np.ndarray, rival_x: np.ndarray
) -> np.ndarray:
    """Each rival's utility to each segment, (R, K, N), markets on the last axis.

    Args:
        quality: rival quality, (R, N).
        slope: segment price sensitivity, (K, N).
        rival_x: rival prices over our list price, (R, N).
    """
    return quality[:, None, :] - rival_x[:, None, :] * slope


def our_mnl_share(utility: np.ndarray, rival_utility: np.ndarray) -> np.ndarray:
    """Share of each segment buying from us, (K, N), markets on the last axis.

    The same numbers as ``_mnl_shares(...)[:, 0, :]``: alternatives are summed in
    the same order (ours, the rivals, not buying). Keeping the markets last makes
    the max and the sum over the few alternatives whole-row operations.

    Args:
        utility: our utility per segment, (K, N).
        rival_utility: from :func:`rival_utilities`, (R, K, N).
    """
    util = np.empty((rival_utility.shape[0] + 2, *utility.shape))
    util[0] = utility
    util[1:-1] = rival_utility
    util[-1] = 0.0
    top = max_over_first(util)
    np.subtract(util, top, out=util)
    np.exp(util, out=util)
    return util[0] / add_in_order(util)


def add_in_order(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """``a`` summed over ``axis`` term by term, first to last.

    The same numbers as ``a.sum(axis)`` over a leading axis, which numpy also adds
    in order, at a fraction of its cost when the axis is short and the rest long.
    """
    terms = a.swapaxes(0, axis)
    total = terms[0].copy()
    for term in terms[1:]:
        total += term
    return total


def max_over_first(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=0)``, a row at a time: faster when the first axis is short."""
    top = a[0].copy()
    for row in a[1:]:
        np.maximum(top, row, out=top)
    return top


def sum_like_last_axis(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` summed over ``axis``, bit-identical to numpy's sum over a last axis.

    numpy adds fewer than 8 terms in order and longer runs pairwise, so long sums
    go through a last-axis copy. Markets-last code sums segments with this.
    """
    if a.shape[axis] < 8:
        return add_in_order(a, axis)
    return np.ascontiguousarray(a.swapaxes(axis, -1)).sum(axis=-1)


def choice_shares(
    batch: MarketBatch,
    price: np.ndarray,
    rival_price: np.ndarray,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Shares of (our offer, each rival, not buying) per segment, (N, R + 2, K).

    For the ``mnl`` model only.
    """
    if batch.model != "mnl":
        raise ValueError(f"demand.model: choice shares need the 'mnl' model, not {batch.model!r}")
    x = np.asarray(price, dtype=np.float64) / batch.list_price
    ref = np.ones(batch.n) if reference is None else reference
    u = batch.seg_intercept - batch.seg_slope * x[:, None] + reference_term(batch, x, ref)[:, None]
    return _mnl_shares(batch, u, rival_price, lead=False)


def _table_probability(batch: MarketBatch, price: np.ndarray) -> np.ndarray:
    """Piecewise-linear purchase probability on the grid, zero above it."""
    grid, prob = batch.grid_price, batch.grid_prob
    lead = price.ndim == 2
    p = price if lead else price[:, None]
    # Index of the grid interval each price falls in, per market.
    idx = (p[:, :, None] >= grid[:, None, :]).sum(axis=-1) - 1  # (N, P)
    g = grid.shape[1]
    lo = np.clip(idx, 0, g - 2)
    rows = np.arange(batch.n)[:, None]
    x0, x1 = grid[rows, lo], grid[rows, lo + 1]
    y0, y1 = prob[rows, lo], prob[rows, lo + 1]
    w = np.clip((p - x0) / (x1 - x0), 0.0, 1.0)
    q = y0 + w * (y1 - y0)
    q = np.where(p < grid[:, :1], prob[:, :1], q)
    q = np.where(p > grid[:, -1:] * (1 + 1e-9), 0.0, q)
    return q if lead else q[:, 0]


def is_binomial(batch: MarketBatch) -> bool:
    return batch.model in BINOMIAL_MODELS


def season_factor(batch: MarketBatch, t: np.ndarray | int) -> np.ndarray:
    """Multiplier on the number of customers in period ``t``."""
    if not batch.has_seasonality:
        return np.ones(batch.n)
    angle = 2 * np.pi * np.asarray(t) / batch.season_period + batch.season_phase
    return 1.0 + batch.season_amplitude * np.sin(angle)


def customers(batch: MarketBatch, t: np.ndarray | int) -> np.ndarray:
    """Customers per segment in period ``t``, shape (N, K).

    Binomial models draw from a whole number of customers; Poisson models scale
    their rate by the (possibly fractional) market size.
    """
    size = batch.market_size * season_factor(batch, t)
    per_segment = size[:, None] * batch.seg_weight
    if is_binomial(batch):
        return np.floor(per_segment + 0.5)
    return per_segment


def expected_units(
    batch: MarketBatch,
    price: np.ndarray,
    t: np.ndarray | int,
    rival_price: np.ndarray | None = None,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Expected units demanded (before any stock limit), shape (N,) or (N, P)."""
    rates = segment_rates(batch, price, rival_price, reference)
    n = customers(batch, t)
    if rates.ndim == 3:
        return (rates * n[:, None, :]).sum(axis=-1)
    return (rates * n).sum(axis=-1)


def draw_units(
    batch: MarketBatch, rates: np.ndarray, n: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Units demanded per market from per-segment rates at uniforms ``u`` (N, K)."""
    return draw_counts(batch, rates, n, u).sum(axis=-1)


def draw_counts(
    batch: MarketBatch, rates: np.ndarray, n: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Units demanded per market and segment, elementwise (any layout)."""
    if is_binomial(batch):
        # np.clip's Python wrapper costs more than the two ufuncs it stands for.
        return binomial_quantile(n, np.minimum(np.maximum(rates, 0.0), 1.0), u)
    return poisson_quantile(rates * n, u)


def poisson_quantile(mean: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest k with P(Poisson(mean) <= k) >= u, elementwise."""
    mean = np.maximum(mean, 0.0)
    out = np.empty_like(mean)
    small = mean <= _EXACT_VARIANCE
    large = ~small
    # Each path runs on its own elements only: ndtri and the exact walk are costly.
    if large.any():
        m = mean[large]
        out[large] = np.maximum(np.floor(m + np.sqrt(m) * ndtri(u[large]) + 0.5), 0.0)
    if small.any():
        m = mean[small]
        out[small] = _invert(u[small], np.exp(-m), _poisson_ratio, m)
    return out


def _poisson_ratio(k: float, mean: np.ndarray, out: np.ndarray) -> np.ndarray:
    """pmf(k) / pmf(k - 1) = mean / k, into ``out``."""
    return np.divide(mean, k, out=out)


def binomial_quantile(n: np.ndarray, q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest k with P(Binomial(n, q) <= k) >= u, elementwise.

    For ``q > 1/2`` the count of customers who do *not* buy is inverted at
    ``1 - u``, which keeps the exact path short and the coupling monotone.
    """
    flip = q > 0.5
    qq = np.where(flip, 1.0 - q, q)
    uu = np.where(flip, 1.0 - u, u)
    var = n * qq * (1.0 - qq)
    out = np.empty_like(var)
    small = var <= _EXACT_VARIANCE
    large = ~small
    # Each path runs on its own elements only: ndtri and the exact walk are costly.
    if large.any():
        nl, ql = n[large], qq[large]
        draw = np.floor(nl * ql + np.sqrt(var[large]) * ndtri(uu[large]) + 0.5)
        out[large] = np.minimum(np.maximum(draw, 0.0), nl)
    if small.any():
        ns, qs = n[small], qq[small]
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(qs < 1.0, qs / (1.0 - qs), 0.0)
            pmf = np.power(1.0 - qs, ns)
        count = _invert(uu[small], pmf, _binomial_ratio, ns, odds)
        out[small] = np.minimum(count, ns)
    # A flipped draw counts non-buyers; at 1 - u the coupling stays monotone in q
    # because the non-buyer count falls as q rises.
    return np.where(flip, n - out, out)


def _binomial_ratio(
    k: float, n: np.ndarray, odds: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """pmf(k) / pmf(k - 1) = max(n - k + 1, 0) / k * odds, into ``out``."""
    np.subtract(n, k, out=out)
    out += 1.0
    np.maximum(out, 0.0, out=out)
    out /= k
    out *= odds
    return out


# Below this many draws still counting, _invert keeps going on the full arrays:
# dropping finished draws costs a few copies, which pays only on long arrays.
_MIN_COMPACT = 64


def _invert(
    u: np.ndarray, pmf0: np.ndarray, ratio: Any, *params: np.ndarray
) -> np.ndarray:
    """Sequential CDF inversion from ``pmf(0)`` and the ratio ``pmf(k)/pmf(k-1)``.

    ``ratio(k, *params, out=...)`` gives the ratio at step ``k`` elementwise. Draws
    whose CDF has passed their uniform are dropped as they finish, so that the
    walk's cost follows the typical count rather than the largest one; the CDF
    is still accumulated term by term, so the counts are the same.
    """
    count = np.zeros_like(u)
    live = np.arange(u.size)  # positions still counting, into the flat inputs
    u, pmf, cdf = u.ravel(), pmf0.ravel().copy(), pmf0.ravel().copy()
    params = tuple(p.ravel() for p in params)
    k = np.zeros_like(u)
    step_ratio = np.empty_like(u)
    for step in range(1, _MAX_EXACT_STEPS + 1):
        more = u > cdf
        still = np.count_nonzero(more)
        if still == 0:
            break
        if still * 2 < len(more) and len(more) >= _MIN_COMPACT:
            count.flat[live] = k
            keep = np.flatnonzero(more)
            live, u, pmf, cdf, k = live[keep], u[keep], pmf[keep], cdf[keep], k[keep]
            more = more[keep]
            params = tuple(p[keep] for p in params)
            step_ratio = step_ratio[: len(keep)]
        k += more
        pmf *= ratio(float(step), *params, out=step_ratio)
        cdf += pmf
    count.flat[live] = k
    return count


def count_pmf(batch: MarketBatch, rates: np.ndarray, n: np.ndarray, size: int) -> np.ndarray:
    """Exact pmf of units demanded on 0..size-1 (the last entry takes the tail).

    Args:
        rates: (..., K) per-segment rates as from :func:`segment_rates`.
        n: (K,) customers per segment, broadcast against ``rates``.
        size: number of count values to return.

    Segments are convolved, so any number of segments is exact.
    """
    from scipy.stats import binom, poisson

    ks = np.arange(size)
    out = None
    for k in range(rates.shape[-1]):
        r = rates[..., k][..., None]
        nk = np.broadcast_to(n[..., k], rates.shape[:-1])[..., None]
        if is_binomial(batch):
            pmf = binom.pmf(ks, nk, np.clip(r, 0.0, 1.0))
        else:
            pmf = poisson.pmf(ks, r * nk)
        out = pmf if out is None else _convolve_truncated(out, pmf)
    assert out is not None
    out[..., -1] += np.clip(1.0 - out.sum(axis=-1), 0.0, 1.0)
    return out


def _convolve_truncated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    size = a.shape[-1]
    out = np.zeros_like(a)
    for j in range(size):
        out[..., j:] += a[..., j : j + 1] * b[..., : size - j]
    return out
