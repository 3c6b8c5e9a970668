"""Particle posteriors over a family's own parameters, for any family.

A posterior over market ``i`` is a cloud of P *particle markets*: markets drawn
from a prior over the family's hidden parameters and made to agree with what the
seller knows (list price, unit cost, traffic, stock policy). Each particle carries
a log-weight; after a period, the weight of every particle grows by the
log-likelihood of the units sold at that particle's demand. Particles track their
own hidden state (the customers' reference price), and all of them see the
rivals' observed prices.

Three priors share this machinery and differ only in where particles come from:

- :class:`FamilyPrior` draws from the family itself (the true prior: the Bayes
  reference), or from :func:`flat_family`, the family with every prior widened
  (a learner that knows only the parameters' rough meaning).
- :class:`PooledPrior` draws from a kernel density over parameters estimated on
  markets seen before (meta Thompson sampling).

Sales likelihoods are exact for one segment (Binomial or Poisson; a sold-out
period counts as "at least this many"); with several segments the total count is
given its normal approximation with a continuity correction.

When the weights of a market collapse (effective sample size under half of P),
its particles are resampled and moved by a Liu-West kernel: shrunk toward the
weighted mean and jittered, which keeps the cloud's mean and spread while
replacing duplicates with fresh nearby values.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtrc, expit, log_ndtr, logit, ndtri, pdtrc

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.demand import customers, is_binomial, segment_rates
from rayprice.market.families import Family, FamilySpec, Prior
from rayprice.pricers.base import KNOWN_PATHS, MarketView, Sales

logger = logging.getLogger(__name__)

# Widening of every prior in the flat prior: ranges grow this many times about
# their centre (in log for log-scaled priors), Beta priors become uniform.
FLAT_WIDENING = 3.0
# Liu-West shrinkage: particles move to a * theta + (1 - a) * mean + noise with
# variance (1 - a^2) * var, which keeps the cloud's mean and variance.
_SHRINK = 0.97
_NEG_INF_FLOOR = -1e30
# Sub-streams of a pricer's seed (counters on stream PRICER): a pricer's own
# draws use SAMPLE_STREAM; particle draws use a block far above every other.
SAMPLE_STREAM = 1
_RESAMPLE = 2
_JITTER = 3
_PARTICLE_COUNTER = 1 << 20


@dataclass(frozen=True)
class FreeParameter:
    """One hidden parameter the posterior learns, with how to move it.

    Attributes:
        path: the spec path (e.g. ``demand.segments.0.price_sensitivity``).
        transform: ``"raw"``, ``"log"`` or ``"logit"`` (of ``(v - low) / (high -
            low)``): the space in which particles are jittered.
        low, high: the support (already scaled where the prior is), or +-inf.
        scale: the prior's ``scale`` (values are multiples of that market value).
    """

    path: str
    transform: str
    low: float
    high: float
    scale: str | None


def free_parameters(spec: FamilySpec) -> list[FreeParameter]:
    """The hidden, continuous parameters a family's prior draws."""
    out: list[FreeParameter] = []
    for key, prior in spec.priors.items():
        paths = [p.strip() for p in key.split(",")]
        for index, path in enumerate(paths):
            if path in KNOWN_PATHS or prior.dist in ("fixed", "choice"):
                continue
            out.append(_free_parameter(path, prior, index))
    return out


def _free_parameter(path: str, prior: Prior, index: int) -> FreeParameter:
    inf = math.inf
    if prior.dist in ("uniform", "loguniform"):
        assert prior.low is not None and prior.high is not None
        space = "raw" if prior.dist == "uniform" else "log"
        return FreeParameter(path, space, prior.low, prior.high, prior.scale)
    if prior.dist == "lognormal":
        return FreeParameter(path, "log", 0.0, inf, prior.scale)
    if prior.dist == "beta":
        low = 0.0 if prior.low is None else prior.low
        high = 1.0 if prior.high is None else prior.high
        return FreeParameter(path, "logit", low, high, prior.scale)
    if prior.dist == "mvnormal" and prior.log and prior.log[index]:
        return FreeParameter(path, "log", 0.0, inf, prior.scale)
    low, high = (-inf, inf) if prior.clip is None else prior.clip
    return FreeParameter(path, "raw", low, high, prior.scale)


def flat_family(family: Family, widening: float = FLAT_WIDENING) -> Family:
    """The family with every hidden prior widened: a nearly uninformative prior.

    Uniform ranges grow ``widening`` times about their centre, staying on the
    same side of zero (a positive parameter stays positive) and inside [0, 1]
    for parameters that live there; log-uniform ranges grow in log; Beta priors
    become uniform on their support; normal and log-normal spreads grow
    ``widening`` times; choices become equally likely. Known parameters keep
    their priors.
    """
    spec = family.spec
    priors = {key: _widen(key, prior, widening) for key, prior in spec.priors.items()}
    flat_spec = spec.model_copy(update={"priors": priors})
    return Family(flat_spec, builtin=False)


def _widen(key: str, prior: Prior, f: float) -> Prior:
    if key in KNOWN_PATHS:
        return prior
    update: dict[str, object] = {}
    if prior.dist == "uniform":
        low, high = float(prior.low), float(prior.high)  # type: ignore[arg-type]
        mid, half = (low + high) / 2, (high - low) / 2
        new_low, new_high = mid - f * half, mid + f * half
        if low >= 0:
            new_low = max(new_low, low / f) if low > 0 else max(new_low, 0.0)
        if low >= 0 and high <= 1:
            new_high = min(new_high, 0.99)
        update = {"low": new_low, "high": new_high}
    elif prior.dist == "loguniform":
        lo, hi = math.log(prior.low), math.log(prior.high)  # type: ignore[arg-type]
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        update = {"low": math.exp(mid - f * half), "high": math.exp(mid + f * half)}
    elif prior.dist == "beta":
        update = {"a": 1.0, "b": 1.0}
    elif prior.dist == "normal":
        update = {"std": float(prior.std) * f}  # type: ignore[arg-type]
    elif prior.dist == "lognormal":
        update = {"sigma": float(prior.sigma) * f}  # type: ignore[arg-type]
    elif prior.dist == "choice":
        update = {"weights": None}
    elif prior.dist == "mvnormal":
        cov = np.asarray(prior.cov, dtype=np.float64) * f * f
        update = {"cov": cov.tolist()}
    return prior.model_copy(update=update)


class ParticlePrior:
    """Where particle markets come from."""

    family: Family

    def draw(self, seeds: np.ndarray) -> MarketBatch:
        """One particle market per seed, hidden parameters drawn from the prior."""
        raise NotImplementedError

    def parameters(self) -> list[FreeParameter]:
        """The hidden continuous parameters, with their supports."""
        raise NotImplementedError

    def describe(self) -> dict[str, object]:
        raise NotImplementedError


class FamilyPrior(ParticlePrior):
    """Particles drawn from a family (the true prior, or :func:`flat_family`).

    Args:
        family: the family to draw from.
        label: how the prior is named in outputs (``"true"``, ``"flat"``).
    """

    def __init__(self, family: Family, label: str) -> None:
        self.family = family
        self.label = label
        self._parameters = free_parameters(family.spec)

    def draw(self, seeds: np.ndarray) -> MarketBatch:
        return self.family.sample(seeds)

    def parameters(self) -> list[FreeParameter]:
        return self._parameters

    def describe(self) -> dict[str, object]:
        return {"prior": self.label, "family": self.family.name}


class PooledPrior(ParticlePrior):
    """A kernel density over parameters of markets seen before.

    Each particle copies the parameters of a random past market (its posterior
    mean) and adds Gaussian noise of one kernel bandwidth per parameter, in the
    parameter's jitter space; a share of particles comes from the ``fallback``
    prior so that a market unlike every past one is still covered.

    Args:
        base: the prior whose draws supply structure, discrete parameters and
            the fallback share (usually the flat prior).
        pool: past markets' parameters in jitter space, (M, D), columns in the
            order of ``base.parameters()``.
        bandwidth: kernel standard deviation per parameter, (D,).
        fallback_share: share of particles drawn from ``base`` unchanged.
    """

    def __init__(
        self,
        base: FamilyPrior,
        pool: np.ndarray,
        bandwidth: np.ndarray,
        fallback_share: float = 0.1,
    ) -> None:
        self.family = base.family
        self.base = base
        self.pool = pool
        self.bandwidth = bandwidth
        self.fallback_share = fallback_share

    def draw(self, seeds: np.ndarray) -> MarketBatch:
        batch = self.base.draw(seeds)
        params = self.base.parameters()
        u = rnd.uniforms(seeds, rnd.PRICER, _PARTICLE_COUNTER - 1, len(params) + 2)
        row = np.minimum((u[:, 0] * len(self.pool)).astype(int), len(self.pool) - 1)
        keep_base = u[:, 1] < self.fallback_share
        z = _normal(u[:, 2:])
        values = self.pool[row] + z * self.bandwidth[None, :]
        for d, param in enumerate(params):
            array, column = batch.array_for_path(param.path)
            current = array if column is None else array[:, column]
            scale = _scale_of(batch, param)
            drawn = _from_space(param, values[:, d], scale)
            current[:] = np.where(keep_base, current, drawn)
        _normalise_weights(batch)
        return batch

    def parameters(self) -> list[FreeParameter]:
        return self.base.parameters()

    def describe(self) -> dict[str, object]:
        return {
            "prior": "pooled",
            "family": self.family.name,
            "past_markets": int(len(self.pool)),
            "fallback_share": self.fallback_share,
        }


class ParticlePosterior:
    """P weighted particle markets per market, updated on sales.

    Args:
        prior: where particles come from.
        view: the public facts of the N markets.
        seeds: one seed per market (the pricer's).
        n_particles: particles per market.
    """

    def __init__(
        self,
        prior: ParticlePrior,
        view: MarketView,
        seeds: np.ndarray,
        n_particles: int,
    ) -> None:
        if n_particles < 2:
            raise ValueError(f"n_particles: need at least 2, got {n_particles}")
        self.prior = prior
        self.view = view
        self.seeds = np.asarray(seeds, dtype=np.uint64)
        self.n = view.n
        self.p = n_particles
        self.owner = np.repeat(np.arange(self.n), n_particles)
        slot = np.tile(np.arange(n_particles, dtype=np.uint64), self.n)
        particle_seeds = rnd.derive_seeds(
            self.seeds[self.owner], rnd.PRICER, slot + np.uint64(_PARTICLE_COUNTER)
        )
        batch = prior.draw(particle_seeds)
        _rescale_to_known(batch, view, self.owner, prior.parameters())
        view.impose_on(batch, self.owner)
        self.batch = batch
        self._resample_seeds = rnd.derive_seeds(self.seeds, rnd.PRICER, _RESAMPLE)
        self._jitter_seeds = rnd.derive_seeds(self.seeds, rnd.PRICER, _JITTER)
        self.log_weight = np.zeros((self.n, n_particles))
        self.reference = np.ones(self.n * n_particles)
        self.resamples = 0

    # The posterior.

    @property
    def weights(self) -> np.ndarray:
        """Normalised weights, (N, P)."""
        w = np.exp(self.log_weight - self.log_weight.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    def effective_size(self) -> np.ndarray:
        w = self.weights
        return 1.0 / (w * w).sum(axis=1)

    def values(self, path: str) -> np.ndarray:
        """A parameter's value in every particle, (N, P)."""
        array, column = self.batch.array_for_path(path)
        flat = array if column is None else array[:, column]
        return flat.reshape(self.n, self.p)

    def mean(self, path: str) -> np.ndarray:
        """Posterior mean of a parameter per market, (N,)."""
        return (self.weights * self.values(path)).sum(axis=1)

    def std(self, path: str) -> np.ndarray:
        """Posterior standard deviation of a parameter per market, (N,)."""
        w, v = self.weights, self.values(path)
        m = (w * v).sum(axis=1, keepdims=True)
        return np.sqrt(np.maximum((w * (v - m) ** 2).sum(axis=1), 0.0))

    def sample(self, u: np.ndarray) -> np.ndarray:
        """One particle per market at uniforms ``u`` (N,): flat particle indices."""
        cdf = np.cumsum(self.weights, axis=1)
        pick = (cdf < u[:, None]).sum(axis=1)
        pick = np.minimum(pick, self.p - 1)
        return np.arange(self.n) * self.p + pick

    # Learning from sales.

    def update(self, sales: Sales) -> None:
        """Weigh every particle by the likelihood of the period's units sold."""
        b = self.batch
        o = self.owner
        rival = sales.rival_price[o] if b.has_rivals else None
        price = sales.price[o]
        rates = segment_rates(b, price, rival, self.reference)
        n = customers(b, sales.t[o])
        k = sales.units_sold[o]
        censored = sales.sold_out[o] & (k > 0)
        ll = _log_likelihood(b, rates, n, k, censored)
        self.log_weight += np.maximum(ll, _NEG_INF_FLOOR).reshape(self.n, self.p)
        self.log_weight -= self.log_weight.max(axis=1, keepdims=True)

        # Each particle's customers remember our price with its own memory.
        if b.has_reference:
            x = price / b.list_price
            self.reference = b.ref_memory * self.reference + (1 - b.ref_memory) * x

        lost = self.log_weight.max(axis=1) <= _NEG_INF_FLOOR / 2
        if np.any(lost):
            logger.warning(
                "%d market(s) sold what no particle allows; their posterior restarts "
                "from equal weights",
                int(lost.sum()),
            )
            self.log_weight[lost] = 0.0
        self._rejuvenate(sales.t)

    def _rejuvenate(self, t: np.ndarray) -> None:
        """Resample and move the particles of markets whose weights collapsed."""
        ess = self.effective_size()
        due = ess < self.p / 2
        if not np.any(due):
            return
        self.resamples += int(due.sum())
        rows = np.flatnonzero(due)
        w = self.weights[rows]

        # Systematic resampling on the pricer's own stream.
        u0 = rnd.uniforms(self._resample_seeds[rows], rnd.PRICER, t[rows], 1)
        grid = (np.arange(self.p)[None, :] + u0) / self.p
        cdf = np.cumsum(w, axis=1)
        cdf[:, -1] = 1.0
        # One sorted search for all markets: row r's cdf is shifted to [2r, 2r + 1].
        shift = 2.0 * np.arange(len(rows))[:, None]
        flat = np.searchsorted((cdf + shift).reshape(-1), (grid + shift).reshape(-1))
        pick = np.minimum(
            flat.reshape(len(rows), self.p) - np.arange(len(rows))[:, None] * self.p,
            self.p - 1,
        )
        src = (rows[:, None] * self.p + pick).reshape(-1)
        dst = (rows[:, None] * self.p + np.arange(self.p)[None, :]).reshape(-1)
        self._copy_particles(src, dst)
        self.log_weight[rows] = 0.0

        # Move: shrink toward the mean and jitter, in each parameter's own space.
        params = self.prior.parameters()
        if not params:
            return
        z = _normal(
            rnd.uniforms(
                self._jitter_seeds[rows], rnd.PRICER, t[rows], self.p * len(params)
            )
        ).reshape(len(rows), self.p, len(params))
        h = math.sqrt(1.0 - _SHRINK**2)
        for d, param in enumerate(params):
            array, column = self.batch.array_for_path(param.path)
            flat = array if column is None else array[:, column]
            scale = _scale_of(self.batch, param)[dst]
            theta = _to_space(param, flat[dst], scale).reshape(len(rows), self.p)
            mean = theta.mean(axis=1, keepdims=True)
            sd = theta.std(axis=1, keepdims=True)
            moved = _SHRINK * theta + (1 - _SHRINK) * mean + h * sd * z[:, :, d]
            flat[dst] = _from_space(param, moved.reshape(-1), scale)
        _normalise_weights(self.batch, dst)

    def _copy_particles(self, src: np.ndarray, dst: np.ndarray) -> None:
        b = self.batch
        for value in vars(b).values():
            if isinstance(value, np.ndarray) and value.shape[:1] == (b.n,):
                value[dst] = value[src]
        self.reference[dst] = self.reference[src]

    def parameter_matrix(self) -> np.ndarray:
        """Posterior means of the free parameters in jitter space, (N, D)."""
        params = self.prior.parameters()
        w = self.weights.reshape(-1)
        out = np.zeros((self.n, len(params)))
        for d, param in enumerate(params):
            array, column = self.batch.array_for_path(param.path)
            flat = array if column is None else array[:, column]
            scale = _scale_of(self.batch, param)
            theta = _to_space(param, flat, scale) * w
            out[:, d] = theta.reshape(self.n, self.p).sum(axis=1)
        return out


def _log_likelihood(
    batch: MarketBatch,
    rates: np.ndarray,
    n: np.ndarray,
    k: np.ndarray,
    censored: np.ndarray,
) -> np.ndarray:
    """Log-probability of ``k`` units sold (``>= k`` where censored), per particle.

    Terms that do not depend on the particle (binomial coefficients, log k!) are
    left out: they cancel when weights are normalised.
    """
    binomial = is_binomial(batch)
    with np.errstate(divide="ignore", invalid="ignore"):
        if rates.shape[-1] == 1:
            r, m = rates[:, 0], n[:, 0]
            if binomial:
                q = np.clip(r, 1e-12, 1 - 1e-12)
                out = k * np.log(q) + (m - k) * np.log1p(-q)
                out = np.where(k > m, -np.inf, out)
            else:
                lam = np.maximum(r * m, 1e-12)
                out = k * np.log(lam) - lam
            # Sold out: the tail P(demand >= k), computed only where needed.
            if np.any(censored):
                c = censored
                below = k[c] - 1
                if binomial:
                    out[c] = np.log(bdtrc(below, m[c], q[c]))
                else:
                    out[c] = np.log(pdtrc(below, lam[c]))
            return out

        # Several segments: the total count's normal approximation.
        mean = (rates * n).sum(axis=-1)
        if binomial:
            var = (n * rates * (1 - rates)).sum(axis=-1)
        else:
            var = mean.copy()
        sd = np.sqrt(np.maximum(var, 0.25))
        hi = (k + 0.5 - mean) / sd
        lo = (k - 0.5 - mean) / sd
        # Work on the side of the mean where the normal tail is accurate.
        flip = lo > 0
        a = np.where(flip, -hi, lo)
        b = np.where(flip, -lo, hi)
        lb, la = log_ndtr(b), log_ndtr(a)
        exact = lb + np.log1p(-np.exp(np.minimum(la - lb, -1e-12)))
        tail = log_ndtr((mean - k + 0.5) / sd)
        return np.where(censored, tail, exact)


def _normal(u: np.ndarray) -> np.ndarray:
    return ndtri(u)


def _scale_of(batch: MarketBatch, param: FreeParameter) -> np.ndarray:
    if param.scale == "list_price":
        return batch.list_price
    if param.scale == "market_size":
        return batch.market_size
    return np.ones(batch.n)


def _to_space(param: FreeParameter, value: np.ndarray, scale: np.ndarray) -> np.ndarray:
    v = value / scale
    if param.transform == "log":
        return np.log(np.maximum(v, 1e-300))
    if param.transform == "logit":
        frac = (v - param.low) / (param.high - param.low)
        return logit(np.clip(frac, 1e-9, 1 - 1e-9))
    return v


def _from_space(
    param: FreeParameter, theta: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    if param.transform == "log":
        v = np.exp(np.clip(theta, -700, 700))
    elif param.transform == "logit":
        v = param.low + (param.high - param.low) * expit(theta)
    else:
        v = theta
    return np.clip(v, param.low, param.high) * scale


def _rescale_to_known(
    batch: MarketBatch, view: MarketView, owner: np.ndarray, params: list[FreeParameter]
) -> None:
    """Keep scaled parameters in proportion when particles take the known scales."""
    for param in params:
        if param.scale is None:
            continue
        array, column = batch.array_for_path(param.path)
        flat = array if column is None else array[:, column]
        known = view.list_price if param.scale == "list_price" else view.market_size
        flat *= known[owner] / _scale_of(batch, param)


def _normalise_weights(batch: MarketBatch, rows: np.ndarray | None = None) -> None:
    if batch.n_segments < 2:
        return
    w = batch.seg_weight
    if rows is None:
        w /= w.sum(axis=1, keepdims=True)
    else:
        w[rows] = w[rows] / w[rows].sum(axis=1, keepdims=True)
