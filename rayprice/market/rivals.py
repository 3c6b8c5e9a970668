"""Rival pricing rules, vectorised over markets and rivals.

Rivals set their price at the start of each period, having seen our price of the
period before. The rules are documented on :class:`~rayprice.market.spec.RivalSpec`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from rayprice.market.batch import MarketBatch
from rayprice.market.spec import RIVAL_RULES

FIXED, UNDERCUT, MATCH, RANDOM_WALK, COST_PLUS, BEST_RESPONSE = range(len(RIVAL_RULES))

# Fixed-point steps per period for the logit best response. Warm-started from the
# rival's last price, three steps land within 0.05% of the exact best response to a
# 3% move of ours; from a cold start the rival closes in over a few periods, as a
# seller re-optimising daily would.
_BEST_RESPONSE_STEPS = 3


def next_rival_prices(
    batch: MarketBatch,
    our_price: np.ndarray,
    rival_price: np.ndarray,
    u: np.ndarray | None,
) -> np.ndarray:
    """Rival prices for the next period, shape (N, R).

    Args:
        our_price: our price this period, (N,).
        rival_price: the rivals' prices this period, (N, R).
        u: uniforms (N, R) for random walks; ``None`` for the expected path (no
            move).
    """
    rule = batch.rival_rule
    cost = batch.rival_cost
    ours = our_price[:, None]
    new = np.where(rule == FIXED, batch.rival_initial_price, rival_price)
    new = np.where(rule == UNDERCUT, np.maximum(ours * (1 - batch.rival_undercut), cost), new)
    new = np.where(rule == MATCH, np.maximum(ours, cost), new)
    new = np.where(rule == COST_PLUS, cost * (1 + batch.rival_markup), new)
    if u is not None:
        walk = rival_price * np.exp(batch.rival_volatility * ndtri(u))
        new = np.where(rule == RANDOM_WALK, walk, new)
    responders = rule == BEST_RESPONSE
    if np.any(responders):
        rows = np.flatnonzero(responders.any(axis=1))
        best = best_response(batch, our_price, rival_price, responders, rows)
        new[rows] = np.where(responders[rows], best, new[rows])
    return new


def best_response(
    batch: MarketBatch,
    our_price: np.ndarray,
    rival_price: np.ndarray,
    responders: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Each rival's profit-maximising price against ours and the other rivals'.

    Under (segmented) logit demand a seller's first-order condition is
    ``sum_k w_k s_k [1 - b_k (p - c) (1 - s_k)] = 0``; its fixed point
    ``p = c + sum_k w_k s_k / sum_k w_k b_k s_k (1 - s_k)`` (in list-price units)
    is iterated from the rival's current price. Rivals outside ``responders``
    keep their price; the responders settle to their equilibrium among themselves.

    Args:
        rows: compute for these markets only (the result has ``len(rows)`` rows).
    """
    if rows is None:
        rows = np.arange(batch.n)
    lp = batch.list_price[rows, None]
    x0 = our_price[rows, None] / lp  # (M, 1)
    xr = rival_price[rows] / lp  # (M, R)
    cr = batch.rival_cost[rows] / lp
    quality = batch.rival_quality[rows][:, :, None]
    w = batch.seg_weight[rows][:, None, :]  # (M, 1, K)
    b = batch.seg_slope[rows][:, None, :]
    u0 = batch.seg_intercept[rows][:, None, :] - b * x0[:, :, None]  # (M, 1, K)
    keep = None if responders is None else ~responders[rows]
    xr_kept = xr.copy()
    for _ in range(_BEST_RESPONSE_STEPS):
        ur = quality - b * xr[:, :, None]  # (M, R, K)
        top = np.maximum(np.maximum(ur.max(axis=1, keepdims=True), u0), 0.0)
        er = np.exp(ur - top)
        denom = np.exp(-top) + np.exp(u0 - top) + er.sum(axis=1, keepdims=True)
        s = er / denom  # (M, R, K)
        num = (w * s).sum(axis=-1)
        den = (w * b * s * (1 - s)).sum(axis=-1)
        xr = cr + num / np.maximum(den, 1e-12)
        if keep is not None:
            xr = np.where(keep, xr_kept, xr)
    return xr * lp
