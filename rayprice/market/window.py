"""The observation: a window of a market's recent history, scaled, plus a few scalars.

This module holds the one function that turns a market's history into what a
policy sees, :func:`encode_observation`. The vector env, the single env, the
evaluation harness and the Serve app all call it, so a policy sees the same
numbers in training and in production for the same history.

Scaling makes one policy fit markets of any price level and size: prices are
divided by the list price, units by the market size (customers per period, a
seller's traffic), stock by the initial stock.

Window features, one row per past period (oldest first, most recent last):

==============  ============================================================
``price``       our price / list price - 1
``units``       units sold / market size
``rival``       mean rival price / list price - 1 (0 without rivals)
``stock``       stock before the period / initial stock (1 if unlimited)
``filled``      1 for a real period, 0 for padding before the first one
``age``         how many periods ago, / window length
==============  ============================================================

Scalars: ``time_elapsed``, ``time_left`` (fractions of the horizon),
``stock_left`` (/ initial stock), ``stock_cover`` (stock / (market size x days
left), capped at 10), ``cost_ratio`` (unit cost / list price), ``has_stock_limit``,
``rival_now`` (mean rival price now / list price - 1), ``has_rivals``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_FEATURES: tuple[str, ...] = ("price", "units", "rival", "stock", "filled", "age")
SCALAR_FEATURES: tuple[str, ...] = (
    "time_elapsed",
    "time_left",
    "stock_left",
    "stock_cover",
    "cost_ratio",
    "has_stock_limit",
    "rival_now",
    "has_rivals",
)
DEFAULT_WINDOW = 16


def observation_size(window: int) -> int:
    return window * len(WINDOW_FEATURES) + len(SCALAR_FEATURES)


def split_observation(obs: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) observations -> window (N, W, F) and scalars (N, S)."""
    n_window = window * len(WINDOW_FEATURES)
    return (
        obs[..., :n_window].reshape(*obs.shape[:-1], window, len(WINDOW_FEATURES)),
        obs[..., n_window:],
    )


@dataclass
class History:
    """The last ``W`` periods of N markets in raw units (currency, units sold).

    Columns are periods, oldest first; ``filled`` marks real periods. Prices of
    the rivals are their mean; NaN where a market has no rivals.
    """

    price: np.ndarray
    units: np.ndarray
    rival: np.ndarray
    stock: np.ndarray
    filled: np.ndarray

    @classmethod
    def empty(cls, n: int, window: int) -> History:
        zeros = np.zeros((n, window))
        return cls(zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(),
                   np.zeros((n, window), dtype=bool))

    @classmethod
    def from_records(
        cls,
        price: list[float] | np.ndarray,
        units: list[float] | np.ndarray,
        rival: list[float] | np.ndarray,
        stock: list[float] | np.ndarray,
        window: int,
    ) -> History:
        """One market's history (any length, oldest first) as the last ``window`` periods."""
        h = cls.empty(1, window)
        m = min(len(price), window)
        if m:
            for name, values in (("price", price), ("units", units), ("rival", rival),
                                 ("stock", stock)):
                getattr(h, name)[0, window - m:] = np.asarray(values, dtype=np.float64)[-m:]
            h.filled[0, window - m:] = True
        return h

    def push(self, price: np.ndarray, units: np.ndarray, rival: np.ndarray,
             stock: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Append one period to every market (or to ``rows``), dropping the oldest."""
        for name, value in (("price", price), ("units", units), ("rival", rival),
                            ("stock", stock), ("filled", True)):
            array = getattr(self, name)
            array[:, :-1] = array[:, 1:]
            array[:, -1] = value

    def clear(self, mask: np.ndarray) -> None:
        for name in ("price", "units", "rival", "stock"):
            getattr(self, name)[mask] = 0.0
        self.filled[mask] = False


def encode_observation(
    history: History,
    t: np.ndarray,
    horizon: np.ndarray,
    stock: np.ndarray,
    initial_stock: np.ndarray,
    rival_now: np.ndarray,
    unit_cost: np.ndarray,
    list_price: np.ndarray,
    market_size: np.ndarray,
) -> np.ndarray:
    """What a policy sees, shape (N, W * F + S), float32.

    Args:
        history: the last W periods.
        t: periods elapsed.
        horizon: season length in periods.
        stock: stock now (inf if unlimited).
        initial_stock: stock at the start (inf if unlimited).
        rival_now: mean rival price for the coming period (NaN if no rivals).
        unit_cost, list_price, market_size: the market's scales.
    """
    n, w = history.price.shape
    lp = list_price[:, None]
    filled = history.filled
    limited = np.isfinite(initial_stock)
    init = np.where(limited & (initial_stock > 0), initial_stock, 1.0)[:, None]
    rival = np.where(np.isfinite(history.rival), history.rival / lp - 1.0, 0.0)
    window = np.stack(
        [
            np.where(filled, history.price / lp - 1.0, 0.0),
            np.where(filled, history.units / market_size[:, None], 0.0),
            np.where(filled, rival, 0.0),
            np.where(filled & limited[:, None], history.stock / init, np.where(filled, 1.0, 0.0)),
            filled.astype(np.float64),
            np.broadcast_to((w - np.arange(w)) / w, (n, w)),
        ],
        axis=-1,
    )
    horizon = np.maximum(horizon, 1)
    days_left = np.maximum(horizon - t, 1)
    has_rivals = np.isfinite(rival_now)
    stock_left = np.where(limited, stock / init[:, 0], 1.0)
    cover = np.where(limited, np.minimum(stock / (market_size * days_left), 10.0), 10.0)
    scalars = np.stack(
        [
            t / horizon,
            (horizon - t) / horizon,
            stock_left,
            cover,
            unit_cost / list_price,
            limited.astype(np.float64),
            np.where(has_rivals, rival_now / list_price - 1.0, 0.0),
            has_rivals.astype(np.float64),
        ],
        axis=-1,
    )
    obs = np.concatenate([window.reshape(n, -1), scalars], axis=-1)
    return np.clip(obs, -10.0, 10.0).astype(np.float32)
