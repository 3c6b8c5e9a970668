"""Rival pricing rules, vectorised over markets and rivals.

Rivals set their price at the start of each period, having seen our price of the
period before. The rules are documented on :class:`~rayprice.market.spec.RivalSpec`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from rayprice.market import kernels
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
    rules = RivalRules(batch)
    walk_u = None if u is None else u.T.ravel()[rules.walk_at]
    new = rules.next_prices(our_price, np.ascontiguousarray(rival_price.T), walk_u)
    return np.ascontiguousarray(new.T)


class RivalRules:
    """A batch's rival rules, sorted once so that each period is a few array steps.

    Arrays are (R, N), markets on the last axis. Fixed and cost-plus prices never
    change, undercutting is matching at a discount, random walks and best
    responses run on the rivals that follow them only.
    """

    def __init__(self, batch: MarketBatch) -> None:
        rule = batch.rival_rule.T
        self.static = (rule == FIXED) | (rule == COST_PLUS)
        self.static_price = np.where(
            rule == FIXED,
            batch.rival_initial_price.T,
            batch.rival_cost.T * (1 + batch.rival_markup.T),
        )
        self.follow = (rule == UNDERCUT) | (rule == MATCH)
        self.any_follow = bool(self.follow.any())
        self.discount = np.where(rule == UNDERCUT, 1 - batch.rival_undercut.T, 1.0)
        self.cost = batch.rival_cost.T
        # Random walkers, as positions into the flattened (R, N) arrays.
        self.walk_at = np.flatnonzero(rule == RANDOM_WALK)
        self.walk_volatility = batch.rival_volatility.T.ravel()[self.walk_at]
        # Best responders: the markets that have one, with their constants gathered.
        responders = rule == BEST_RESPONSE
        self.respond_rows = np.flatnonzero(responders.any(axis=0))
        rows = self.respond_rows
        self.respond_at = np.flatnonzero(responders[:, rows])
        self.respond_to = np.flatnonzero(responders)
        self._keep = ~responders[:, rows]
        self._settle = _Settle(batch, rows)

    def next_prices(
        self, our_price: np.ndarray, rival_price: np.ndarray, walk_u: np.ndarray | None
    ) -> np.ndarray:
        """Next period's rival prices, (R, N), from this period's (R, N).

        ``walk_u`` holds the random walkers' uniforms (at :attr:`walk_at`), or is
        ``None`` for the expected path, where walkers stand still.
        """
        new = np.where(self.static, self.static_price, rival_price)
        if self.any_follow:
            matched = np.maximum(our_price * self.discount, self.cost)
            new = np.where(self.follow, matched, new)
        if walk_u is not None and len(self.walk_at):
            walk = rival_price.ravel()[self.walk_at] * np.exp(
                self.walk_volatility * ndtri(walk_u)
            )
            new.ravel()[self.walk_at] = walk
        if len(self.respond_rows):
            rows = self.respond_rows
            best = self._settle(our_price[rows], rival_price[:, rows], self._keep)
            new.ravel()[self.respond_to] = best.ravel()[self.respond_at]
        return new


class _Settle:
    """The best-response fixed point for some markets' rivals, markets last.

    The steps are :func:`best_response`'s; :func:`kernels.settle_best_response`
    runs them a market at a time.
    """

    def __init__(self, batch: MarketBatch, rows: np.ndarray) -> None:
        self.list_price = batch.list_price[rows]
        self.cost = np.ascontiguousarray(batch.rival_cost[rows].T) / self.list_price
        self.quality = np.ascontiguousarray(batch.rival_quality[rows].T)  # (R, M)
        self.weight = np.ascontiguousarray(batch.seg_weight[rows].T)  # (K, M)
        self.slope = np.ascontiguousarray(batch.seg_slope[rows].T)
        self.intercept = np.ascontiguousarray(batch.seg_intercept[rows].T)
        self.weight_slope = self.weight * self.slope

    def __call__(
        self, our_price: np.ndarray, rival_price: np.ndarray, keep: np.ndarray | None
    ) -> np.ndarray:
        """Rival prices (R, M) after the fixed-point steps; ``keep`` ones stay put."""
        if keep is None:
            keep = np.zeros(rival_price.shape, dtype=bool)
        return kernels.settle_best_response(
            self.list_price,
            self.cost,
            self.quality,
            self.weight,
            self.slope,
            self.intercept,
            self.weight_slope,
            np.ascontiguousarray(our_price, dtype=np.float64),
            np.ascontiguousarray(rival_price, dtype=np.float64),
            np.ascontiguousarray(keep),
            _BEST_RESPONSE_STEPS,
        )


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
    keep = None if responders is None else ~responders[rows].T
    best = _Settle(batch, rows)(our_price[rows], rival_price[rows].T, keep)
    return np.ascontiguousarray(best.T)
