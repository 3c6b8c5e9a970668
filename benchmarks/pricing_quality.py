"""Every classical pricer on the held-out suites of logit-v1, ferreira-v1 and retail-v1.

How to run
    python benchmarks/pricing_quality.py [--out benchmarks/results]
        [--markets 200] [--suites logit-heldout-v1,ferreira-heldout-v1,...]

    It writes ``pricing_quality.json`` (every figure and the exact settings of
    each suite's evaluation, plus the speed measurement) and
    ``pricing_quality.md`` (the tables) to ``--out``, with regret, ratio and
    price-path plots per suite under ``--out/pricing_quality_plots/SUITE/``, and
    prints the tables.
    A full run takes a few minutes on one core; pin it to one with
    ``taskset -c 0`` and ``OMP_NUM_THREADS=1`` to reproduce the speed figure.

What to expect
    - The oracle at 100% of its own expected profit (within the CI), exactly on
      logit-v1 and ferreira-v1, where its plan is exact; on retail-v1 the
      oracle is an approximation (approx-lookahead) and a lower bound.
    - Thompson sampling with the true prior above flat-prior TS; meta-ts in
      between (a meta-learning value between 0 and 1).
    - Greedy least squares below Thompson sampling over short horizons (t = 10,
      50).
    - TS-update above TS-fixed where stock is finite (ferreira-v1, retail-v1).
    - Speed: 200 markets x 6 pricers x 100 periods on logit-v1 in well under
      60 seconds on one core.
    The ``checks`` section of the JSON says which of these held.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rayprice.evaluate import (
    EvaluationResult,
    EvaluationSettings,
    evaluate,
    format_table,
    write_plots,
)
from rayprice.pricers import pricer_names

SUITES = ("logit-heldout-v1", "ferreira-heldout-v1", "retail-heldout-v1")
SPEED_PRICERS = ("oracle", "fixed", "greedy", "ts-flat", "ts-true-prior", "meta-ts")
SPEED_LIMIT_S = 60.0


def checks(suite: str, result: EvaluationResult) -> list[dict[str, Any]]:
    """The expected shape of the results, each marked held or not."""
    horizon = result.horizon_days
    ratio = {name: m.ratio_pct for name, m in result.metrics.items()}
    out = []

    def check(claim: str, held: bool, detail: str) -> None:
        out.append(
            {"suite": suite, "claim": claim, "held": bool(held), "detail": detail}
        )

    oracle = ratio["oracle"][horizon]
    check(
        "oracle at 100%",
        oracle.low - 1.0 <= 100.0 <= oracle.high + 1.0,
        f"{oracle.format(1)}",
    )
    flat, true = ratio["ts-flat"][horizon], ratio["ts-true-prior"][horizon]
    check(
        "ts-true-prior > ts-flat",
        true.mean > flat.mean,
        f"{true.format(1)} vs {flat.format(1)}",
    )
    for t in (10, 50):
        greedy, ts = ratio["greedy"][t], ratio["ts-true-prior"][t]
        check(
            f"greedy < TS at t={t}",
            greedy.mean < ts.mean and greedy.mean < ratio["ts-flat"][t].mean,
            f"greedy {greedy.format(1)}, ts-flat {ratio['ts-flat'][t].format(1)}, "
            f"ts-true-prior {ts.format(1)}",
        )
    if suite != "logit-heldout-v1":
        fixed, update = ratio["ts-fixed"][horizon], ratio["ts-update"][horizon]
        check(
            "ts-update > ts-fixed",
            update.mean > fixed.mean,
            f"{update.format(1)} vs {fixed.format(1)}",
        )
    return out


def markdown(
    results: dict[str, EvaluationResult],
    found: list[dict[str, Any]],
    speed: dict[str, Any],
) -> str:
    lines = ["# Pricing quality of the classical pricers", ""]
    for suite, result in results.items():
        lines += [f"## {suite}", "", "```", format_table(result), "```", ""]
    lines += [
        "## Checks",
        "",
        "| suite | claim | held | figures |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c['suite']} | {c['claim']} | {'yes' if c['held'] else 'NO'} | {c['detail']} |"
        for c in found
    ]
    lines += [
        "",
        "## Speed",
        "",
        f"{speed['markets']} markets x {len(speed['pricers'])} pricers x {speed['horizon_days']} "
        f"periods on {speed['suite']}: {speed['seconds']:.1f} s (target {SPEED_LIMIT_S:.0f} s).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--markets", type=int, default=None, help="default: the whole suite"
    )
    parser.add_argument("--suites", default=",".join(SUITES))
    args = parser.parse_args()

    # Speed: the reference workload.
    started = time.perf_counter()
    evaluate(EvaluationSettings(pricers=SPEED_PRICERS, suite="logit-heldout-v1"))
    speed = {
        "suite": "logit-heldout-v1",
        "markets": 200,
        "pricers": list(SPEED_PRICERS),
        "horizon_days": 100,
        "seconds": time.perf_counter() - started,
        "limit_seconds": SPEED_LIMIT_S,
    }
    print(f"speed: {speed['seconds']:.1f} s for 200 markets x 6 pricers x 100 periods")

    results: dict[str, EvaluationResult] = {}
    found: list[dict[str, Any]] = []
    for suite in args.suites.split(","):
        result = evaluate(
            EvaluationSettings(
                pricers=tuple(pricer_names()),
                suite=suite,
                markets=args.markets,
                progress=True,
            )
        )
        results[suite] = result
        write_plots(result, args.out / "pricing_quality_plots" / suite)
        found += checks(suite, result)
        print(format_table(result), f"\n({result.seconds:.1f} s)\n")

    for c in found:
        print(
            f"{'held' if c['held'] else 'FAILED':6}  {c['suite']}: {c['claim']} ({c['detail']})"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "suites": {suite: r.to_dict() for suite, r in results.items()},
        "checks": found,
        "speed": speed,
    }
    (args.out / "pricing_quality.json").write_text(json.dumps(payload, indent=2))
    (args.out / "pricing_quality.md").write_text(markdown(results, found, speed))
    print(
        f"wrote {args.out / 'pricing_quality.json'} and {args.out / 'pricing_quality.md'}"
    )


if __name__ == "__main__":
    main()
