"""The compiled kernels against the numpy formulas they stand for."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri

from rayprice.market import kernels
from rayprice.market.demand import binomial_quantile, poisson_quantile, segment_rates
from rayprice.market.families import load_family
from rayprice.market.rivals import best_response


def settle_reference(
    list_price: np.ndarray,
    cost: np.ndarray,
    quality: np.ndarray,
    weight: np.ndarray,
    slope: np.ndarray,
    intercept: np.ndarray,
    our_price: np.ndarray,
    rival_price: np.ndarray,
    keep: np.ndarray,
    steps: int,
) -> np.ndarray:
    """The best-response fixed point as whole-array steps, markets last."""
    u0 = intercept - slope * (our_price / list_price)  # (K, M)
    x = rival_price / list_price  # (R, M)
    x_kept = x
    for _ in range(steps):
        u = quality[:, None, :] - slope * x[:, None, :]  # (R, K, M)
        top = np.maximum(np.maximum(u.max(axis=0), u0), 0.0)
        e = np.exp(u - top)
        s = e / (np.exp(-top) + np.exp(u0 - top) + e.sum(axis=0))
        num = (weight * s).sum(axis=1)
        den = (weight * slope * s * (1 - s)).sum(axis=1)
        x = np.where(keep, x_kept, cost + num / np.maximum(den, 1e-12))
    return x * list_price


@pytest.mark.parametrize(("rivals", "segments"), [(1, 1), (2, 2), (3, 9)])
def test_settle_kernel_matches_the_array_steps(rivals: int, segments: int) -> None:
    rng = np.random.default_rng(rivals * 10 + segments)
    m = 500
    list_price = rng.uniform(5, 500, m)
    weight = np.ascontiguousarray(rng.dirichlet(np.ones(segments), m).T)
    slope = rng.uniform(1, 7, (segments, m))
    intercept = rng.uniform(0.5, 3.5, (segments, m))
    cost = rng.uniform(0.4, 0.7, (rivals, m))
    quality = rng.uniform(0.5, 2.5, (rivals, m))
    our_price = list_price * rng.uniform(0.3, 3, m)
    rival_price = list_price * rng.uniform(0.5, 1.5, (rivals, m))
    keep = rng.uniform(size=(rivals, m)) < 0.3
    got = kernels.settle_best_response(
        list_price,
        cost,
        quality,
        weight,
        slope,
        intercept,
        weight * slope,
        our_price,
        rival_price,
        keep,
        3,
    )
    want = settle_reference(
        list_price,
        cost,
        quality,
        weight,
        slope,
        intercept,
        our_price,
        rival_price,
        keep,
        3,
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_best_response_keeps_the_other_rivals_prices() -> None:
    batch = load_family("retail-v1").draw_suite(40, seed=2).batch
    responders = np.zeros((batch.n, batch.n_rivals), dtype=bool)
    responders[:, 0] = True
    best = best_response(batch, batch.list_price, batch.rival_initial_price, responders)
    np.testing.assert_allclose(best[:, 1], batch.rival_initial_price[:, 1], rtol=1e-15)
    assert not np.allclose(best[:, 0], batch.rival_initial_price[:, 0])


def test_mnl_kernel_matches_the_choice_shares() -> None:
    batch = load_family("retail-v1").draw_suite(300, seed=3).batch
    rng = np.random.default_rng(3)
    price = batch.list_price * rng.uniform(0.3, 3, batch.n)
    rival = batch.rival_initial_price * rng.uniform(
        0.5, 1.5, batch.rival_initial_price.shape
    )
    reference = rng.uniform(0.7, 1.3, batch.n)
    # A grid of one price per market takes the numpy path, a price per market the
    # kernel.
    grid = segment_rates(batch, price[:, None], rival, reference)[:, 0]
    np.testing.assert_allclose(
        segment_rates(batch, price, rival, reference), grid, rtol=1e-12
    )


@pytest.mark.parametrize("size", [*range(1, 20), 127, 128, 129, 300, 1000, 4097])
def test_numpy_sum_adds_in_numpys_order(size: int) -> None:
    rng = np.random.default_rng(size)
    a = rng.normal(size=size) * 10 ** rng.uniform(-6, 6, size)
    assert kernels.numpy_sum(a, 0, size) == a.sum()


def test_large_counts_round_the_normal_approximation() -> None:
    rng = np.random.default_rng(4)
    n = rng.integers(100, 1000, 5000).astype(float)
    q = rng.uniform(0.1, 0.9, 5000)
    u = rng.uniform(size=5000)
    qq = np.where(q > 0.5, 1 - q, q)
    uu = np.where(q > 0.5, 1 - u, u)
    var = n * qq * (1 - qq)
    assert (var > kernels.EXACT_VARIANCE).all()
    count = np.minimum(
        np.maximum(np.floor(n * qq + np.sqrt(var) * ndtri(uu) + 0.5), 0), n
    )
    np.testing.assert_array_equal(
        binomial_quantile(n, q, u), np.where(q > 0.5, n - count, count)
    )

    mean = rng.uniform(9.5, 500, 5000)
    want = np.maximum(np.floor(mean + np.sqrt(mean) * ndtri(u) + 0.5), 0.0)
    np.testing.assert_array_equal(poisson_quantile(mean, u), want)


def test_quantiles_keep_their_inputs_shape() -> None:
    u = np.full((3, 4), 0.5)
    assert binomial_quantile(np.full((3, 4), 20.0), np.full(4, 0.3), u).shape == (3, 4)
    assert poisson_quantile(np.full((3, 1), 2.0), u).shape == (3, 4)
