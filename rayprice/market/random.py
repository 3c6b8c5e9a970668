"""Counter-based random numbers: every draw is a pure function of its coordinates.

A market's randomness is addressed by ``(market seed, stream, counter)``: the
uniform that decides how many customers of segment ``k`` buy on day ``t`` is
``uniforms(seed, DEMAND, t, K)[k]``, whatever else runs beside it. This is what
makes two pricers meet the same customers (common random numbers), makes
sub-env ``i`` of a vector env walk exactly the path of a single env with the
same seed, and keeps a market's draws independent of how many markets share its
batch. The mixer is SplitMix64's finaliser, applied to numpy ``uint64`` arrays.
"""

from __future__ import annotations

import numpy as np

# Streams: one per kind of draw, so that adding draws of one kind never shifts
# another kind's numbers.
DEMAND = 1
RIVALS = 2
PRIOR = 3
EPISODE = 4
SUITE = 5
PRICER = 6

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_STREAM = np.uint64(0xD6E8FEB86659FD93)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection on uint64 that scatters nearby inputs."""
    x = x ^ (x >> _S30)
    # In place from here on: the first line made a new array, and this runs on
    # every draw of every step.
    x *= _MUL1
    x ^= x >> _S27
    x *= _MUL2
    x ^= x >> _S31
    return x


def derive_seeds(
    seeds: np.ndarray | int, stream: int, counter: np.ndarray | int
) -> np.ndarray:
    """New uint64 seeds from parent seeds, e.g. the market of episode ``counter``."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    counter = np.asarray(counter, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = mix64(seeds * _GOLDEN + np.uint64(stream) * _STREAM) + counter * _GOLDEN
        return mix64(x)


def uniforms(
    seeds: np.ndarray, stream: int, counter: np.ndarray | int, width: int
) -> np.ndarray:
    """Uniforms in (0, 1), shape ``(len(seeds), width)``.

    Args:
        seeds: uint64 seed per market.
        stream: which kind of draw (a module constant).
        counter: the period (or draw index), scalar or per market.
        width: how many numbers each market gets at this coordinate.
    """
    counter = np.asarray(counter, dtype=np.uint64).reshape(-1, 1)
    lanes = np.arange(width, dtype=np.uint64)
    with np.errstate(over="ignore"):
        keys = stream_keys(seeds, stream)
        return uniforms_at(keys[:, None], counter, np.uint64(width), lanes)


def stream_keys(seeds: np.ndarray, stream: int) -> np.ndarray:
    """Each seed's key for one stream: the part of a draw that no counter changes.

    A simulator computes it once per market instead of once per period.
    """
    seeds = np.asarray(seeds, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(seeds * _GOLDEN + np.uint64(stream) * _STREAM)


def uniforms_at(
    keys: np.ndarray,
    counter: np.ndarray,
    width: np.ndarray | np.uint64,
    lane: np.ndarray,
) -> np.ndarray:
    """``uniforms(seeds, stream, counter, width)[:, lane]`` from the stream's keys.

    All arguments are uint64 arrays that broadcast together, which lets one call
    draw for several streams and widths at once. Array arithmetic wraps silently,
    as the mixer needs.
    """
    x = mix64(keys + (counter * width + lane) * _GOLDEN)
    return ((x >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def seeds_from(seed: int, n: int, stream: int = SUITE) -> np.ndarray:
    """``n`` market seeds drawn from one integer seed."""
    if seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed}")
    return derive_seeds(
        np.array(seed, dtype=np.uint64), stream, np.arange(n, dtype=np.uint64)
    )
