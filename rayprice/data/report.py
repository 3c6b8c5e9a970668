"""Plots of a calibration: fitted demand curves over the data, and elasticities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rayprice.data.calibrate import CalibrationResult
from rayprice.data.fit import holdout_split


def write_report(
    result: CalibrationResult, directory: str | Path, products: int = 6
) -> list[Path]:
    """Write ``demand_curves.png`` and ``elasticity.png`` into ``directory``.

    Args:
        result: a calibration.
        directory: created if missing.
        products: demand curves of this many best-selling products.

    Returns:
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fit = result.fit
    panel = result.panel.take(result.fitted)
    late = panel.active & ~holdout_split(panel, result.settings.holdout_fraction)
    top = np.argsort(-panel.units.sum(axis=1), kind="stable")[:products]

    # Daily units against price, with the fitted expected units.
    cols = min(3, len(top))
    rows = int(np.ceil(len(top) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False
    )
    for ax, i in zip(axes.ravel(), top):
        on = panel.active[i]
        early = on & ~late[i]
        ax.scatter(
            panel.price[i, early],
            panel.units[i, early],
            s=10,
            alpha=0.6,
            label="fitted days",
        )
        ax.scatter(
            panel.price[i, late[i]],
            panel.units[i, late[i]],
            s=10,
            alpha=0.8,
            marker="x",
            label="last days",
        )
        lo, hi = np.nanmin(panel.price[i, on]), np.nanmax(panel.price[i, on])
        grid = np.linspace(0.9 * lo, 1.1 * hi, 100)
        curve = fit.take(np.array([i])).expected_units(grid[None, :])[0]
        ax.plot(grid, curve, color="black", label="fitted expected units")
        ax.set_title(
            f"{fit.product_id[i]}  elasticity {fit.elasticity()[i]:.2f}", fontsize=9
        )
        ax.set_xlabel("unit price")
        ax.set_ylabel("units per day")
    for ax in axes.ravel()[len(top) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{result.family['name']}: fitted demand over the daily sales")
    fig.tight_layout()
    curves = directory / "demand_curves.png"
    fig.savefig(curves, dpi=110)
    plt.close(fig)

    # The distribution of elasticities at the list price.
    elasticity = fit.elasticity()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.logspace(
        np.log10(max(elasticity.min(), 1e-2)), np.log10(elasticity.max() * 1.01), 30
    )
    ax.hist(elasticity, bins=bins.tolist(), color="tab:blue", alpha=0.8)
    ax.axvline(
        float(np.exp(fit.prior.mean[1])),
        color="black",
        ls="--",
        label="pooled prior median",
    )
    ax.axvline(1.0, color="tab:red", ls=":", label="unit elasticity")
    ax.set_xscale("log")
    ax.set_xlabel("price elasticity at the list price")
    ax.set_ylabel("products")
    ax.legend(fontsize=8)
    ax.set_title(f"{result.family['name']}: {fit.n_products} products")
    fig.tight_layout()
    hist = directory / "elasticity.png"
    fig.savefig(hist, dpi=110)
    plt.close(fig)
    return [curves, hist]
