"""Figures of an experiment, drawn from its tidy tables (htcore.collect).

One consistent style (:data:`STYLE`, :data:`PALETTE`); every figure is written as
PNG and PDF. :data:`FIGURE_SETS` names the figures of each plot kind and
:data:`FIGURE_TABLES` the experiment tables each one reads; the workflow makes one
job per (experiment, figure).

Conventions shared by all figures:

* a *group* is one value of the experiment's ``hue`` parameters (e.g. optimizer,
  or optimizer + lr); lines are groups, bands are mean +- std over seeds;
* alpha panels add the fits' own 95 % confidence band (bootstrap CI when the tail
  stage ran with ``bootstrap: true``, else alpha +- 1.96 SE) as a hatched band;
* snapshots of diverged runs have no value; where any seed diverged a cross is
  drawn on the top edge of the panel, labelled with the number of diverged seeds;
* every loss panel carries the loss baselines of :mod:`htcore.baselines` (zero
  predictor, best constant, best odd predictor = the lowest reachable test MSE) as
  grey reference lines, or one set per group in its colour when they differ;
* an optional ``style`` parameter (``readout_scaling`` or ``reg_lambda``) draws its
  values as line styles (solid, dashed, ...) on the evaluation metrics
  (:data:`EVAL_METRICS`); spectral metrics do not depend on it and are drawn once.

Kinds:

``sweep``      metrics at the last probe step against a parameter ``x`` (log10 if
               ``logx``); optional ``compare_with`` experiment drawn dashed.
``steps``      metrics against the step (symlog if ``logx``).
``evolution``  ``steps`` plus ESD histograms, update singular values, overlap maps,
               the feature ESD and a phase diagram over steps.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

STYLE = {
    "figure.figsize": (4.6, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 7,
    "lines.linewidth": 1.6,
    "lines.markersize": 3.5,
}
PALETTE = ["#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#00798c", "#8c564b", "#7f7f7f"]
LABEL_COLORS = {"random-like": "#d9d9d9", "bulk+spike": "#9ecae1", "heavy-tailed": "#fdae6b",
                "very-heavy-tailed": "#e6550d", "too-small": "#f0f0f0", "diverged": "#404040",
                "fit-failed": "#ffffff"}
SHAPE_ORDER = list(LABEL_COLORS)
#: How the phase diagram marks a cell's training state (htcore.state), over its colour
#: (the shape): hatching, and the state's name in the legend.
STATE_HATCH = {"saturated": "//", "blown-up": "xx"}

LABELS = {
    "train_loss": "read-out train loss", "test_loss": "read-out test loss", "kta": "KTA",
    "sim": r"sim$(W, \beta^*)$", "hill_alpha": r"PL_Alpha_Hill $\alpha$", "ks_alpha": r"PL_Alpha_KS $\alpha$",
    "student_loss": "network training loss", "lambda_max": r"$\lambda_{max}$", "stable_rank": "stable rank",
    "n_spikes": "outliers above the MP edge", "lr": "learning rate", "step": "step",
}

#: per-step and sweep figures: name -> metrics drawn, one panel each
METRIC_FIGURES = {
    "losses": ["train_loss", "test_loss"], "kta": ["kta"], "sim": ["sim"],
    "alpha_hill": ["hill_alpha"], "alpha_ks": ["ks_alpha"],
    "losses_steps": ["train_loss", "test_loss", "student_loss"],
    "metrics_steps": ["kta", "sim"],
    "alpha_steps": ["hill_alpha", "ks_alpha"],
    "spectrum_steps": ["lambda_max", "stable_rank", "n_spikes"],
}
FIGURE_SETS = {
    "sweep": ["losses", "kta", "sim", "alpha_hill", "alpha_ks", "phase_diagram", "one_step"],
    "steps": ["losses_steps", "metrics_steps", "alpha_steps", "spectrum_steps", "one_step"],
    "surgery": ["surgery", "alpha_steps", "spectrum_steps"],
    "evolution": ["esd_init_final", "esd_steps", "alpha_steps", "losses_steps", "metrics_steps",
                  "spectrum_steps", "update_sv", "overlap_maps", "feature_esd", "phase_diagram"],
}
#: figure name -> experiment tables it reads (besides "table", always read)
FIGURE_TABLES = {"surgery": ["surgery"], "esd_init_final": ["esd"], "esd_steps": ["esd"], "update_sv": ["update_sv"],
                 "overlap_maps": ["overlaps"], "feature_esd": ["feature_esd"]}


def figure_names(plot: Mapping[str, Any]) -> list[str]:
    """Names of the figures an experiment with this ``plot`` setting produces."""
    return FIGURE_SETS[plot["kind"]]


def figure_tables(kind: str, name: str) -> list[str]:
    """Experiment tables figure ``name`` of plot ``kind`` reads."""
    if name not in FIGURE_SETS[kind]:
        raise KeyError(f"plot kind {kind!r} has no figure {name!r}")
    return ["table"] + FIGURE_TABLES.get(name, [])


def _label(name: str) -> str:
    return LABELS.get(name, name)


def group_labels(df: pd.DataFrame, hue: list[str]) -> pd.Series:
    """One text label per row naming its hue group, e.g. ``optimizer=adam, lr=1``."""
    if not hue:
        return pd.Series(df["experiment"].to_numpy(), index=df.index)

    def fmt(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    return df[hue].apply(lambda r: ", ".join(f"{k}={fmt(r[k])}" for k in hue), axis=1)


def _groups(df: pd.DataFrame, hue: list[str]):
    """(label, sub-frame) per hue group, in sorted parameter order."""
    df = df.assign(_group=group_labels(df, hue))
    order = df.sort_values(hue or ["experiment"])["_group"].drop_duplicates()
    return [(g, df[df["_group"] == g]) for g in order]


def last_step(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of each run's last probe step."""
    return table[table["step"] == table.groupby("eval_id")["step"].transform("max")]


def seed_stats(df: pd.DataFrame, metric: str, by: str) -> pd.DataFrame:
    """Per value of ``by``: mean, std, count over seeds of finite values, diverged
    seeds, and the mean 95 % CI of alpha fits (for alpha metrics)."""
    g = df.groupby(by, sort=True)
    out = g[metric].agg(mean="mean", std="std", count="count")
    out["std"] = out["std"].fillna(0.0)
    out["n_diverged"] = g["diverged"].sum()
    prefix = metric[: -len("_alpha")] if metric.endswith("_alpha") else None
    if prefix:
        lo, hi = _alpha_ci(df, prefix)
        out["ci_low"] = lo.groupby(df[by]).mean()
        out["ci_high"] = hi.groupby(df[by]).mean()
    return out.reset_index()


def _alpha_ci(df: pd.DataFrame, prefix: str) -> tuple[pd.Series, pd.Series]:
    """Per-fit 95 % CI: bootstrap CI if present, else alpha +- 1.96 SE."""
    a, se = df[f"{prefix}_alpha"], df[f"{prefix}_se"]
    lo, hi = a - 1.96 * se, a + 1.96 * se
    boot_lo, boot_hi = df.get(f"{prefix}_alpha_ci_low"), df.get(f"{prefix}_alpha_ci_high")
    if boot_lo is not None:
        lo, hi = boot_lo.where(boot_lo.notna(), lo), boot_hi.where(boot_hi.notna(), hi)
    return lo, hi


def _line_with_bands(ax, xs, stats: pd.DataFrame, color, label, linestyle="-"):
    m, sd = stats["mean"].to_numpy(), stats["std"].to_numpy()
    ax.plot(xs, m, linestyle=linestyle, marker="o", color=color, label=label)
    ax.fill_between(xs, m - sd, m + sd, color=color, alpha=0.18, linewidth=0)
    if "ci_low" in stats and linestyle == "-":
        ax.fill_between(xs, stats["ci_low"], stats["ci_high"], facecolor="none", edgecolor=color,
                        hatch="////", linewidth=0, alpha=0.5)
    div = stats["n_diverged"].to_numpy() > 0
    if div.any():
        trans = ax.get_xaxis_transform()
        ax.plot(np.asarray(xs)[div], np.full(div.sum(), 0.98), "x", color=color, markersize=8, mew=2,
                transform=trans, clip_on=False, label=f"{label}: diverged")
        for xv, k in zip(np.asarray(xs)[div], stats["n_diverged"].to_numpy()[div]):
            ax.annotate(str(int(k)), (xv, 0.98), xycoords=trans, textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color=color)


def _maybe_log_y(ax, values: pd.Series, metric: str) -> None:
    v = values[np.isfinite(values)]
    if metric in ("lambda_max", "student_loss") or (
            metric.endswith("loss") and len(v) and v.min() > 0 and v.max() / v.min() > 100):
        ax.set_yscale("log")


def _panels(plt, n: int, rows: int = 1):
    w, h = STYLE["figure.figsize"]
    cols = int(np.ceil(n / rows))
    fig, axes = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    return fig, axes.ravel()


# ------------------------------------------------------------------ sweep kind

#: metrics that depend on the evaluation settings (reg_lambda, readout_scaling); the
#: others (spectra, fits, the network's own loss) are the same for every setting
EVAL_METRICS = ("train_loss", "test_loss", "zero_loss", "reg_lambda_used", "kta", "sim")
#: evaluation-only parameters: a compared experiment is restricted to this one's values
EVAL_PARAMS = ("reg_lambda", "readout_scaling")
LINESTYLES = ["-", "--", ":", "-."]
#: loss baselines (htcore.baselines) drawn on every loss panel
BASELINES = {"baseline_zero": ("zero predictor", (0, (1, 1))),
             "baseline_const": ("best constant", (0, (5, 2))),
             "baseline_best_odd": ("best odd predictor (reachable)", (0, (5, 2, 1, 2)))}


def _styled(df: pd.DataFrame, metric: str, plot: Mapping[str, Any] | None):
    """(label suffix, line style, rows) per value of the plot's ``style`` parameter
    (``plot["style_values"]``, in the experiment's order); one entry, at the first
    value, for metrics that do not depend on it."""
    style = plot.get("style") if plot else None
    if not style:
        return [("", "-", df)]
    values = [tuple(v) for v in plot["style_values"]]
    if metric not in EVAL_METRICS:
        return [("", "-", style_rows(df, style, values[0]))]
    return [("".join(f", {s}={x}" for s, x in zip(style, v)), LINESTYLES[i % len(LINESTYLES)],
             style_rows(df, style, v)) for i, v in enumerate(values)]


def style_rows(df: pd.DataFrame, style: list[str], values) -> pd.DataFrame:
    """The rows of ``df`` at one combination of the style parameters' values (compared
    as text: a column that mixes numbers and words, reg_lambda 0.01 and cv, is text)."""
    keep = np.ones(len(df), dtype=bool)
    for s, v in zip(style, values):
        keep &= df[s].astype(str).to_numpy() == _text(v)
    return df[keep]


def _text(v) -> str:
    return format(v, "g") if isinstance(v, float) else str(v)


def _draw_baselines(ax, table: pd.DataFrame, metric: str, hue: list[str]) -> None:
    """Reference lines of the loss baselines on a loss panel: grey when one set of
    baselines holds for the whole experiment, else one per hue group in its colour."""
    if not metric.endswith("loss") or not all(c in table for c in BASELINES):
        return
    per_group = [(g, df[list(BASELINES)].iloc[0]) for g, df in _groups(table, hue)]
    distinct = {tuple(np.round(v.to_numpy(dtype=float), 12)) for _, v in per_group}
    lines = per_group[:1] if len(distinct) == 1 else per_group
    for i, (g, values) in enumerate(lines):
        color = "#777777" if len(lines) == 1 else PALETTE[i % len(PALETTE)]
        for col, (text, dash) in BASELINES.items():
            if np.isfinite(values[col]):
                ax.axhline(values[col], color=color, linestyle=dash, linewidth=0.9,
                           label=text if i == 0 else None)


def _draw_sweep(name, tables, plot, plt):
    if name == "one_step":
        return _draw_one_step(name, tables, plot, plt)
    if name == "phase_diagram":  # labels do not depend on `style`; test loss at its first value
        table = tables["table"]
        rows = table[table["step"] > 0] if (table["step"] > 0).any() else table
        rows = style_rows(rows, plot["style"], plot["style_values"][0]) if plot.get("style") else rows
        return _phase_diagram(rows, plot["hue"], plot["x"], plt, plot.get("logx", True), panels="step")
    metrics = METRIC_FIGURES[name]
    x, hue, logx, style = plot["x"], plot["hue"], plot.get("logx", True), plot.get("style")
    table = tables["table"]
    fig, axes = _panels(plt, len(metrics))
    sources = [(table, False)]
    if "compare" in tables:
        other = tables["compare"]
        for c in EVAL_PARAMS:  # compare like with like: same evaluation settings
            other = other[other[c].astype(str).isin(set(table[c].astype(str)))]
        sources.append((other, True))
    for ax, metric in zip(axes, metrics):
        for src, dashed in sources:
            exp = src["experiment"].iloc[0]
            for i, (g, df) in enumerate(_groups(last_step(src), hue)):
                for suffix, ls, rows in _styled(df, metric, None if dashed else plot):
                    st = seed_stats(rows, metric, x)
                    xs = np.log10(st[x].to_numpy(dtype=float)) if logx else st[x].to_numpy(dtype=float)
                    label = (f"{g} ({exp})" if len(sources) > 1 else g) + suffix
                    _line_with_bands(ax, xs, st, PALETTE[i % len(PALETTE)], label, "--" if dashed else ls)
        init = table.loc[table["step"] == 0, metric].mean()
        if np.isfinite(init) and not (style and metric in EVAL_METRICS):
            ax.axhline(init, color="#555555", linestyle=":", linewidth=1.2, label="initialisation (step 0)")
        _draw_baselines(ax, table, metric, [])
        ax.set_xlabel(("log10 " if logx else "") + _label(x))
        ax.set_ylabel(_label(metric))
        _maybe_log_y(ax, table[metric], metric)
    axes[len(metrics) - 1].legend(loc="best")
    return fig


# ------------------------------------------------------------------ steps kind

def _draw_steps(name, tables, plot, plt):
    if name == "one_step":
        return _draw_one_step(name, tables, plot, plt)
    metrics = METRIC_FIGURES[name]
    table, hue = tables["table"], plot["hue"]
    fig, axes = _panels(plt, len(metrics))
    for ax, metric in zip(axes, metrics):
        for i, (g, df) in enumerate(_groups(table, hue)):
            for suffix, ls, rows in _styled(df, metric, plot):
                st = seed_stats(rows, metric, "step")
                _line_with_bands(ax, st["step"].to_numpy(dtype=float), st, PALETTE[i % len(PALETTE)], g + suffix, ls)
        _draw_baselines(ax, table, metric, hue)
        if plot.get("logx"):
            ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("step" + (" (symlog)" if plot.get("logx") else ""))
        ax.set_ylabel(_label(metric))
        _maybe_log_y(ax, table[metric], metric)
    axes[len(metrics) - 1].legend(loc="best")
    return fig


# ------------------------------------------------------------ one-step theory

def one_step_axis(plot: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The one_step figure's x parameter and its line groups: a sweep's ``x`` and
    ``hue``; for a steps experiment its last hue parameter (n, label_noise_std,
    teacher_k, ...) and the others."""
    if plot["kind"] == "sweep":
        return plot["x"], list(plot["hue"])
    hue = list(plot["hue"])
    return (hue[-1], hue[:-1]) if hue else ("seed", [])


def _draw_one_step(name, tables, plot, plt):
    """Step-1 lambda_max and sim against the x parameter, seeds as bands, the one-step
    theory dashed (htcore.theory), the MP bulk edge dotted, and verticals at the
    predicted BBP (dotted) and detection (dashed) learning rates when x is lr."""
    table = tables["table"]
    x, hue = one_step_axis(plot)
    rows = table[(table["step"] == 1) & ~table["diverged"].astype(bool)].drop_duplicates(["train_id", "step"])
    fig, axes = _panels(plt, 2)
    logx = x == "lr"
    for ax, metric, theory in ((axes[0], "lambda_max", "theory_lambda1"), (axes[1], "sim", "theory_sim")):
        for i, (g, df) in enumerate(_groups(rows, hue)):
            color = PALETTE[i % len(PALETTE)]
            st = seed_stats(df, metric, x)
            xs = st[x].to_numpy(dtype=float)
            xs = np.log10(xs) if logx else xs
            _line_with_bands(ax, xs, st, color, g or "measured")
            if theory in df and df[theory].notna().any():
                th = df.groupby(x, sort=True)[theory].mean()
                tx = np.log10(th.index.to_numpy(dtype=float)) if logx else th.index.to_numpy(dtype=float)
                ax.plot(tx, th.to_numpy(dtype=float), linestyle="--", color=color, marker="x",
                        label=f"{g}, theory" if g else "theory")
            if logx and metric == "lambda_max":
                for col, ls in (("theory_lr_bbp", ":"), ("theory_lr_detect", "--")):
                    v = df[col].dropna() if col in df else pd.Series(dtype=float)
                    if len(v) and np.isfinite(v.iloc[0]):
                        ax.axvline(np.log10(v.iloc[0]), color=color, linestyle=ls, linewidth=0.9,
                                   label=f"{g}: predicted {'BBP' if col.endswith('bbp') else 'detection'} lr")
        if metric == "lambda_max" and "mp_lambda_plus" in rows and len(rows):
            ax.axhline(float(rows["mp_lambda_plus"].median()), color="#777777", linestyle=":", linewidth=1.0,
                       label="MP bulk edge (fitted)")
        ax.set_xlabel(("log10 " if logx else "") + _label(x))
        ax.set_ylabel(_label(metric) + " at step 1")
        _maybe_log_y(ax, rows[metric], metric)
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(loc="best", fontsize=6)
    if not len(rows):
        axes[0].text(0.5, 0.5, "no step-1 snapshot in this experiment", ha="center", transform=axes[0].transAxes)
    return fig


# ------------------------------------------------------------ surgery kind

def _draw_surgery(name, tables, plot, plt):
    if name != "surgery":
        return _draw_steps(name, tables, plot, plt)
    sg = tables["surgery"]
    from htcore.surgery import VARIANTS

    sg = sg[sg["has_tail"].astype(bool)]
    cases = _groups(tables["table"].drop_duplicates("eval_id"), plot["hue"])
    fig, axes = _panels(plt, max(1, len(cases)))
    for ax, (g, runs) in zip(axes, cases):
        part = sg[sg["eval_id"].isin(set(runs["eval_id"]))]
        base = part[part["variant"] == "unedited"].set_index(["eval_id", "step"])["test_loss"]
        for j, v in enumerate(VARIANTS):
            rows = part[part["variant"] == v].set_index(["eval_id", "step"])["test_loss"]
            diff = (rows - base.reindex(rows.index)).dropna().to_numpy(dtype=float)
            ax.scatter(np.full(diff.size, j) + np.linspace(-0.15, 0.15, max(diff.size, 1))[:diff.size], diff,
                       s=12, color=PALETTE[j % len(PALETTE)])
            if diff.size:
                ax.plot([j - 0.25, j + 0.25], [diff.mean()] * 2, color="#333333", linewidth=1.4)
        ax.axhline(0.0, color="#777777", linestyle=":", linewidth=1.0)
        ax.set_xticks(range(len(VARIANTS)))
        ax.set_xticklabels([v.replace("_", " ") for v in VARIANTS], fontsize=7, rotation=20)
        ax.set_ylabel("test loss minus unedited (same seed, same test set)")
        ax.set_title(g, fontsize=8)
        if not len(part):
            ax.text(0.5, 0.5, "no snapshot with a tail", ha="center", transform=ax.transAxes)
    return fig


# -------------------------------------------------------------- evolution kind

def _log_hist(ax, values: np.ndarray, bins: np.ndarray, **kw) -> None:
    dens, edges = np.histogram(values, bins=bins, density=True)
    centers = np.sqrt(edges[:-1] * edges[1:])
    keep = dens > 0
    ax.plot(centers[keep], dens[keep], **kw)


def _log_bins(values: np.ndarray, n: int = 60) -> np.ndarray:
    v = values[np.isfinite(values) & (values > 0)]
    if not len(v):
        return np.logspace(-1, 1, n)
    lo, hi = np.log10(v.min()), np.log10(v.max())
    return np.logspace(lo, hi + 1e-9 + (hi == lo), n)


def _esd_by_group(tables, plot):
    table, esd = tables["table"], tables["esd"]
    runs = table.drop_duplicates("train_id").assign(_group=lambda d: group_labels(d, plot["hue"]))
    return esd.merge(runs[["train_id", "_group"]], on="train_id")


def _draw_esd(name, tables, plot, plt):
    """ESD histograms (log-log), one panel per group, all seeds pooled."""
    key = "feature_esd" if name == "feature_esd" else "esd"
    data = _esd_by_group({"table": tables["table"], "esd": tables[key]}, plot)
    groups = list(dict.fromkeys(data.sort_values("_group")["_group"]))
    fig, axes = _panels(plt, len(groups))
    cmap = plt.get_cmap("viridis")
    for ax, g in zip(axes, groups):
        d = data[data["_group"] == g]
        steps = sorted(d["step"].unique())
        bins = _log_bins(d["eigenvalue"].to_numpy())
        shown = [steps[0], steps[-1]] if name == "esd_init_final" else steps
        for k, s in enumerate(shown):
            vals = d.loc[d["step"] == s, "eigenvalue"].to_numpy()
            vals = vals[np.isfinite(vals) & (vals > 0)]
            if not len(vals):
                continue
            color = (PALETTE[0] if k == 0 else PALETTE[1]) if name == "esd_init_final" else cmap(k / max(1, len(shown) - 1))
            _log_hist(ax, vals, bins, color=color, label=f"step {s}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(g)
        ax.set_xlabel("eigenvalue of " + ("$Z^TZ$" if key == "feature_esd" else "$W^TW$"))
        ax.set_ylabel("density")
        ax.legend(loc="best", ncol=2 if len(shown) > 4 else 1)
    return fig


def _draw_update_sv(name, tables, plot, plt):
    """Singular values of each update M_t (first seed), one panel per group."""
    sv = tables["update_sv"]
    runs = tables["table"].drop_duplicates("train_id").assign(_group=lambda d: group_labels(d, plot["hue"]))
    first = runs[runs["seed"] == runs["seed"].min()]
    fig, axes = _panels(plt, max(1, len(first)))
    cmap = plt.get_cmap("viridis")
    for ax, (_, run) in zip(axes, first.sort_values("_group").iterrows()):
        d = sv[sv["train_id"] == run["train_id"]]
        steps = sorted(d["step"].unique())
        for k, s in enumerate(steps):
            v = d.loc[d["step"] == s].sort_values("index")["singular_value"].to_numpy()
            ax.plot(np.arange(1, len(v) + 1), v, color=cmap(k / max(1, len(steps) - 1)), label=f"$M_{{{s}}}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{run['_group']} (seed {run['seed']})")
        ax.set_xlabel("index i")
        ax.set_ylabel(r"singular value $s_i(M_t)$")
        if steps:
            ax.legend(ncol=2, loc="best")
    return fig


def _draw_overlaps(name, tables, plot, plt):
    """Top-k overlap maps for up to 4 steps per group (first seed)."""
    ov = tables["overlaps"]
    runs = tables["table"].drop_duplicates("train_id").assign(_group=lambda d: group_labels(d, plot["hue"]))
    first = runs[runs["seed"] == runs["seed"].min()].sort_values("_group")
    which = [("U_Wt", r"$|U_{W_t}^T U_{M_t}|^2$"), ("V_Wt", r"$|V_{W_t}^T V_{M_t}|^2$"),
             ("U_Wnext", r"$|U_{W_{t+1}}^T U_{M_t}|^2$"), ("V_Wnext", r"$|V_{W_{t+1}}^T V_{M_t}|^2$")]
    rows = []
    for _, run in first.iterrows():
        d = ov[ov["train_id"] == run["train_id"]]
        steps = sorted(d["step"].unique())
        pick = sorted({steps[i] for i in np.linspace(0, len(steps) - 1, min(4, len(steps))).astype(int)}) if steps else []
        rows += [(run, d[d["step"] == s], s) for s in pick]
    fig, axes = plt.subplots(max(1, len(rows)), 4, figsize=(10, 2.4 * max(1, len(rows))), squeeze=False,
                             layout="constrained")
    im = None
    for r, (run, d, s) in enumerate(rows):
        for c, (w, title) in enumerate(which):
            m = d[d["which"] == w]
            k = int(m["i"].max()) + 1 if len(m) else 1
            M = np.zeros((k, k))
            M[m["i"].to_numpy(), m["j"].to_numpy()] = m["overlap"].to_numpy()
            im = axes[r, c].imshow(M, cmap="magma", vmin=0, vmax=1, origin="upper", interpolation="nearest")
            axes[r, c].set_title(f"{title}, t={s}" if r == 0 or c == 0 else f"t={s}", fontsize=7)
            axes[r, c].grid(False)
            if c == 0:
                axes[r, c].set_ylabel(f"{run['_group']}\nW index i", fontsize=7)
            axes[r, c].set_xlabel("M index j", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, label="squared overlap")
    return fig


def _phase_diagram(df: pd.DataFrame, hue: list[str], x: str, plt, logx: bool = False,
                   panels: str | None = None):
    """Cells over (group, x) coloured by the most common shape label over seeds,
    hatched by the most common training state when it is saturated or blown-up
    (:data:`STATE_HATCH`), annotated with mean PL_Alpha_KS and mean test loss; one panel per value of
    ``panels`` (e.g. the probe step of a sweep), side by side."""
    df = df.assign(_group=group_labels(df, hue))
    groups = list(dict.fromkeys(df.sort_values(hue or ["experiment"])["_group"]))
    xs = sorted(df[x].unique())
    keys = sorted(df[panels].unique()) if panels else [None]
    w, h = max(4.0, 0.95 * len(xs) + 1.5), 0.8 * len(groups) + 1.4
    fig, axes = plt.subplots(1, len(keys), figsize=(w * len(keys), h), squeeze=False)
    for ax, key in zip(axes[0], keys):
        part = df if key is None else df[df[panels] == key]
        for r, g in enumerate(groups):
            for c, xv in enumerate(xs):
                cell = part[(part["_group"] == g) & (part[x] == xv)]
                if not len(cell):
                    continue
                label = cell["shape_label"].value_counts().idxmax()
                state = cell["train_state"].value_counts().idxmax() if "train_state" in cell else ""
                ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor=LABEL_COLORS.get(label, "#fff"),
                                           edgecolor="white", linewidth=2))
                if state in STATE_HATCH:
                    ax.add_patch(plt.Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, fill=False,
                                               hatch=STATE_HATCH[state], edgecolor="#555555", linewidth=0))
                a, tl = cell["ks_alpha"].mean(), cell["test_loss"].mean()
                txt = ("diverged" if cell["diverged"].all() else f"α={a:.2f}\nL={tl:.3g}")
                ax.text(c + 0.5, r + 0.5, txt, ha="center", va="center", fontsize=6.5)
        ax.set_xlim(0, len(xs))
        ax.set_ylim(len(groups), 0)
        ax.set_xticks(np.arange(len(xs)) + 0.5)
        ax.set_xticklabels([f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v) for v in xs],
                           fontsize=7)
        ax.set_yticks(np.arange(len(groups)) + 0.5)
        ax.set_yticklabels(groups if ax is axes[0][0] else [], fontsize=7)
        ax.set_xlabel(_label(x))
        ax.grid(False)
        if key is not None:
            ax.set_title(f"{panels} {key}", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=LABEL_COLORS[k], edgecolor="#999") for k in SHAPE_ORDER]
    handles += [plt.Rectangle((0, 0), 1, 1, fill=False, hatch=hatch, edgecolor="#555555")
                for hatch in STATE_HATCH.values()]
    names = SHAPE_ORDER + [f"state: {k}" for k in STATE_HATCH]
    axes[0][0].legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=5, fontsize=7)
    return fig


def _draw_evolution(name, tables, plot, plt):
    if name in METRIC_FIGURES:
        return _draw_steps(name, tables, plot, plt)
    if name == "phase_diagram":
        return _phase_diagram(tables["table"], plot["hue"], "step", plt)
    return {"esd_init_final": _draw_esd, "esd_steps": _draw_esd, "feature_esd": _draw_esd,
            "update_sv": _draw_update_sv, "overlap_maps": _draw_overlaps}[name](name, tables, plot, plt)


DRAWERS: dict[str, Callable] = {"sweep": _draw_sweep, "steps": _draw_steps, "evolution": _draw_evolution,
                               "surgery": _draw_surgery}


def draw(name: str, tables: Mapping[str, pd.DataFrame], plot: Mapping[str, Any], png: str, pdf: str) -> None:
    """Draw figure ``name`` of an experiment from its tables into ``png`` and ``pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot = {**plot, "hue": list(plot.get("hue", []))}
    with plt.rc_context(STYLE):
        fig = DRAWERS[plot["kind"]](name, tables, plot, plt)
        table = tables["table"]
        note = "bands: mean ± std over seeds" if name in METRIC_FIGURES else "see caption"
        fig.suptitle(f"{table['experiment'].iloc[0]}: {name.replace('_', ' ')} "
                     f"({table['seed'].nunique()} seed(s); {note})", fontsize=9)
        fig.savefig(png)
        fig.savefig(pdf)
        plt.close(fig)
