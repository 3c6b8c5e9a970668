"""How long calibrating the whole Ta-Feng file takes (target: under 60 s).

How to run::

    python benchmarks/calibrate_speed.py PATH/TO/ta_feng.csv.zip \
        --json calibrate_speed.json

What to expect: the 817,741 lines of Ta-Feng read, validated, aggregated to a
product x day panel and fitted (every product with at least 10 days of sales,
about 10,700 of 23,812, pooled exponential demand, plus the out-of-time refit
that scores it). It prints the seconds per phase and the summary table, and
writes the timings and the summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rayprice.data.calibrate import CalibrationSettings, calibrate, format_summary
from rayprice.data.logs import read_table, validate_logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "logs", type=Path, help="path of ta_feng.csv.zip (or any log file)"
    )
    parser.add_argument("--json", type=Path, default=Path("calibrate_speed.json"))
    args = parser.parse_args()

    start = time.perf_counter()
    table = read_table(args.logs)
    read_s = time.perf_counter() - start
    logs = validate_logs(table, source=str(args.logs))
    validate_s = time.perf_counter() - start - read_s
    result = calibrate(logs, CalibrationSettings(name="tafeng-full-v1"))
    total_s = time.perf_counter() - start

    print(format_summary(result))
    print(
        f"\nread {read_s:.1f} s, validate {validate_s:.1f} s, "
        f"panel + fit + score {total_s - read_s - validate_s:.1f} s, "
        f"total {total_s:.1f} s (target 60 s)"
    )
    payload = {
        "benchmark": "calibrate_speed",
        "rows": logs.rows_read,
        "seconds": {
            "read": read_s,
            "validate": validate_s,
            "fit": total_s - read_s - validate_s,
            "total": total_s,
        },
        "target_seconds": 60.0,
        "summary": result.summary(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
