"""Market families (priors over markets) and their held-out suites.

A family is a base market plus priors over some of its parameters, or a list of
markets to draw among (a calibrated family lists its products). It is named and
versioned: ``logit-v1``; a change of dynamics makes ``logit-v2``. Its held-out
suite, ``logit-heldout-v1``, is a fixed set of markets drawn with the family's own
held-out seed, or listed explicitly.

A family file (JSON or YAML) looks like::

    name: mylogit-v1
    description: one product, logit demand, unknown sensitivity
    base: {demand: {model: logit, market_size: 100}, unit_cost: 0.5}
    priors:
      demand.segments.0.price_sensitivity: {dist: uniform, low: 2, high: 6}
      list_price: {dist: loguniform, low: 5, high: 500}
      unit_cost: {dist: uniform, low: 0.3, high: 0.6, scale: list_price}
    heldout: {seed: 20261203, size: 200}

Distributions: ``fixed`` (value), ``uniform`` / ``loguniform`` (low, high),
``normal`` (mean, std), ``lognormal`` (mu, sigma: of the log), ``beta`` (a, b,
low=0, high=1), ``choice`` (values, optional weights) and ``mvnormal`` (mean, cov,
optional ``log`` flags) over a comma-separated list of paths. ``scale:
list_price`` or ``scale: market_size`` multiplies a draw by that market's value
(drawn first); ``clip: [lo, hi]`` bounds a draw. Segment weights are normalised to
sum to one after drawing; the purchase probabilities of a price table are
sorted to fall with price; stock levels and day counts are rounded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy.special import betaincinv, ndtri

from rayprice.market import random as rnd
from rayprice.market.batch import MarketBatch
from rayprice.market.spec import (
    RIVAL_RULES,
    MarketSpec,
    SpecError,
    _Strict,
    load_structured_file,
    parse_model,
)

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*-v[0-9]+$")
_INTEGER_PATHS = (
    "horizon_days",
    "inventory.initial_stock",
    "inventory.restock_to",
    "inventory.restock_every_days",
)


class Prior(_Strict):
    """A distribution over one parameter (or several, for ``mvnormal``)."""

    dist: Literal[
        "fixed",
        "uniform",
        "loguniform",
        "normal",
        "lognormal",
        "beta",
        "choice",
        "mvnormal",
    ]
    value: float | str | None = None
    low: float | None = None
    high: float | None = None
    mean: float | list[float] | None = None
    std: float | None = Field(None, gt=0)
    mu: float | None = None
    sigma: float | None = Field(None, gt=0)
    a: float | None = Field(None, gt=0)
    b: float | None = Field(None, gt=0)
    values: list[float | str] | None = None
    weights: list[float] | None = None
    cov: list[list[float]] | None = None
    log: list[bool] | None = None
    scale: Literal["list_price", "market_size"] | None = None
    clip: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Prior:
        need = {
            "fixed": ("value",),
            "uniform": ("low", "high"),
            "loguniform": ("low", "high"),
            "normal": ("mean", "std"),
            "lognormal": ("mu", "sigma"),
            "beta": ("a", "b"),
            "choice": ("values",),
            "mvnormal": ("mean", "cov"),
        }[self.dist]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(
                f"{missing[0]}: the {self.dist!r} distribution needs {', '.join(need)}"
            )
        if self.dist in ("uniform", "loguniform") and not (
            self.low is not None and self.high is not None and self.low < self.high
        ):
            raise ValueError("low: must be below high")
        if self.dist == "loguniform" and (self.low or 0) <= 0:
            raise ValueError("low: a loguniform prior needs low > 0")
        if self.dist == "choice" and not self.values:
            raise ValueError("values: give at least one value")
        if self.weights is not None and (
            self.values is None or len(self.weights) != len(self.values)
        ):
            raise ValueError("weights: give one weight per value")
        return self


class HeldoutSpec(_Strict):
    seed: int = Field(..., ge=0)
    size: int = Field(200, ge=1, le=100_000)


class FamilySpec(_Strict):
    """The file form of a family."""

    name: str
    description: str = ""
    base: MarketSpec | None = None
    priors: dict[str, Prior] = {}
    markets: list[MarketSpec] | None = None
    heldout: HeldoutSpec | None = None
    heldout_markets: list[MarketSpec] | None = None
    oracle_note: str | None = None
    source: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> FamilySpec:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"name: {self.name!r} is not a versioned name; use lower case with a "
                "version suffix, e.g. 'my-market-v1'"
            )
        if self.base is None and not self.markets:
            raise ValueError(
                "base: give a base market with priors, or a list of markets"
            )
        if self.priors and self.base is None:
            raise ValueError("base: priors need a base market to draw into")
        if self.heldout is None and not self.heldout_markets:
            raise ValueError(
                "heldout: give {seed, size} for a drawn held-out suite, or "
                "heldout_markets"
            )
        return self


@dataclass
class Family:
    """A named, versioned prior over markets."""

    spec: FamilySpec
    builtin: bool = False
    _base_batch: MarketBatch | None = field(default=None, repr=False)
    _market_batch: MarketBatch | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return int(self.name.rsplit("-v", 1)[1])

    @property
    def suite_name(self) -> str:
        stem, version = self.name.rsplit("-v", 1)
        return f"{stem}-heldout-v{version}"

    @property
    def description(self) -> str:
        return self.spec.description

    def sample(self, seeds: np.ndarray) -> MarketBatch:
        """One market per seed; market ``i`` depends on ``seeds[i]`` alone."""
        seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
        if self.spec.priors or not self.spec.markets:
            batch = self._draw_from_priors(seeds)
        else:
            markets = self._markets()
            pick = (rnd.uniforms(seeds, rnd.PRIOR, 0, 1)[:, 0] * markets.n).astype(int)
            batch = markets.take(pick)
        batch.names = [f"{self.name}/{int(s):016x}" for s in seeds]
        return batch

    def _markets(self) -> MarketBatch:
        if self._market_batch is None:
            assert self.spec.markets
            self._market_batch = MarketBatch.from_specs(list(self.spec.markets))
        return self._market_batch

    def _draw_from_priors(self, seeds: np.ndarray) -> MarketBatch:
        if self._base_batch is None:
            assert self.spec.base is not None
            self._base_batch = MarketBatch.from_specs([self.spec.base])
        batch = self._base_batch.take(np.zeros(len(seeds), dtype=int))
        # Scales first, so that priors scaled by them see the drawn values.
        order = sorted(
            enumerate(self.spec.priors.items()),
            key=lambda item: item[1][0] not in ("list_price", "demand.market_size"),
        )
        for index, (path, prior) in order:
            _apply_prior(batch, path, prior, seeds, index)
        weights = batch.seg_weight
        batch.seg_weight = weights / weights.sum(axis=1, keepdims=True)
        # Demand falls with price: independently drawn table probabilities are
        # put in falling order along the (increasing) price grid.
        batch.grid_prob = -np.sort(-batch.grid_prob, axis=1)
        batch.validate(self.name)
        return batch

    def heldout_suite(self) -> Suite:
        if self.spec.heldout_markets:
            batch = MarketBatch.from_specs(list(self.spec.heldout_markets))
            seeds = rnd.seeds_from(0, batch.n)
            return Suite(self.suite_name, self.name, batch, seeds, None)
        assert self.spec.heldout is not None
        held = self.spec.heldout
        seeds = rnd.seeds_from(held.seed, held.size)
        return Suite(self.suite_name, self.name, self.sample(seeds), seeds, held.seed)

    def draw_suite(self, size: int, seed: int, name: str | None = None) -> Suite:
        """A suite of ``size`` markets drawn with ``seed`` (not the held-out seed)."""
        seeds = rnd.seeds_from(seed, size)
        return Suite(
            name or f"{self.name}@{seed}x{size}",
            self.name,
            self.sample(seeds),
            seeds,
            seed,
        )


@dataclass
class Suite:
    """A fixed list of markets to evaluate on, with one seed per market."""

    name: str
    family: str
    batch: MarketBatch
    seeds: np.ndarray
    seed: int | None

    @property
    def size(self) -> int:
        return self.batch.n

    def head(self, n: int) -> Suite:
        n = min(n, self.size)
        return Suite(
            self.name,
            self.family,
            self.batch.take(slice(0, n)),
            self.seeds[:n],
            self.seed,
        )


def _apply_prior(
    batch: MarketBatch, path: str, prior: Prior, seeds: np.ndarray, index: int
) -> None:
    paths = [p.strip() for p in path.split(",")]
    if prior.dist != "mvnormal" and len(paths) != 1:
        raise SpecError(f"priors.{path}: only an mvnormal prior takes several paths")
    width = max(len(paths), 1)
    u = rnd.uniforms(seeds, rnd.PRIOR, index + 1, width)
    if prior.dist == "mvnormal":
        mean = np.asarray(prior.mean, dtype=np.float64).reshape(-1)
        cov = np.asarray(prior.cov, dtype=np.float64)
        if mean.shape != (len(paths),) or cov.shape != (len(paths), len(paths)):
            raise SpecError(
                f"priors.{path}: mean needs {len(paths)} values and cov a "
                f"{len(paths)}x{len(paths)} matrix"
            )
        try:
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(paths)))
        except np.linalg.LinAlgError:
            raise SpecError(f"priors.{path}.cov: not positive definite") from None
        draws = mean + ndtri(u) @ chol.T
        logs = prior.log or [False] * len(paths)
        for d, p in enumerate(paths):
            value = np.exp(draws[:, d]) if logs[d] else draws[:, d]
            _store(batch, p, value, prior)
        return
    (p,) = paths
    uu = u[:, 0]
    if prior.dist == "fixed":
        if isinstance(prior.value, str):
            value = _encode(p, [prior.value])[np.zeros(len(seeds), dtype=int)]
        else:
            value = np.full(len(seeds), float(prior.value))  # type: ignore[arg-type]
    elif prior.dist == "uniform":
        value = prior.low + uu * (prior.high - prior.low)  # type: ignore[operator]
    elif prior.dist == "loguniform":
        lo, hi = math.log(prior.low), math.log(prior.high)  # type: ignore[arg-type]
        value = np.exp(lo + uu * (hi - lo))
    elif prior.dist == "normal":
        value = float(prior.mean) + prior.std * ndtri(uu)  # type: ignore[arg-type,operator]
    elif prior.dist == "lognormal":
        value = np.exp(prior.mu + prior.sigma * ndtri(uu))  # type: ignore[operator]
    elif prior.dist == "beta":
        lo = 0.0 if prior.low is None else prior.low
        hi = 1.0 if prior.high is None else prior.high
        value = lo + (hi - lo) * betaincinv(prior.a, prior.b, uu)
    else:  # choice
        assert prior.values is not None
        w = np.asarray(prior.weights or [1.0] * len(prior.values), dtype=np.float64)
        cdf = np.cumsum(w / w.sum())
        pick = np.minimum(np.searchsorted(cdf, uu, side="right"), len(cdf) - 1)
        value = _encode(p, prior.values)[pick]
    _store(batch, p, value, prior)


def _encode(path: str, values: list[Any]) -> np.ndarray:
    if path.endswith(".rule"):
        bad = [v for v in values if v not in RIVAL_RULES]
        if bad:
            raise SpecError(
                f"priors.{path}: unknown rule {bad[0]!r}; choose from "
                f"{', '.join(RIVAL_RULES)}"
            )
        return np.array([RIVAL_RULES.index(v) for v in values])
    try:
        return np.array([float(v) for v in values])
    except (TypeError, ValueError):
        raise SpecError(f"priors.{path}: values must be numbers") from None


def _store(batch: MarketBatch, path: str, value: np.ndarray, prior: Prior) -> None:
    array, column = batch.array_for_path(path)
    value = np.asarray(value, dtype=np.float64)
    if prior.scale == "list_price":
        value = value * batch.list_price
    elif prior.scale == "market_size":
        value = value * batch.market_size
    if prior.clip is not None:
        value = np.clip(value, *prior.clip)
    if path in _INTEGER_PATHS:
        value = np.round(value)
    if column is None:
        array[:] = value
    else:
        array[:, column] = value


# Built-in families.

_BUILTIN_DIR = Path(__file__).with_name("builtin")
_registry: dict[str, Family] = {}


def builtin_names() -> list[str]:
    return sorted(p.stem for p in _BUILTIN_DIR.glob("*.json"))


def family_from_dict(data: Any, where: str = "family", builtin: bool = False) -> Family:
    if not isinstance(data, dict):
        raise SpecError(
            f"{where}: a family is a mapping with name, base, priors, heldout"
        )
    return Family(parse_model(FamilySpec, data, where), builtin=builtin)


def load_family(name_or_path: str | Path) -> Family:
    """A built-in family by name (``retail-v1``) or a family file (JSON or YAML)."""
    key = str(name_or_path)
    if key in _registry:
        return _registry[key]
    builtin = _BUILTIN_DIR / f"{key}.json"
    if builtin.is_file():
        family = family_from_dict(load_structured_file(builtin), key, builtin=True)
        _registry[key] = family
        return family
    path = Path(key)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or path.exists():
        return family_from_dict(load_structured_file(path), str(path))
    raise SpecError(
        f"family: unknown family {key!r}; built-in families are "
        f"{', '.join(builtin_names())}, or give the path of a family file"
    )


def suite_names() -> list[str]:
    return [load_family(n).suite_name for n in builtin_names()]


def load_suite(name_or_path: str | Path) -> Suite:
    """A held-out suite by name (``logit-heldout-v1``), a family's, or a file.

    A suite file is a family file: its held-out markets are the suite.
    """
    key = str(name_or_path)
    for name in builtin_names():
        family = load_family(name)
        if key in (family.suite_name, family.name):
            return family.heldout_suite()
    path = Path(key)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or path.exists():
        return load_family(path).heldout_suite()
    raise SpecError(
        f"suite: unknown suite {key!r}; built-in suites are "
        f"{', '.join(suite_names())}, or give the path of a family file"
    )
