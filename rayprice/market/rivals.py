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

# Fixed-point steps for the logit best response; warm-started from the rival's last
# price, a few steps settle it to well under a cent of the list price.
_BEST_RESPONSE_STEPS = 6


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
        rows = np.any(responders, axis=1)
        best = best_response(
            batch.take(rows), our_price[rows], rival_price[rows], responders[rows]
        )
        new[rows] = np.where(responders[rows], best, new[rows])
    return new


def best_response(
    batch: MarketBatch,
    our_price: np.ndarray,
    rival_price: np.ndarray,
    responders: np.ndarray | None = None,
) -> np.ndarray:
    """Each rival's profit-maximising price against ours and the other rivals'.

    Under (segmented) logit demand a seller's first-order condition is
    ``sum_k w_k s_k [1 - b_k (p - c) (1 - s_k)] = 0``; its fixed point
    ``p = c + sum_k w_k s_k / sum_k w_k b_k s_k (1 - s_k)`` (in list-price units)
    is iterated from the rival's current price. Rivals outside ``responders``
    keep their price; the responders settle to their equilibrium among themselves.
    """
    fixed = xr_fixed = None
    lp = batch.list_price[:, None]
    x0 = our_price[:, None] / lp  # (N, 1)
    xr = rival_price / lp  # (N, R)
    if responders is not None:
        fixed, xr_fixed = ~responders, xr.copy()
    cr = batch.rival_cost / lp
    w = batch.seg_weight[:, None, :]  # (N, 1, K)
    b = batch.seg_slope[:, None, :]
    u0 = batch.seg_intercept[:, None, :] - b * x0[:, :, None]  # (N, 1, K)
    for _ in range(_BEST_RESPONSE_STEPS):
        ur = batch.rival_quality[:, :, None] - b * xr[:, :, None]  # (N, R, K)
        top = np.maximum(np.maximum(ur.max(axis=1, keepdims=True), u0), 0.0)
        er = np.exp(ur - top)
        denom = np.exp(-top) + np.exp(u0 - top) + er.sum(axis=1, keepdims=True)
        s = er / denom  # (N, R, K)
        num = (w * s).sum(axis=-1)
        den = (w * b * s * (1 - s)).sum(axis=-1)
        xr = cr + num / np.maximum(den, 1e-12)
        if fixed is not None:
            xr = np.where(fixed, xr_fixed, xr)
    return xr * lp
