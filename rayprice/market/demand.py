"""Demand models, vectorised over markets: purchase probabilities and sales draws.

Every function takes a :class:`~rayprice.market.batch.MarketBatch` and arrays with
the markets on the first axis. Sales are drawn by inverting the count
distribution's CDF at given uniforms, so that a higher purchase probability
never sells fewer units on the same uniforms (the coupling behind common
random numbers).
"""

from __future__ import annotations

import numpy as np

from rayprice.market import kernels
from rayprice.market.batch import MarketBatch

POISSON_MODELS = ("linear", "exponential", "constant_elasticity")
BINOMIAL_MODELS = ("logit", "mnl", "table")


def reference_term(
    batch: MarketBatch, x: np.ndarray, reference: np.ndarray
) -> np.ndarray:
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
            assert rival_price is not None, (
                "the mnl model with rivals needs rival prices"
            )
            if not lead:
                return np.ascontiguousarray(
                    kernels.mnl_share(
                        np.ascontiguousarray(a.T),
                        np.ascontiguousarray(b.T),
                        x,
                        ref_u,
                        np.ascontiguousarray(batch.rival_quality.T),
                        np.ascontiguousarray(rival_price.T),
                        batch.list_price,
                    ).T
                )
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
        n, points = u.shape[:2]
        ru = np.broadcast_to(ru[:, None, :, :], (n, points, *ru.shape[1:]))
    utilities = np.concatenate(
        [u[..., None, :], ru, np.zeros_like(u)[..., None, :]], axis=-2
    )
    top = utilities.max(axis=-2, keepdims=True)
    e = np.exp(utilities - top)
    return e / e.sum(axis=-2, keepdims=True)


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
        raise ValueError(
            f"demand.model: choice shares need the 'mnl' model, not {batch.model!r}"
        )
    x = np.asarray(price, dtype=np.float64) / batch.list_price
    ref = np.ones(batch.n) if reference is None else reference
    u = (
        batch.seg_intercept
        - batch.seg_slope * x[:, None]
        + reference_term(batch, x, ref)[:, None]
    )
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


def draw_counts(
    batch: MarketBatch, rates: np.ndarray, n: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Units demanded per market and segment, elementwise (any layout)."""
    if is_binomial(batch):
        # np.clip's Python wrapper costs more than the two ufuncs it stands for.
        return binomial_quantile(n, np.minimum(np.maximum(rates, 0.0), 1.0), u)
    return poisson_quantile(rates * n, u)


def poisson_quantile(mean: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest k with P(Poisson(mean) <= k) >= u, elementwise.

    A mean of at most 9 (``kernels.EXACT_VARIANCE``) walks the CDF from
    ``pmf(0) = exp(-mean)`` by the ratio ``pmf(k) / pmf(k - 1) = mean / k`` until
    it reaches ``u``; a larger one rounds its normal approximation,
    ``mean + sqrt(mean) * ndtri(u)``, at zero and below.
    """
    mean, u = np.broadcast_arrays(np.asarray(mean, dtype=np.float64), u)
    flat = kernels.poisson_quantile(_flat(mean), _flat(u))
    return flat.reshape(mean.shape)


def binomial_quantile(n: np.ndarray, q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest k with P(Binomial(n, q) <= k) >= u, elementwise.

    A count of variance ``n q (1 - q)`` at most 9 (``kernels.EXACT_VARIANCE``)
    walks the CDF from ``pmf(0) = (1 - q) ** n`` by the ratio
    ``pmf(k) / pmf(k - 1) = max(n - k + 1, 0) / k * q / (1 - q)`` until it reaches
    ``u``; a larger one rounds its normal approximation,
    ``n q + sqrt(n q (1 - q)) * ndtri(u)``, into ``[0, n]``.

    For ``q > 1/2`` the count of customers who do *not* buy is inverted at
    ``1 - u``, which keeps the exact path short and the coupling monotone: the
    non-buyer count falls as ``q`` rises.
    """
    n, q, u = np.broadcast_arrays(np.asarray(n, dtype=np.float64), q, u)
    flat = kernels.binomial_quantile(_flat(n), _flat(q), _flat(u))
    return flat.reshape(n.shape)


def _flat(a: np.ndarray) -> np.ndarray:
    """``a`` as a contiguous flat float64 array, the form the kernels take."""
    return np.ascontiguousarray(a, dtype=np.float64).reshape(-1)


def count_pmf(
    batch: MarketBatch, rates: np.ndarray, n: np.ndarray, size: int
) -> np.ndarray:
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
