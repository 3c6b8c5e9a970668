"""Many markets of one structure as arrays, the form the simulator computes on.

A :class:`MarketBatch` holds N markets that share a demand model, a number of
segments and a number of rivals; every parameter is an array with the markets on
the first axis. Families sample straight into a batch, so resetting thousands of
markets costs a few array operations, not thousands of Python objects.

Optional parts of a spec become neutral values: no reference effect is
``gain = loss = 0``; no seasonality is ``amplitude = 0``; unlimited stock is
``initial_stock = inf``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from rayprice.market.spec import (
    RIVAL_RULES,
    DemandSpec,
    InventorySpec,
    MarketSpec,
    ReferenceSpec,
    RivalSpec,
    SeasonalitySpec,
    Segment,
    SpecError,
)

FloatArray = np.ndarray

# Spec paths that map to a batch array; "{k}" is a segment or rival index.
_SCALAR_PATHS: dict[str, str] = {
    "unit_cost": "unit_cost",
    "list_price": "list_price",
    "horizon_days": "horizon_days",
    "demand.market_size": "market_size",
    "reference.memory": "ref_memory",
    "reference.gain": "ref_gain",
    "reference.loss": "ref_loss",
    "seasonality.amplitude": "season_amplitude",
    "seasonality.period_days": "season_period",
    "seasonality.phase": "season_phase",
    "inventory.initial_stock": "initial_stock",
    "inventory.restock_every_days": "restock_every",
    "inventory.restock_to": "restock_to",
    "inventory.holding_cost": "holding_cost",
    "inventory.salvage_value": "salvage_value",
}
_SEGMENT_FIELDS = {
    "weight": "seg_weight",
    "intercept": "seg_intercept",
    "price_sensitivity": "seg_slope",
}
_RIVAL_FIELDS = {
    "rule": "rival_rule",
    "unit_cost": "rival_cost",
    "quality": "rival_quality",
    "initial_price": "rival_initial_price",
    "undercut": "rival_undercut",
    "markup": "rival_markup",
    "volatility": "rival_volatility",
}
_GRID_FIELDS = {"price_grid": "grid_price", "purchase_prob": "grid_prob"}


@dataclass
class MarketBatch:
    """N markets of one structure, parameters as arrays (markets first)."""

    model: str
    names: list[str]
    currency: str
    has_reference: bool
    has_seasonality: bool
    has_inventory: bool
    unit_cost: FloatArray
    list_price: FloatArray
    horizon_days: np.ndarray
    market_size: FloatArray
    seg_weight: FloatArray  # (N, K)
    seg_intercept: FloatArray  # (N, K)
    seg_slope: FloatArray  # (N, K)
    grid_price: FloatArray  # (N, G), G = 0 unless model == "table"
    grid_prob: FloatArray  # (N, G)
    rival_rule: np.ndarray  # (N, R) index into RIVAL_RULES
    rival_cost: FloatArray  # (N, R)
    rival_quality: FloatArray
    rival_initial_price: FloatArray
    rival_undercut: FloatArray
    rival_markup: FloatArray
    rival_volatility: FloatArray
    ref_memory: FloatArray
    ref_gain: FloatArray
    ref_loss: FloatArray
    season_amplitude: FloatArray
    season_period: FloatArray
    season_phase: FloatArray
    initial_stock: FloatArray  # inf when stock is unlimited
    restock_every: np.ndarray
    restock_to: FloatArray
    holding_cost: FloatArray
    salvage_value: FloatArray

    @property
    def n(self) -> int:
        return int(self.unit_cost.shape[0])

    @property
    def n_segments(self) -> int:
        return int(self.seg_weight.shape[1])

    @property
    def n_rivals(self) -> int:
        return int(self.rival_rule.shape[1])

    @property
    def has_rivals(self) -> bool:
        return self.n_rivals > 0

    @property
    def is_memoryless(self) -> bool:
        """True when today's demand does not depend on earlier prices."""
        if self.has_reference and np.any((self.ref_gain > 0) | (self.ref_loss > 0)):
            return False
        reacting = self.rival_rule != RIVAL_RULES.index("fixed")
        return not bool(np.any(reacting))

    # Construction.

    @classmethod
    def from_specs(cls, specs: list[MarketSpec]) -> MarketBatch:
        if not specs:
            raise SpecError("markets: give at least one market")
        first = specs[0]
        for i, spec in enumerate(specs):
            _check_same_structure(first, spec, i)
        n = len(specs)

        def col(get: Any, dtype: Any = np.float64) -> np.ndarray:
            return np.array([get(s) for s in specs], dtype=dtype)

        def rcol(get: Any, dtype: Any = np.float64) -> np.ndarray:
            return np.array(
                [[get(r) for r in s.rivals] for s in specs], dtype=dtype
            ).reshape(n, len(first.rivals))

        def scol(get: Any) -> np.ndarray:
            return np.array(
                [[get(g) for g in s.demand.segments] for s in specs], dtype=np.float64
            )

        ref = [
            s.reference or ReferenceSpec(memory=0.0, gain=0.0, loss=0.0) for s in specs
        ]
        sea = [s.seasonality or SeasonalitySpec(amplitude=0.0) for s in specs]
        inv = [s.inventory for s in specs]
        grid_n = len(first.demand.price_grid or ())
        return cls(
            model=first.demand.model,
            names=[s.name for s in specs],
            currency=first.currency,
            has_reference=first.reference is not None,
            has_seasonality=first.seasonality is not None,
            has_inventory=first.inventory is not None,
            unit_cost=col(lambda s: s.unit_cost),
            list_price=col(lambda s: s.list_price),
            horizon_days=col(lambda s: s.horizon_days, np.int64),
            market_size=col(lambda s: s.demand.market_size),
            seg_weight=scol(lambda g: g.weight),
            seg_intercept=scol(lambda g: g.intercept),
            seg_slope=scol(lambda g: g.price_sensitivity),
            grid_price=np.array(
                [s.demand.price_grid or () for s in specs], dtype=np.float64
            ).reshape(n, grid_n),
            grid_prob=np.array(
                [s.demand.purchase_prob or () for s in specs], dtype=np.float64
            ).reshape(n, grid_n),
            rival_rule=rcol(lambda r: RIVAL_RULES.index(r.rule), np.int64),
            rival_cost=rcol(lambda r: r.unit_cost),
            rival_quality=rcol(lambda r: r.quality),
            rival_initial_price=rcol(lambda r: r.initial_price),
            rival_undercut=rcol(lambda r: r.undercut),
            rival_markup=rcol(lambda r: r.markup),
            rival_volatility=rcol(lambda r: r.volatility),
            ref_memory=np.array([r.memory for r in ref]),
            ref_gain=np.array([r.gain for r in ref]),
            ref_loss=np.array([r.loss for r in ref]),
            season_amplitude=np.array([s.amplitude for s in sea]),
            season_period=np.array([s.period_days for s in sea]),
            season_phase=np.array([s.phase for s in sea]),
            initial_stock=np.array(
                [np.inf if i is None else float(i.initial_stock) for i in inv]
            ),
            restock_every=np.array(
                [0 if i is None else i.restock_every_days for i in inv], np.int64
            ),
            restock_to=np.array([0.0 if i is None else i.restock_to for i in inv]),
            holding_cost=np.array([0.0 if i is None else i.holding_cost for i in inv]),
            salvage_value=np.array(
                [0.0 if i is None else i.salvage_value for i in inv]
            ),
        )

    def spec(self, i: int) -> MarketSpec:
        """Market ``i`` as a :class:`MarketSpec`."""
        segments = tuple(
            Segment(
                name=f"segment-{k}",
                weight=float(self.seg_weight[i, k]),
                intercept=float(self.seg_intercept[i, k]),
                price_sensitivity=float(self.seg_slope[i, k]),
            )
            for k in range(self.n_segments)
        )
        has_grid = self.grid_price.shape[1] > 0
        rivals = tuple(
            RivalSpec(
                name=f"rival-{j}",
                rule=RIVAL_RULES[int(self.rival_rule[i, j])],  # type: ignore[arg-type]
                unit_cost=float(self.rival_cost[i, j]),
                quality=float(self.rival_quality[i, j]),
                initial_price=float(self.rival_initial_price[i, j]),
                undercut=float(self.rival_undercut[i, j]),
                markup=float(self.rival_markup[i, j]),
                volatility=float(self.rival_volatility[i, j]),
            )
            for j in range(self.n_rivals)
        )
        return MarketSpec(
            name=self.names[i],
            currency=self.currency,
            unit_cost=float(self.unit_cost[i]),
            list_price=float(self.list_price[i]),
            horizon_days=int(self.horizon_days[i]),
            demand=DemandSpec(
                model=self.model,  # type: ignore[arg-type]
                market_size=float(self.market_size[i]),
                segments=segments,
                price_grid=tuple(map(float, self.grid_price[i])) if has_grid else None,
                purchase_prob=tuple(map(float, self.grid_prob[i]))
                if has_grid
                else None,
            ),
            rivals=rivals,
            reference=ReferenceSpec(
                memory=float(self.ref_memory[i]),
                gain=float(self.ref_gain[i]),
                loss=float(self.ref_loss[i]),
            )
            if self.has_reference
            else None,
            seasonality=SeasonalitySpec(
                amplitude=float(self.season_amplitude[i]),
                period_days=float(self.season_period[i]),
                phase=float(self.season_phase[i]),
            )
            if self.has_seasonality
            else None,
            inventory=InventorySpec(
                initial_stock=int(self.initial_stock[i]),
                restock_every_days=int(self.restock_every[i]),
                restock_to=int(self.restock_to[i]),
                holding_cost=float(self.holding_cost[i]),
                salvage_value=float(self.salvage_value[i]),
            )
            if self.has_inventory
            else None,
        )

    def specs(self) -> list[MarketSpec]:
        return [self.spec(i) for i in range(self.n)]

    def take(self, index: np.ndarray | list[int] | slice) -> MarketBatch:
        """The markets at ``index``, as a new batch."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                changes[f.name] = value[index]
        names = np.asarray(self.names, dtype=object)[index]
        changes["names"] = [str(x) for x in np.atleast_1d(names)]
        return replace(self, **changes)

    def with_horizon(self, horizon_days: int) -> MarketBatch:
        return replace(self, horizon_days=np.full(self.n, int(horizon_days), np.int64))

    @classmethod
    def concat(cls, batches: list[MarketBatch]) -> MarketBatch:
        first = batches[0]
        changes: dict[str, Any] = {"names": [n for b in batches for n in b.names]}
        for f in fields(first):
            value = getattr(first, f.name)
            if isinstance(value, np.ndarray):
                changes[f.name] = np.concatenate([getattr(b, f.name) for b in batches])
        return replace(first, **changes)

    def array_for_path(self, path: str) -> tuple[np.ndarray, int | None]:
        """The array (and column, for segments and rivals) a spec path maps to."""
        if path in _SCALAR_PATHS:
            if path.startswith("reference.") and not self.has_reference:
                raise SpecError(f"{path}: the base market has no reference; add one")
            if path.startswith("seasonality.") and not self.has_seasonality:
                raise SpecError(f"{path}: the base market has no seasonality; add one")
            if path.startswith("inventory.") and not self.has_inventory:
                raise SpecError(f"{path}: the base market has no inventory; add one")
            return getattr(self, _SCALAR_PATHS[path]), None
        parts = path.split(".")
        if len(parts) == 4 and parts[:2] == ["demand", "segments"]:
            table, limit = _SEGMENT_FIELDS, self.n_segments
            index, name = parts[2], parts[3]
        elif len(parts) == 3 and parts[0] == "rivals":
            table, limit = _RIVAL_FIELDS, self.n_rivals
            index, name = parts[1], parts[2]
        elif len(parts) == 3 and parts[0] == "demand" and parts[1] in _GRID_FIELDS:
            table, limit = _GRID_FIELDS, self.grid_price.shape[1]
            index, name = parts[2], parts[1]
        else:
            raise SpecError(
                f"{path}: not a parameter a prior can draw; use one of "
                f"{', '.join(sorted(_SCALAR_PATHS))}, demand.segments.K.<"
                f"{'|'.join(_SEGMENT_FIELDS)}>, rivals.J.<{'|'.join(_RIVAL_FIELDS)}>"
                ", demand.purchase_prob.G"
            )
        if name not in table or not index.isdigit() or int(index) >= limit:
            raise SpecError(
                f"{path}: no such parameter in the base market (it has {limit} "
                f"entries there, fields {', '.join(table)})"
            )
        return getattr(self, table[name]), int(index)

    def validate(self, where: str = "family") -> None:
        """Check sampled values; a prior that draws impossible values fails here."""
        checks = [
            ("unit_cost", self.unit_cost >= 0, ">= 0"),
            ("list_price", self.list_price > 0, "> 0"),
            ("horizon_days", self.horizon_days >= 1, ">= 1"),
            ("demand.market_size", self.market_size > 0, "> 0"),
            ("demand.segments.*.weight", self.seg_weight > 0, "> 0"),
            ("demand.segments.*.price_sensitivity", self.seg_slope > 0, "> 0"),
            (
                "demand.purchase_prob",
                (self.grid_prob >= 0) & (self.grid_prob <= 1),
                "in [0, 1]",
            ),
            ("rivals.*.unit_cost", self.rival_cost >= 0, ">= 0"),
            ("rivals.*.initial_price", self.rival_initial_price > 0, "> 0"),
            (
                "reference.memory",
                (self.ref_memory >= 0) & (self.ref_memory < 1),
                "in [0, 1)",
            ),
            (
                "seasonality.amplitude",
                (self.season_amplitude >= 0) & (self.season_amplitude < 1),
                "in [0, 1)",
            ),
            ("inventory.initial_stock", self.initial_stock >= 0, ">= 0"),
        ]
        for name, ok, rule in checks:
            ok = np.asarray(ok)
            if ok.size and not bool(np.all(ok)):
                bad = int(np.argwhere(~ok)[0][0])
                raise SpecError(
                    f"{where}: {name} must be {rule}, but the prior drew an invalid "
                    f"value for market {bad}; narrow or clip that prior"
                )
        for name in (
            "unit_cost",
            "list_price",
            "market_size",
            "seg_intercept",
            "seg_slope",
            "rival_quality",
        ):
            if not np.all(np.isfinite(getattr(self, name))):
                raise SpecError(
                    f"{where}: {name} drew a non-finite value; fix its prior"
                )


def _check_same_structure(first: MarketSpec, spec: MarketSpec, i: int) -> None:
    def fail(what: str) -> None:
        raise SpecError(
            f"markets.{i}.{what}: differs from market 0; a batch holds markets of "
            "one structure (same demand model, segments, rivals, optional parts)"
        )

    if spec.demand.model != first.demand.model:
        fail("demand.model")
    if len(spec.demand.segments) != len(first.demand.segments):
        fail("demand.segments")
    if len(spec.rivals) != len(first.rivals):
        fail("rivals")
    if len(spec.demand.price_grid or ()) != len(first.demand.price_grid or ()):
        fail("demand.price_grid")
    for part in ("reference", "seasonality", "inventory"):
        if (getattr(spec, part) is None) != (getattr(first, part) is None):
            fail(part)
    if spec.currency != first.currency:
        fail("currency")
