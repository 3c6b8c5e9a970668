from __future__ import annotations

import pytest

from rayprice.pricers import (
    PRICERS,
    FixedPricer,
    Pricer,
    UnknownPricerError,
    make_pricer,
    parse_pricer_list,
    pricer_names,
    register_prefix,
    registry,
)

EXPECTED = {
    "oracle",
    "fixed",
    "cost-plus",
    "prior-optimal",
    "greedy",
    "ts-flat",
    "ts-true-prior",
    "meta-ts",
    "ts-fixed",
    "ts-update",
}


def test_every_name_builds_a_pricer_of_that_name() -> None:
    assert set(pricer_names()) == EXPECTED
    for name in pricer_names():
        pricer = make_pricer(name)
        assert isinstance(pricer, Pricer)
        assert pricer.name == name


def test_only_the_oracle_reads_the_true_market() -> None:
    full = {name for name in pricer_names() if make_pricer(name).full_information}
    assert full == {"oracle"}


def test_unknown_name_lists_every_valid_name() -> None:
    with pytest.raises(UnknownPricerError) as err:
        make_pricer("ts-flta")
    message = str(err.value)
    assert "'ts-flta'" in message
    for name in PRICERS:
        assert name in message


def test_unknown_name_in_a_list_is_caught_before_running() -> None:
    with pytest.raises(UnknownPricerError, match="valid pricers are oracle"):
        parse_pricer_list("oracle,nope")
    with pytest.raises(UnknownPricerError, match="twice"):
        parse_pricer_list("fixed,fixed")
    with pytest.raises(UnknownPricerError, match="comma-separated"):
        parse_pricer_list("fixed,,greedy")


def test_trained_policies_plug_in_by_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownPricerError, match="rl:PATH"):
        make_pricer("rl:/checkpoints/policy")

    monkeypatch.setattr(registry, "_PREFIXES", {})
    seen: list[str] = []

    def load(path: str) -> Pricer:
        seen.append(path)
        return FixedPricer()

    register_prefix("rl", load)
    assert isinstance(make_pricer("rl:/checkpoints/policy"), FixedPricer)
    assert seen == ["/checkpoints/policy"]
    assert parse_pricer_list("oracle,rl:/x") == ["oracle", "rl:/x"]
    with pytest.raises(ValueError, match="prefix"):
        register_prefix("r l", load)
