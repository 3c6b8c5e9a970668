"""Fixtures for the evaluation tests: small runs, and pricers only tests may use."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rayprice.evaluate import EvaluationResult, EvaluationSettings, evaluate
from rayprice.pricers import PRICERS, FixedPricer, ToldTruePricer
from rayprice.pricers.base import MarketState, PricingContext, feasible
from rayprice.pricers.registry import PricerEntry


class DiscountPricer(FixedPricer):
    """10% below the list price, always."""

    name = "discount"

    def reset(self, context: PricingContext) -> None:
        self.price = feasible(context.view, context.view.list_price * 0.9)


class SpyPricer(FixedPricer):
    """Records what the harness hands it."""

    name = "spy"
    seen: list[object] = []

    def reset(self, context: PricingContext) -> None:
        super().reset(context)
        SpyPricer.seen.append(context)

    def quote(self, state: MarketState) -> np.ndarray:
        SpyPricer.seen.append(state)
        return super().quote(state)


@pytest.fixture
def test_pricers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register pricers that exist only for tests: told-true, discount, spy."""
    monkeypatch.setitem(PRICERS, "told-true", PricerEntry(ToldTruePricer, "test"))
    monkeypatch.setitem(PRICERS, "discount", PricerEntry(DiscountPricer, "test"))
    monkeypatch.setitem(PRICERS, "spy", PricerEntry(SpyPricer, "test"))
    SpyPricer.seen = []


@pytest.fixture
def run() -> Callable[..., EvaluationResult]:
    def go(pricers: str, **settings: object) -> EvaluationResult:
        settings.setdefault("markets", 20)
        return evaluate(
            EvaluationSettings(pricers=tuple(pricers.split(",")), **settings)
        )  # type: ignore[arg-type]

    return go
