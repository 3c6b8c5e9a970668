"""Pricers by name: what ``rayprice evaluate --pricers`` accepts.

Plain names map to the classical pricers. A name of the form ``PREFIX:ARGUMENT``
goes to a factory registered for that prefix with :func:`register_prefix`; this is
where a trained policy plugs in (``rl:PATH`` for a checkpoint), without this
module knowing about RLlib.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rayprice.pricers.base import Pricer
from rayprice.pricers.full_information import OraclePricer
from rayprice.pricers.greedy import GreedyLeastSquaresPricer
from rayprice.pricers.rules import CostPlusPricer, FixedPricer, PriorOptimalPricer
from rayprice.pricers.thompson import MetaThompsonPricer, ThompsonPricer


class UnknownPricerError(ValueError):
    """A pricer name that no factory answers to; the message lists the valid ones."""


@dataclass(frozen=True)
class PricerEntry:
    """A registered pricer: how to build it and one line on what it does."""

    factory: Callable[[], Pricer]
    summary: str


PRICERS: dict[str, PricerEntry] = {
    "oracle": PricerEntry(
        OraclePricer, "full information: knows the market (the physical limit)"
    ),
    "fixed": PricerEntry(FixedPricer, "the list price, always"),
    "cost-plus": PricerEntry(CostPlusPricer, "unit cost plus a 50% markup"),
    "prior-optimal": PricerEntry(
        PriorOptimalPricer, "the static price best on average over the family's prior"
    ),
    "greedy": PricerEntry(
        GreedyLeastSquaresPricer, "greedy iterated least squares on linear demand"
    ),
    "ts-flat": PricerEntry(
        lambda: ThompsonPricer("flat", "update", name="ts-flat"),
        "Thompson sampling, flat prior (knows neither family nor market)",
    ),
    "ts-true-prior": PricerEntry(
        lambda: ThompsonPricer("true", "update", name="ts-true-prior"),
        "Thompson sampling, the family's prior (the Bayes reference)",
    ),
    "meta-ts": PricerEntry(
        MetaThompsonPricer,
        "Thompson sampling, prior learned from earlier markets (Bastani et al. 2022)",
    ),
    "ts-fixed": PricerEntry(
        lambda: ThompsonPricer("flat", "fixed", name="ts-fixed"),
        "TS-fixed, inventory LP at the season's stock rate (Ferreira et al. 2018)",
    ),
    "ts-update": PricerEntry(
        lambda: ThompsonPricer("flat", "update", name="ts-update"),
        "TS-update, inventory LP re-planned on stock left (Ferreira et al. 2018)",
    ),
}

# Factories for names of the form PREFIX:ARGUMENT, e.g. "rl" for a trained policy.
_PREFIXES: dict[str, Callable[[str], Pricer]] = {}


def register_prefix(prefix: str, factory: Callable[[str], Pricer]) -> None:
    """Route names ``PREFIX:ARGUMENT`` to ``factory(ARGUMENT)``.

    Args:
        prefix: e.g. ``"rl"``; letters, digits and dashes.
        factory: builds the pricer from the argument (a checkpoint path, say).
    """
    if not prefix or not all(c.isalnum() or c == "-" for c in prefix):
        raise ValueError(f"prefix: use letters, digits and dashes, got {prefix!r}")
    _PREFIXES[prefix] = factory


def pricer_names() -> list[str]:
    """Registered plain names, in the registry's order."""
    return list(PRICERS)


def _valid_names() -> str:
    names = ", ".join(PRICERS)
    prefixes = ", ".join(f"{p}:..." for p in _PREFIXES)
    return f"{names}, {prefixes}" if prefixes else names


def make_pricer(name: str) -> Pricer:
    """A fresh pricer by registry name.

    Raises:
        UnknownPricerError: the name is not registered; the message lists the
            valid names.
    """
    key = name.strip()
    if key in PRICERS:
        return PRICERS[key].factory()
    prefix, sep, argument = key.partition(":")
    if sep:
        if prefix == "rl" and prefix not in _PREFIXES:
            # Imported on first use: it needs torch, which classical pricers do not.
            import rayprice.pricers.policy  # noqa: F401
        if prefix in _PREFIXES:
            return _PREFIXES[prefix](argument)
        hint = (
            " (trained policies, rl:PATH, need their loader registered first)"
            if prefix == "rl"
            else ""
        )
        raise UnknownPricerError(
            f"pricers: no pricer family {prefix!r} is registered{hint}; valid "
            f"pricers are {_valid_names()}"
        )
    raise UnknownPricerError(
        f"pricers: unknown pricer {key!r}; valid pricers are {_valid_names()}"
    )


def parse_pricer_list(text: str) -> list[str]:
    """``"a,b,c"`` -> names, checked; duplicates and empty entries are errors."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise UnknownPricerError(
            f"pricers: give a comma-separated list of names, e.g. "
            f"'oracle,fixed,ts-flat'; valid pricers are {_valid_names()}"
        )
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise UnknownPricerError(f"pricers: {n!r} is listed twice; list it once")
        seen.add(n)
        if n not in PRICERS and n.partition(":")[0] not in _PREFIXES:
            make_pricer(n)
    return names
