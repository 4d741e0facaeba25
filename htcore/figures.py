"""Figures of an experiment, drawn from its tidy table (htcore.collect).

One consistent style (:data:`STYLE`); every figure is written as PNG and PDF.
:data:`FIGURE_SETS` names the figures of each plot kind; the workflow makes one job
per (experiment, figure).

Kind ``sweep`` (lr_sweep and other one-parameter sweeps): metrics at the last probe
step against the swept parameter ``x`` (log10 axis if ``logx``), one line per value
of ``hue``, mean +- std band over seeds. Snapshots of diverged runs have no value;
each (hue, x) where any seed diverged is marked by a cross on the top edge of the
panel with the number of diverged seeds.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

STYLE = {
    "figure.figsize": (5.0, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 4,
}
PALETTE = ["#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c"]

LABELS = {
    "train_loss": "read-out train loss", "test_loss": "read-out test loss", "kta": "KTA",
    "sim": r"sim$(W, \beta^*)$", "hill_alpha": r"PL_Alpha_Hill $\alpha$", "ks_alpha": r"PL_Alpha_KS $\alpha$",
    "lr": "learning rate", "n": "n", "reg_lambda": r"$\lambda$", "label_noise_std": r"$\rho$",
    "gamma": r"$\gamma$",
}

#: figure name -> metrics drawn (one panel per metric)
SWEEP_FIGURES: dict[str, list[str]] = {
    "losses": ["train_loss", "test_loss"],
    "kta": ["kta"],
    "sim": ["sim"],
    "alpha_hill": ["hill_alpha"],
    "alpha_ks": ["ks_alpha"],
}
FIGURE_SETS = {"sweep": list(SWEEP_FIGURES)}


def figure_names(plot: Mapping[str, Any]) -> list[str]:
    """Names of the figures an experiment with this ``plot`` setting produces."""
    return FIGURE_SETS[plot["kind"]]


def _label(name: str) -> str:
    return LABELS.get(name, name)


def sweep_stats(table: pd.DataFrame, metric: str, x: str, hue: str) -> pd.DataFrame:
    """Per (hue, x) at the last probe step: mean, std and count over seeds of the
    finite values, and the number of diverged seeds."""
    last = table[table["step"] == table.groupby("eval_id")["step"].transform("max")]
    g = last.groupby([hue, x], sort=True)
    out = g[metric].agg(mean="mean", std="std", count="count").reset_index()
    out["n_diverged"] = g["diverged"].sum().to_numpy()
    out["std"] = out["std"].fillna(0.0)
    return out


def _sweep_panel(ax, table: pd.DataFrame, metric: str, x: str, hue: str, logx: bool) -> None:
    stats = sweep_stats(table, metric, x, hue)
    tx = (lambda v: np.log10(v)) if logx else (lambda v: np.asarray(v, dtype=float))
    for i, (hv, s) in enumerate(stats.groupby(hue, sort=True)):
        c = PALETTE[i % len(PALETTE)]
        xs = tx(s[x].to_numpy(dtype=float))
        m, sd = s["mean"].to_numpy(), s["std"].to_numpy()
        ax.plot(xs, m, "-o", color=c, label=f"{hue} = {hv}")
        ax.fill_between(xs, m - sd, m + sd, color=c, alpha=0.2, linewidth=0)
        div = s["n_diverged"].to_numpy() > 0
        if div.any():
            trans = ax.get_xaxis_transform()
            ax.plot(xs[div], np.full(div.sum(), 0.98), "x", color=c, markersize=8, mew=2,
                    transform=trans, clip_on=False, label=f"{hue} = {hv}: diverged")
            for xv, k in zip(xs[div], s["n_diverged"].to_numpy()[div]):
                ax.annotate(str(int(k)), (xv, 0.98), xycoords=trans, textcoords="offset points",
                            xytext=(4, -10), fontsize=7, color=c)
    ax.set_xlabel(("log10 " if logx else "") + _label(x))
    ax.set_ylabel(_label(metric))


def draw(name: str, table: pd.DataFrame, plot: Mapping[str, Any], png: str, pdf: str) -> None:
    """Draw figure ``name`` of an experiment from its table into ``png`` and ``pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawer: Callable = {"sweep": _draw_sweep}[plot["kind"]]
    with plt.rc_context(STYLE):
        fig = drawer(name, table, plot, plt)
        fig.savefig(png)
        fig.savefig(pdf)
        plt.close(fig)


def _draw_sweep(name: str, table: pd.DataFrame, plot: Mapping[str, Any], plt):
    metrics = SWEEP_FIGURES[name]
    x, hue, logx = plot.get("x", "lr"), plot.get("hue", "optimizer"), plot.get("logx", True)
    w, h = STYLE["figure.figsize"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(w * len(metrics), h), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _sweep_panel(ax, table, metric, x, hue, logx)
        if metric.endswith("loss"):
            finite = table[metric][np.isfinite(table[metric])]
            if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
                ax.set_yscale("log")
    axes[0][-1].legend(fontsize=8, loc="best")
    seeds = table["seed"].nunique()
    fig.suptitle(f"{table['experiment'].iloc[0]}: mean $\\pm$ std over {seeds} seed(s), last probe step",
                 fontsize=10)
    return fig

