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


def encode_period(
    price: np.ndarray,
    units: np.ndarray,
    rival: np.ndarray,
    stock: np.ndarray,
    list_price: np.ndarray,
    market_size: np.ndarray,
    initial_stock: np.ndarray,
) -> np.ndarray:
    """One period of N markets as window rows, (N, 4): price, units, rival, stock.

    Args:
        price: our price (currency).
        units: units sold.
        rival: mean rival price (NaN without rivals).
        stock: stock before the period (inf if unlimited).
        list_price, market_size, initial_stock: the market's scales.
    """
    limited = np.isfinite(initial_stock)
    init = np.where(limited & (initial_stock > 0), initial_stock, 1.0)
    row = np.stack(
        [
            price / list_price - 1.0,
            units / market_size,
            np.where(np.isfinite(rival), rival / list_price - 1.0, 0.0),
            np.where(limited, stock / init, 1.0),
        ],
        axis=-1,
    )
    return _clip(row)


def _clip(x: np.ndarray) -> np.ndarray:
    """``np.clip(x, -10, 10)`` without its Python wrapper, which costs more here."""
    return np.minimum(np.maximum(x, -10.0), 10.0)


class History:
    """The scaled window of the last ``W`` periods of N markets, oldest first.

    Rows are made by :func:`encode_period` when a period is pushed; padding rows
    before a market's first period are zeros with ``filled = 0``.
    """

    def __init__(self, n: int, window: int) -> None:
        # The window sits at the front of an observation-sized row per market:
        # pushing is then one contiguous move for all markets, and the observation
        # one copy of the whole buffer.
        self._buffer = np.zeros(
            (n, window * len(WINDOW_FEATURES) + len(SCALAR_FEATURES)), dtype=np.float32
        )
        self.window = self._buffer[:, : window * len(WINDOW_FEATURES)].reshape(
            n, window, len(WINDOW_FEATURES)
        )
        self._age = ((window - np.arange(window)) / window).astype(np.float32)
        self.window[:, :, 5] = self._age

    @property
    def filled(self) -> np.ndarray:
        return self.window[:, :, 4] > 0

    @classmethod
    def empty(cls, n: int, window: int) -> History:
        return cls(n, window)

    @classmethod
    def from_records(
        cls,
        price: list[float] | np.ndarray,
        units: list[float] | np.ndarray,
        rival: list[float] | np.ndarray,
        stock: list[float] | np.ndarray,
        window: int,
        list_price: float,
        market_size: float,
        initial_stock: float,
    ) -> History:
        """One market's raw history (any length, oldest first) as its last ``window`` periods."""
        h = cls(1, window)
        m = min(len(price), window)
        if m:

            def last(values: list[float] | np.ndarray) -> np.ndarray:
                return np.asarray(values, dtype=np.float64)[-m:]

            rows = encode_period(
                last(price),
                last(units),
                last(rival),
                last(stock),
                np.asarray(list_price, dtype=np.float64),
                np.asarray(market_size, dtype=np.float64),
                np.asarray(initial_stock, dtype=np.float64),
            )
            h.window[0, window - m :, :4] = rows
            h.window[0, window - m :, 4] = 1.0
        return h

    def push(self, rows: np.ndarray) -> None:
        """Append one period (rows from :func:`encode_period`), dropping the oldest."""
        w = self.window
        features = w.shape[2]
        # Moving the whole buffer one row forward shifts every market's window; the
        # last row, which receives what followed it, is written next.
        flat = self._buffer.reshape(-1)
        flat[:-features] = flat[features:]
        w[:, :, 5] = self._age
        for j in range(4):  # a column at a time beats one strided (N, 4) copy
            w[:, -1, j] = rows[:, j]
        w[:, -1, 4] = 1.0

    def clear(self, mask: np.ndarray) -> None:
        self.window[mask, :, :5] = 0.0


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
        history: the last W periods, scaled.
        t: periods elapsed.
        horizon: season length in periods.
        stock: stock now (inf if unlimited).
        initial_stock: stock at the start (inf if unlimited).
        rival_now: mean rival price for the coming period (NaN if no rivals).
        unit_cost, list_price, market_size: the market's scales.
    """
    limited = np.isfinite(initial_stock)
    init = np.where(limited & (initial_stock > 0), initial_stock, 1.0)
    horizon = np.maximum(horizon, 1)
    days_left = np.maximum(horizon - t, 1)
    has_rivals = np.isfinite(rival_now)
    scalars = np.stack(
        [
            t / horizon,
            (horizon - t) / horizon,
            np.where(limited, stock / init, 1.0),
            np.where(
                limited, np.minimum(stock / (market_size * days_left), 10.0), 10.0
            ),
            unit_cost / list_price,
            limited.astype(np.float64),
            np.where(has_rivals, rival_now / list_price - 1.0, 0.0),
            has_rivals.astype(np.float64),
        ],
    )
    # The history's buffer holds the window in place; its tail is scratch space.
    obs = history._buffer.copy()
    obs[:, history.window[0].size :] = _clip(scalars).T
    return obs
