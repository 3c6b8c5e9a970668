"""Make the shipped Ta-Feng extract and the built-in ``tafeng-v1`` family.

How to run::

    python -m rayprice.data.tafeng PATH/TO/ta_feng.csv.zip

What to expect: it reads the public Ta-Feng grocery transactions (817,741 lines,
2000-11-01 to 2001-02-28), keeps the best-selling ``--products`` products (300),
and writes

- ``rayprice/data/builtin/tafeng_top300.csv.gz``: one row per product and day with
  sales: ``date, product_id, units, unit_price, unit_cost`` (daily averages), a
  valid log file in its own right (about 0.3 MB);
- ``rayprice/market/builtin/tafeng-v1.json``: the family fitted from the extract's
  products, less a fifth split off by a seeded hash of their id; those form the
  held-out suite ``tafeng-heldout-v1``, fitted under the family's prior, which
  never saw them.

Runs in well under a minute and reproduces both files byte for byte.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from rayprice.data.calibrate import CalibrationSettings, calibrate, format_summary
from rayprice.data.logs import load_logs

logger = logging.getLogger(__name__)

EXTRACT = Path(__file__).with_name("builtin") / "tafeng_top300.csv.gz"
FAMILY = Path(__file__).parents[1] / "market" / "builtin" / "tafeng-v1.json"
SETTINGS = CalibrationSettings(
    name="tafeng-v1", heldout_products=0.2, split_seed=2001, min_sale_days=10
)


def make_extract(
    source: str | Path, out: str | Path = EXTRACT, products: int = 300
) -> Path:
    """Daily units, average price and average cost of the best-selling products.

    Args:
        source: the Ta-Feng file (``ta_feng.csv.zip``).
        out: where to write the gzip CSV.
        products: how many of the best sellers (by units) to keep.

    Returns:
        The path written.
    """
    logs = load_logs(source)
    ids, index = np.unique(np.asarray(logs.product_id, dtype=str), return_inverse=True)
    sold = np.bincount(index, weights=logs.units)
    # Best sellers first; ties broken by id so the choice is reproducible.
    top = np.lexsort((ids, -sold))[:products]
    keep = np.isin(index, top)
    index, day = index[keep], logs.day[keep]
    units, price, cost = logs.units[keep], logs.unit_price[keep], logs.unit_cost[keep]

    # One cell per product and day.
    first_day = int(day.min())
    cells, cell_index = np.unique(
        index.astype(np.int64) * 1_000_000 + (day - first_day), return_inverse=True
    )
    total = np.bincount(cell_index, weights=units)
    revenue = np.bincount(cell_index, weights=units * price)
    cost_total = np.bincount(cell_index, weights=units * np.nan_to_num(cost))
    cell_product = ids[cells // 1_000_000]
    cell_day = cells % 1_000_000 + first_day
    epoch = date(1970, 1, 1)
    buffer = io.StringIO()
    buffer.write("date,product_id,units,unit_price,unit_cost\n")
    # Rows sorted by product id, then day.
    for k in np.lexsort((cell_day, cell_product)):
        when = epoch + timedelta(days=int(cell_day[k]))
        buffer.write(
            f"{when.isoformat()},{cell_product[k]},{int(total[k])},"
            f"{revenue[k] / total[k]:.4f},{cost_total[k] / total[k]:.4f}\n"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        out.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle,
    ):
        handle.write(buffer.getvalue().encode())
    logger.info(
        "tafeng: wrote %d product-days of %d products to %s", len(cells), products, out
    )
    return out


def make_family(extract: str | Path = EXTRACT, out: str | Path = FAMILY) -> str:
    """Fit ``tafeng-v1`` from the extract and write it; returns the summary table."""
    result = calibrate(extract, SETTINGS)
    family = dict(result.family)
    family["description"] = (
        "Ta-Feng grocery, Nov 2000 - Feb 2001: the best-selling products' daily "
        "sales, exponential demand fitted per product with a pooled prior; "
        "held-out products in tafeng-heldout-v1."
    )
    family["source"] = {**family["source"], "logs": "ta_feng.csv.zip (extract)"}
    Path(out).write_text(json.dumps(family, indent=1) + "\n")
    return format_summary(result)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m rayprice.data.tafeng PATH``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="path of ta_feng.csv.zip")
    parser.add_argument("--products", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make_extract(args.source, EXTRACT, args.products)
    print(make_family(EXTRACT, FAMILY))  # noqa: T201 - a command-line script


if __name__ == "__main__":
    main()
