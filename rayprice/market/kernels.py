"""Compiled loops over markets for the simulator's hottest steps.

Each kernel computes, one market at a time, the numbers that a numpy function in
:mod:`rayprice.market.demand` or :mod:`rayprice.market.rivals` documents as array
steps, performing the same floating-point operations in the same order. Per step of
a few thousand markets, numpy spends most of its time launching small whole-array
operations and copying their results; a loop does the same arithmetic once, in
registers.

Kernels are compiled by numba on their first call and cached next to this module,
so a fresh process pays the compilation once per machine (a few seconds).
"""

from __future__ import annotations

import llvmlite.binding
import numpy as np
from numba import njit, types
from numba.extending import get_cython_function_address

# scipy's own ndtri, called through its C entry point, so that the normal
# approximation draws exactly the numbers scipy.special.ndtri gives. Bound by
# symbol name rather than as a ctypes pointer, so that compiled kernels can be
# cached: the name is registered again on every import.
llvmlite.binding.add_symbol(
    "rayprice_scipy_ndtri",
    get_cython_function_address("scipy.special.cython_special", "ndtri"),
)
# A cpdef function: the trailing int is Cython's skip-dispatch flag.
_ndtri_c = types.ExternalFunction(
    "rayprice_scipy_ndtri",
    types.float64(types.float64, types.intc),
)

# Above this variance a count is drawn from its normal approximation; below it the
# CDF is inverted exactly. 9 keeps the approximation's error in the pmf under ~1%.
EXACT_VARIANCE = 9.0
# The exact walk stops here: a count of variance 9 goes past 64 with odds ~1e-33.
MAX_EXACT_STEPS = 64


@njit(cache=True, fastmath=False)
def ndtri(p: float) -> float:
    """``scipy.special.ndtri(p)``: the standard normal quantile at ``p``."""
    return _ndtri_c(p, 0)  # type: ignore[call-overload]


@njit(cache=True, fastmath=False, inline="always")
def numpy_sum(a: np.ndarray, start: int, stop: int) -> float:
    """``a[start:stop].sum()`` with numpy's own order of additions.

    numpy adds up to 128 terms in a block (:func:`_block_sum`) and splits longer
    runs in two at a multiple of 8, adding the halves' sums; results match it bit
    for bit.
    """
    if stop - start <= 128:
        return _block_sum(a, start, stop)
    return _split_sum(a, start, stop)


@njit(cache=True, fastmath=False)
def _split_sum(a: np.ndarray, start: int, stop: int) -> float:
    """numpy's sum of more than 128 terms, its recursive halving walked by a stack.

    A stack rather than recursion because numba's cache cannot reload recursive
    functions.
    """
    # Ranges still to sum, each with how many of its halves have been pushed, and
    # the sums of finished ranges, left before right.
    lo = np.empty(64, np.int64)
    hi = np.empty(64, np.int64)
    pushed = np.empty(64, np.int64)
    sums = np.empty(64)
    lo[0], hi[0], pushed[0] = start, stop, 0
    depth, done = 1, 0
    while depth:
        top = depth - 1
        n = hi[top] - lo[top]
        half = n // 2
        half -= half % 8
        if n <= 128:
            sums[done] = _block_sum(a, lo[top], hi[top])
            done += 1
            depth -= 1
        elif pushed[top] < 2:
            first = pushed[top] == 0
            lo[depth] = lo[top] if first else lo[top] + half
            hi[depth] = lo[top] + half if first else hi[top]
            pushed[depth] = 0
            pushed[top] += 1
            depth += 1
        else:
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            depth -= 1
    return sums[0]


@njit(cache=True, fastmath=False, inline="always")
def _block_sum(a: np.ndarray, start: int, stop: int) -> float:
    """numpy's sum of at most 128 terms: in order below 8, else eight running sums."""
    n = stop - start
    if n < 8:
        total = 0.0
        for i in range(start, stop):
            total += a[i]
        return total
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = start + 8
    end = start + n - n % 8
    while i < end:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < stop:
        total += a[i]
        i += 1
    return total


@njit(cache=True, fastmath=False, inline="always")
def _exp_below(value: float, top: float) -> float:
    """``np.exp(value - top)``, skipping the exponential where it is exactly 1.

    A softmax shifted by its largest utility has one such term per choice.
    """
    gap = value - top
    return 1.0 if gap == 0.0 else np.exp(gap)


@njit(cache=True, fastmath=False)
def mnl_share(
    intercept: np.ndarray,
    slope: np.ndarray,
    x: np.ndarray,
    reference_utility: np.ndarray,
    rival_quality: np.ndarray,
    rival_price: np.ndarray,
    list_price: np.ndarray,
) -> np.ndarray:
    """Share of each segment buying from us, (K, N), markets on the last axis.

    Mirrors ``our_mnl_share(u, rival_utilities(rival_quality, slope, rival_x))``
    with ``u = intercept - slope * x + reference_utility`` and
    ``rival_x = rival_price / list_price``.

    Args:
        intercept, slope: segment utilities, (K, N).
        x: our price over the list price, (N,).
        reference_utility: :func:`~rayprice.market.demand.reference_term`, (N,).
        rival_quality, rival_price: (R, N), prices in currency.
        list_price: (N,).
    """
    n_seg, n = intercept.shape
    n_riv = rival_quality.shape[0]
    out = np.empty((n_seg, n))
    rival_x = np.empty(n_riv)
    e = np.empty(n_riv + 2)
    for i in range(n):
        for r in range(n_riv):
            rival_x[r] = rival_price[r, i] / list_price[i]
        for k in range(n_seg):
            b = slope[k, i]
            # Alternatives in numpy's order: ours, the rivals, not buying.
            e[0] = intercept[k, i] - b * x[i] + reference_utility[i]
            for r in range(n_riv):
                e[r + 1] = rival_quality[r, i] - rival_x[r] * b
            e[n_riv + 1] = 0.0
            top = e[0]
            for j in range(1, n_riv + 2):
                top = max(top, e[j])
            total = 0.0
            for j in range(n_riv + 2):
                e[j] = _exp_below(e[j], top)
                total += e[j]
            out[k, i] = e[0] / total
    return out


@njit(cache=True, fastmath=False)
def settle_best_response(
    list_price: np.ndarray,
    cost: np.ndarray,
    quality: np.ndarray,
    weight: np.ndarray,
    slope: np.ndarray,
    intercept: np.ndarray,
    weight_slope: np.ndarray,
    our_price: np.ndarray,
    rival_price: np.ndarray,
    keep: np.ndarray,
    steps: int,
) -> np.ndarray:
    """Rival prices (R, M) after ``steps`` logit best-response steps.

    The fixed point of :func:`rivals.best_response` (``settle_reference`` in the
    tests is its whole-array form): from ``x = rival_price / list_price``
    each responding rival moves to ``c + sum_k w_k s_k / sum_k w_k b_k s_k (1 -
    s_k)`` against the others' previous prices, where ``s_k`` is its logit share
    of segment ``k`` among our offer, the rivals and not buying. Rivals where
    ``keep`` holds stay put.

    Args:
        list_price, our_price: (M,).
        cost: rival unit cost over the list price, (R, M).
        quality, rival_price, keep: (R, M).
        weight, slope, intercept, weight_slope: segments, (K, M).
    """
    n_riv, m = rival_price.shape
    n_seg = weight.shape[0]
    out = np.empty((n_riv, m))
    x = np.empty(n_riv)
    x_new = np.empty(n_riv)
    u = np.empty((n_riv, n_seg))
    top = np.empty(n_seg)
    outside = np.empty(n_seg)
    num_terms = np.empty(n_seg)
    den_terms = np.empty(n_seg)
    for i in range(m):
        lp = list_price[i]
        for r in range(n_riv):
            x[r] = rival_price[r, i] / lp
        for _ in range(steps):
            # The largest utility per segment, ours and not buying included.
            for k in range(n_seg):
                u0 = intercept[k, i] - slope[k, i] * (our_price[i] / lp)
                best = quality[0, i] - slope[k, i] * x[0]
                u[0, k] = best
                for r in range(1, n_riv):
                    u[r, k] = quality[r, i] - slope[k, i] * x[r]
                    best = max(best, u[r, k])
                best = max(best, u0)
                top[k] = max(best, 0.0)
                outside[k] = _exp_below(0.0, top[k]) + _exp_below(u0, top[k])
            for r in range(n_riv):
                for k in range(n_seg):
                    u[r, k] = _exp_below(u[r, k], top[k])
            # Each rival's shares, then its first-order condition's fixed point.
            for r in range(n_riv):
                for k in range(n_seg):
                    denom = outside[k]
                    others = 0.0
                    for j in range(n_riv):
                        others += u[j, k]
                    s = u[r, k] / (denom + others)
                    num_terms[k] = weight[k, i] * s
                    den_terms[k] = weight_slope[k, i] * s * (1 - s)
                num = numpy_sum(num_terms, 0, n_seg)
                den = numpy_sum(den_terms, 0, n_seg)
                x_new[r] = cost[r, i] + num / max(den, 1e-12)
            for r in range(n_riv):
                if not keep[r, i]:
                    x[r] = x_new[r]
        for r in range(n_riv):
            out[r, i] = x[r] * lp
    return out


@njit(cache=True, fastmath=False)
def binomial_quantile(n: np.ndarray, q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest k with P(Binomial(n, q) <= k) >= u, over flat arrays.

    Mirrors the description in ``demand.binomial_quantile``: above ``1/2`` the
    non-buyers are counted at ``1 - u``; a count of variance at most
    :data:`EXACT_VARIANCE` walks the CDF from ``pmf(0) = (1 - q) ** n`` by the
    ratio ``pmf(k) / pmf(k - 1) = max(n - k + 1, 0) / k * q / (1 - q)``, a larger
    one rounds its normal approximation.
    """
    out = np.empty(n.size)
    for i in range(n.size):
        flip = q[i] > 0.5
        qq = 1.0 - q[i] if flip else q[i]
        uu = 1.0 - u[i] if flip else u[i]
        var = n[i] * qq * (1.0 - qq)
        if var <= EXACT_VARIANCE:
            odds = qq / (1.0 - qq) if qq < 1.0 else 0.0
            pmf = (1.0 - qq) ** n[i]
            cdf = pmf
            count = 0.0
            for step in range(1, MAX_EXACT_STEPS + 1):
                if not uu > cdf:
                    break
                count += 1.0
                k = float(step)
                pmf *= max(n[i] - k + 1.0, 0.0) / k * odds
                cdf += pmf
            count = min(count, n[i])
        else:
            draw = np.floor(n[i] * qq + np.sqrt(var) * ndtri(uu) + 0.5)
            count = min(max(draw, 0.0), n[i])
        out[i] = n[i] - count if flip else count
    return out


@njit(cache=True, fastmath=False)
def poisson_quantile(mean: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Smallest k with P(Poisson(mean) <= k) >= u, over flat arrays.

    Mirrors the description in ``demand.poisson_quantile``: a mean of at most
    :data:`EXACT_VARIANCE` walks the CDF from ``exp(-mean)`` by the ratio
    ``mean / k``, a larger one rounds its normal approximation.
    """
    out = np.empty(mean.size)
    for i in range(mean.size):
        m = max(mean[i], 0.0)
        if m <= EXACT_VARIANCE:
            pmf = np.exp(-m)
            cdf = pmf
            count = 0.0
            for step in range(1, MAX_EXACT_STEPS + 1):
                if not u[i] > cdf:
                    break
                count += 1.0
                pmf *= m / float(step)
                cdf += pmf
            out[i] = count
        else:
            out[i] = max(np.floor(m + np.sqrt(m) * ndtri(u[i]) + 0.5), 0.0)
    return out
