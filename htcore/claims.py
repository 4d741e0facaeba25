"""Claim verdicts: the study's claims checked on its own tables, never by hand.

Each :class:`Claim` names the experiment tables it reads and a judge that turns them
into one or more verdict rows (one per case: an optimizer, an (optimizer, lr) pair,
a read-out scaling, ...). :func:`judge_all` runs every claim whose experiments were
run and writes ``claims.parquet``; :func:`to_html` draws the page at the front of
the report. A claim that does not hold is a finding, not a failure.

Columns of ``claims.parquet`` (one row per claim and case):

``claim_id``, ``claim`` (the statement), ``experiments``, ``case`` (which part of
the experiment the row judges; ``""`` for all of it), ``readout_scaling`` (for
claims on read-out metrics, one row per scaling; ``""`` otherwise), ``statistic``
(what ``value`` is), ``value``, ``spread`` (its seed spread as said in
``statistic``; NaN when there is one seed or no spread applies), ``threshold``
(the decision rule in words), ``verdict`` (``holds`` / ``does not hold`` /
``inconclusive``, or ``not run`` when an experiment it needs was not run) and
``evidence`` (the numbers behind the verdict).

Conventions: statistics on the spectrum use one row per trained run and probe step
(rows that differ only in evaluation settings are dropped as duplicates); diverged
snapshots are left out of every statistic, and stuck ones (:mod:`htcore.shape`) out
of the shape counts. The thresholds are module constants, each with its reason.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

HOLDS, FAILS, INCONCLUSIVE, NOT_RUN = "holds", "does not hold", "inconclusive", "not run"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_RUN)
TAIL = ("heavy-tailed", "very-heavy-tailed")
COLUMNS = ("claim_id", "claim", "experiments", "case", "readout_scaling", "statistic", "value", "spread",
           "threshold", "verdict", "evidence")

#: A property "holds" for a case when at least this share of its seeds shows it, and
#: "does not hold" when at most SEED_MINORITY does.
SEED_MAJORITY, SEED_MINORITY = 0.8, 0.2
#: "Orders of magnitude" between the learning rates at which Adam and GD spike: at
#: least 100x in every seed holds, under 10x (median) does not.
LR_RATIO_HOLDS, LR_RATIO_FAILS = 100.0, 10.0
#: sim(W, beta*) above which W's top direction is aligned with the teacher (a random
#: direction in d = 1000 gives ~0.03; the study's setting peaks near 0.4).
SIM_ALIGNED = 0.25
#: Squared overlap of the top singular vectors of M_t and W_t above which they align
#: (random unit vectors in d dimensions give ~1/d).
OVERLAP_ALIGNED = 0.5
#: A feature spectrum "shows the spike" when its top eigenvalue is this many times the
#: second (1.02 at initialisation in the study; the same 1.5 as a tail's span).
FEATURE_SPIKE_RATIO = 1.5
#: Trend tests: one-sided significance level of Spearman's rho.
TREND_P = 0.05
#: A change of alpha smaller than this is "no change" (its 95 % CI inside +-0.5).
ALPHA_EQUIVALENCE = 0.5


@dataclass(frozen=True)
class Claim:
    """One claim: its statement, the tables it reads ("<experiment>/<table>") and its judge."""

    id: str
    statement: str
    tables: tuple[str, ...]
    judge: Callable[[Mapping[str, pd.DataFrame]], list[dict]]

    @property
    def experiments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.split("/")[0] for t in self.tables))


# ------------------------------------------------------------------ helpers

def _row(case="", statistic="", value=math.nan, spread=math.nan, threshold="", verdict=INCONCLUSIVE,
         evidence="", readout_scaling="") -> dict:
    return {"case": case, "readout_scaling": readout_scaling, "statistic": statistic, "value": float(value),
            "spread": float(spread), "threshold": threshold, "verdict": verdict, "evidence": evidence}


def by_share(share: float) -> str:
    """holds / does not hold / inconclusive for the share of seeds showing a property."""
    if share >= SEED_MAJORITY:
        return HOLDS
    if share <= SEED_MINORITY:
        return FAILS
    return INCONCLUSIVE


def above(value: float, spread: float, threshold: float) -> str:
    """holds when value - spread > threshold, does not hold when value + spread < threshold."""
    spread = 0.0 if not math.isfinite(spread) else spread
    if not math.isfinite(value):
        return INCONCLUSIVE
    if value - spread > threshold:
        return HOLDS
    if value + spread < threshold:
        return FAILS
    return INCONCLUSIVE


def spectral(table: pd.DataFrame) -> pd.DataFrame:
    """One row per trained run and probe step, diverged snapshots dropped."""
    return table[~table["diverged"].astype(bool)].drop_duplicates(["train_id", "step"])


def last(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of each run's last probe step."""
    return table[table["step"] == table.groupby("eval_id")["step"].transform("max")]


def _cases(df: pd.DataFrame, keys: Sequence[str]):
    for vals, sub in df.groupby(list(keys), sort=True):
        vals = vals if isinstance(vals, tuple) else (vals,)
        yield ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in zip(keys, vals)), sub


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3g}"


def _first_probe(table: pd.DataFrame) -> int:
    steps = sorted(s for s in table["step"].unique() if s > 0)
    return int(steps[0]) if steps else 0


# ------------------------------------------------------------------ judges: the paper's claims

def judge_bulk_spike_after_one_step(t):
    df = spectral(t["esd_evolution/table"])
    step = _first_probe(df)
    out = []
    for case, sub in _cases(df[df["step"] == step], ["optimizer", "lr"]):
        labels = sub["shape_label"]
        share = float((labels == "bulk+spike").mean())
        out.append(_row(case, f"share of seeds labelled bulk+spike at step {step}", share, math.nan,
                        f">= {SEED_MAJORITY:g} holds, <= {SEED_MINORITY:g} does not", by_share(share),
                        f"labels {labels.value_counts().to_dict()}; median outliers {sub['n_spikes'].median():g} "
                        f"({sub['n_detached'].median():g} detached), largest eigenvalue "
                        f"{_fmt(sub['lambda_max'].median() / sub['mp_spike_threshold'].median())}x the MP edge"))
    return out


def spike_lr(df: pd.DataFrame) -> pd.DataFrame:
    """Per (optimizer, seed): the smallest lr whose snapshot has an outlier above the
    MP edge (inf when none in the grid)."""
    has = df.assign(spike=(df["n_spikes"].fillna(0) >= 1) & ~df["shape_label"].isin(["stuck", "diverged"]))
    lrs = has[has["spike"]].groupby(["optimizer", "seed"])["lr"].min()
    grid = has.groupby(["optimizer", "seed"])["lr"].max()
    return pd.DataFrame({"lr_spike": lrs.reindex(grid.index).fillna(np.inf), "lr_max": grid}).reset_index()


def judge_adam_spikes_at_smaller_lr(t):
    df = spectral(t["lr_sweep/table"])
    step = _first_probe(df)
    s = spike_lr(df[df["step"] == step]).pivot(index="seed", columns="optimizer")
    if "adam" not in s["lr_spike"] or "gd" not in s["lr_spike"]:
        return [_row(verdict=INCONCLUSIVE, evidence="needs both gd and adam in the sweep")]
    adam, gd, gd_max = s["lr_spike"]["adam"], s["lr_spike"]["gd"], s["lr_max"]["gd"]
    bound = gd.isin([np.inf])
    ratio = np.where(bound, gd_max, gd) / adam  # a lower bound where GD never spikes
    ratio = pd.Series(ratio, index=s.index)
    med = float(np.median(ratio))
    if np.all(ratio >= LR_RATIO_HOLDS):
        verdict = HOLDS
    elif med < LR_RATIO_FAILS:
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    # a seed where Adam shows no outlier anywhere in the grid has ratio 0 (against the claim)
    quiet = sorted(int(x) for x in adam.index[np.isinf(adam)])
    positive = ratio.to_numpy(dtype=float)[ratio.to_numpy(dtype=float) > 0]
    spread = float(np.std(np.log10(positive), ddof=1)) if len(positive) > 1 else math.nan
    return [_row("", f"lr where GD first shows an outlier / lr where Adam does, at step {step} "
                 "(median over seeds; spread: sd of its log10)", med, spread,
                 f">= {LR_RATIO_HOLDS:g} in every seed holds, median < {LR_RATIO_FAILS:g} does not", verdict,
                 f"Adam lr {sorted(set(adam))}, GD lr {sorted(set(gd))}"
                 + (" (GD never spiked: ratio is a lower bound)" if bound.any() else "")
                 + (f"; Adam never spiked in seed(s) {quiet}: ratio 0" if quiet else "")
                 + (f"; log10 ratio {_fmt(math.log10(med))}" if med > 0 else ""))]


def judge_adam_aligns_in_one_step(t):
    df = spectral(t["lr_sweep/table"])
    step = _first_probe(df)
    adam = df[(df["optimizer"] == "adam") & (df["step"] == step)]
    if not len(adam):
        return [_row(verdict=INCONCLUSIVE, evidence="no Adam runs")]
    st = adam.groupby("lr")["sim"].agg(["mean", "std"])
    best = st["mean"].idxmax()
    init = float(df.loc[df["step"] == 0, "sim"].mean())
    m, sd = float(st.loc[best, "mean"]), float(st.loc[best, "std"])
    return [_row("optimizer=adam", f"largest mean sim(W, beta*) over lr at step {step} (spread: seed sd)", m, sd,
                 f"mean - sd > {SIM_ALIGNED:g} holds, mean + sd < {SIM_ALIGNED:g} does not",
                 above(m, sd, SIM_ALIGNED), f"at lr {best:g}; at initialisation {_fmt(init)}; per lr "
                 + ", ".join(f"{lr:g}: {_fmt(v)}" for lr, v in st["mean"].items()))]


def spearman(x: np.ndarray, y: np.ndarray, alternative: str = "less") -> tuple[float, float]:
    """Spearman's rho and its one-sided p-value for a negative trend (``greater``: positive)."""
    from scipy import stats

    if len(x) < 3 or np.unique(x).size < 2:
        return math.nan, math.nan
    res = stats.spearmanr(x, y, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def judge_heavier_tails_at_larger_lr(t):
    df = last(spectral(t["lr_sweep/table"]))
    out = []
    for case, sub in _cases(df[df["ks_status"] == "ok"], ["optimizer"]):
        rho, p = spearman(np.log10(sub["lr"].to_numpy(dtype=float)), sub["ks_alpha"].to_numpy(dtype=float))
        if not math.isfinite(rho):
            verdict = INCONCLUSIVE
        elif rho < 0 and p < TREND_P:
            verdict = HOLDS
        elif rho >= 0 or p > 1 - TREND_P:
            verdict = FAILS
        else:
            verdict = INCONCLUSIVE
        means = sub.groupby("lr")["ks_alpha"].mean()
        out.append(_row(case, f"Spearman rho of PL_Alpha_KS against log10 lr at the last step, over seeds "
                        f"and lrs (n = {len(sub)}; spread: one-sided p)", rho, p,
                        f"rho < 0 with p < {TREND_P:g} holds; rho >= 0 does not", verdict,
                        "mean alpha per lr " + ", ".join(f"{lr:g}: {_fmt(a)}" for lr, a in means.items())))
    return out


def judge_tail_grows_from_spike(t):
    df = spectral(t["esd_evolution/table"])
    out = []
    for case, sub in _cases(df, ["optimizer", "lr"]):
        ok, notes = [], []
        for seed, run in sub.sort_values("step").groupby("seed"):
            steps, labels = run["step"].to_numpy(), run["shape_label"].to_numpy()
            spike = steps[labels == "bulk+spike"]
            tail = steps[np.isin(labels, TAIL)]
            first_s = int(spike[0]) if spike.size else None
            first_t = int(tail[0]) if tail.size else None
            ok.append(first_s is not None and first_t is not None and first_s < first_t)
            notes.append(f"seed {seed}: bulk+spike from step {first_s}, tail from step {first_t}")
        share = float(np.mean(ok))
        out.append(_row(case, "share of seeds whose first bulk+spike step comes before their first "
                        "heavy-tailed step", share, math.nan,
                        f">= {SEED_MAJORITY:g} holds, <= {SEED_MINORITY:g} does not", by_share(share),
                        "; ".join(notes)))
    return out


def test_loss_by_lr(table: pd.DataFrame):
    """Per (optimizer, read-out scaling): the last step's rows and the mean / seed sd of
    the test loss per lr, diverged snapshots dropped; plus the test loss at step 0."""
    rows = table[~table["diverged"].astype(bool)]
    end = last(rows)
    for case, sub in _cases(end, ["optimizer", "readout_scaling"]):
        opt, scaling = case.split(", ")
        st = sub.groupby("lr")["test_loss"].agg(["mean", "std"]).fillna({"std": 0.0})
        sc = scaling.split("=", 1)[1]
        init = float(rows.loc[(rows["step"] == 0) & (rows["readout_scaling"] == sc), "test_loss"].mean())
        yield opt, sc, sub, st, init


def judge_sweet_spot(t):
    out = []
    for opt, scaling, sub, st, _ in test_loss_by_lr(t["lr_sweep/table"]):
        lrs = st.index.to_numpy(dtype=float)
        best = float(st["mean"].idxmin())
        b, sdb = st.loc[best, "mean"], st.loc[best, "std"]
        lo, hi = st.iloc[0], st.iloc[-1]
        sep_lo = lo["mean"] - b > math.hypot(lo["std"], sdb)
        sep_hi = hi["mean"] - b > math.hypot(hi["std"], sdb)
        interior = lrs[0] < best < lrs[-1]
        verdict = HOLDS if interior and sep_lo and sep_hi else (FAILS if not interior else INCONCLUSIVE)
        out.append(_row(opt, "lowest mean test loss over lr at the last step (spread: its seed sd)", b, sdb,
                        "best lr strictly inside the grid and beating both ends by more than their combined "
                        "seed sd holds; best at an end does not", verdict,
                        f"best lr {best:g}; test loss at lr {lrs[0]:g}: {_fmt(lo['mean'])}, at lr {lrs[-1]:g}: "
                        f"{_fmt(hi['mean'])}; baselines: zero {_fmt(sub['baseline_zero'].iloc[0])}, best odd "
                        f"(reachable) {_fmt(sub['baseline_best_odd'].iloc[0])}", readout_scaling=scaling))
    return out


def judge_beats_zero_predictor(t):
    out = []
    for opt, scaling, sub, st, init in test_loss_by_lr(t["lr_sweep/table"]):
        best = st["mean"].idxmin()
        zero = float(sub["baseline_zero"].iloc[0])
        m, sd = float(st.loc[best, "mean"]), float(st.loc[best, "std"])
        out.append(_row(opt, "zero predictor's test MSE minus the lowest mean test loss over lr (spread: "
                        "seed sd)", zero - m, sd, "difference - sd > 0 holds, difference + sd < 0 does not",
                        above(zero - m, sd, 0.0),
                        f"best lr {best:g}: {_fmt(m)}; zero predictor {_fmt(zero)}; best constant "
                        f"{_fmt(sub['baseline_const'].iloc[0])}; best odd (reachable) "
                        f"{_fmt(sub['baseline_best_odd'].iloc[0])}; at initialisation {_fmt(init)}",
                        readout_scaling=scaling))
    return out


def judge_updates_align(t):
    ov, table = t["esd_evolution/overlaps"], t["esd_evolution/table"]
    top = ov[(ov["i"] == 0) & (ov["j"] == 0) & (ov["step"] >= 1) & ov["which"].isin(["U_Wt", "V_Wt"])]
    runs = table.drop_duplicates("train_id")[["train_id", "optimizer", "lr"]]
    top = top.merge(runs, on="train_id")
    out = []
    for case, sub in _cases(top, ["optimizer", "lr"]):
        per_seed = sub.groupby("seed")["overlap"].mean()
        m = float(per_seed.mean())
        sd = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else math.nan
        by_which = sub.groupby("which")["overlap"].mean()
        out.append(_row(case, "top-1 squared overlap of the singular vectors of M_t and W_t (left and "
                        "right, steps >= 1), mean over seeds (spread: seed sd)", m, sd,
                        f"mean - sd > {OVERLAP_ALIGNED:g} holds, mean + sd < {OVERLAP_ALIGNED:g} does not",
                        above(m, sd, OVERLAP_ALIGNED),
                        ", ".join(f"{w}: {_fmt(v)}" for w, v in by_which.items())))
    return out


# ------------------------------------------------------------------ judges: reviewers' questions

def judge_long_horizon_tail(t):
    df = t["long_horizon/table"]
    df = df[~df["diverged"].astype(bool)].drop_duplicates(["train_id", "step"])
    out = []
    for case, sub in _cases(df, ["optimizer", "lr"]):
        steps_t, firsts = [], []
        for seed, run in sub.sort_values("step").groupby("seed"):
            tail = run.loc[run["shape_label"].isin(TAIL), "step"]
            firsts.append(int(tail.iloc[0]) if len(tail) else None)
            steps_t.append(int(run["step"].max()))
        found = [f for f in firsts if f is not None]
        share = len(found) / len(firsts)
        end = sub[sub["step"] == sub["step"].max()]
        start = sub[sub["step"] == 0]
        out.append(_row(case, f"first step with a heavy-tailed label (median over the seeds where one "
                        f"appears; {len(found)} of {len(firsts)} seeds)", float(np.median(found)) if found else math.nan,
                        math.nan, f"a tail within {max(steps_t)} steps in >= {SEED_MAJORITY:g} of seeds holds, "
                        f"in <= {SEED_MINORITY:g} does not", by_share(share),
                        f"last-step labels {end['shape_label'].value_counts().to_dict()}; PL_Alpha_KS "
                        f"{_fmt(start['ks_alpha'].mean())} -> {_fmt(end['ks_alpha'].mean())}; PL_Alpha_Hill "
                        f"{_fmt(start['hill_alpha'].mean())} -> {_fmt(end['hill_alpha'].mean())}; lambda_max x"
                        f"{_fmt(end['lambda_max'].mean() / start['lambda_max'].mean())}; test loss "
                        f"{_fmt(start['test_loss'].mean())} -> {_fmt(end['test_loss'].mean())}"))
    return out


def judge_minibatch_changes_alpha(t):
    keys = ["optimizer", "lr", "seed"]
    cols = keys + ["ks_alpha", "ks_status", "shape_label"]
    full = last(spectral(t["lr_sweep/table"]))[cols]
    mini = last(spectral(t["minibatch_contrast/table"]))[cols]
    pairs = mini.merge(full, on=keys, suffixes=("_mini", "_full"))
    ok = pairs[(pairs["ks_status_mini"] == "ok") & (pairs["ks_status_full"] == "ok")]
    out = []
    for case, sub in _cases(ok, ["optimizer"]):
        diff = (sub["ks_alpha_mini"] - sub["ks_alpha_full"]).to_numpy(dtype=float)
        m = float(diff.mean())
        ci = 1.96 * float(diff.std(ddof=1)) / math.sqrt(len(diff)) if len(diff) > 1 else math.nan
        if math.isfinite(ci) and abs(m) > ci:
            verdict = HOLDS
        elif math.isfinite(ci) and abs(m) + ci < ALPHA_EQUIVALENCE:
            verdict = FAILS
        else:
            verdict = INCONCLUSIVE
        same = sub["shape_label_mini"] == sub["shape_label_full"]
        out.append(_row(case, f"mean change of PL_Alpha_KS at the last step, minibatch minus full batch, over "
                        f"(lr, seed) pairs (n = {len(diff)}; spread: 95 % CI half-width)", m, ci,
                        f"CI excludes 0 holds (noise changes alpha); CI inside +-{ALPHA_EQUIVALENCE:g} does not",
                        verdict, f"shape label unchanged in {int(same.sum())} of {len(same)} pairs; mean change "
                        "per lr " + ", ".join(f"{lr:g}: {_fmt(v)}" for lr, v in
                                              (sub["ks_alpha_mini"] - sub["ks_alpha_full"]).groupby(sub["lr"]).mean().items())))
    return out


def feature_top_ratio(feature_esd: pd.DataFrame) -> pd.DataFrame:
    """lambda_1 / lambda_2 of each feature spectrum (eig of Z^T Z): how far its top
    eigenvalue stands apart. (An MP fit does not apply: tanh features are not iid, and
    their spectrum at initialisation already spills past the MP edge.)"""
    rows = []
    for (eval_id, step), g in feature_esd.groupby(["eval_id", "step"]):
        top = np.sort(g["eigenvalue"].to_numpy(dtype=float))[-2:]
        ratio = float(top[-1] / top[-2]) if top.size == 2 and top[-2] > 0 else math.nan
        rows.append({"eval_id": eval_id, "step": step, "feature_ratio": ratio})
    return pd.DataFrame(rows)


def judge_features_show_spike(t):
    table, fe = t["esd_evolution/table"], t["esd_evolution/feature_esd"]
    df = table[~table["diverged"].astype(bool)].merge(feature_top_ratio(fe), on=["eval_id", "step"])
    init = df[df["step"] == 0].set_index("eval_id")["feature_ratio"]
    df = df.assign(init=df["eval_id"].map(init))
    out = []
    for case, sub in _cases(df[(df["step"] >= 1) & (df["n_detached"].fillna(0) >= 1)], ["optimizer", "lr"]):
        share = float((sub["feature_ratio"] >= FEATURE_SPIKE_RATIO).mean())
        out.append(_row(case, "share of snapshots with a detached spike in W (steps >= 1) whose feature ESD has "
                        f"a detached top eigenvalue (lambda_1 / lambda_2 >= {FEATURE_SPIKE_RATIO:g})", share,
                        math.nan, f">= {SEED_MAJORITY:g} holds, <= {SEED_MINORITY:g} does not", by_share(share),
                        f"{len(sub)} snapshots; feature lambda_1/lambda_2 median {_fmt(sub['feature_ratio'].median())} "
                        f"(range {_fmt(sub['feature_ratio'].min())}-{_fmt(sub['feature_ratio'].max())}), at "
                        f"initialisation {_fmt(sub['init'].median())}; by step "
                        + ", ".join(f"{st}: {_fmt(v)}" for st, v in sub.groupby("step")["feature_ratio"].median().items())))
    return out


#: Every claim, in the order of the report page.
# ------------------------------------------------------------------ judges: beyond the paper

#: Spearman rho of the outlier count against k above which the count tracks k, below
#: which it does not (the rank's ordering over seeds x k, one-sided)
RANK_RHO_HOLDS, RANK_RHO_FAILS = 0.7, 0.3
#: sign-GD's spike learning rate within this factor of Adam's (either way) reproduces it
SIGN_LR_FACTOR = 10.0


def judge_spikes_track_teacher_rank(t):
    # the spikes are the outliers detached from the bulk (n_detached); the MP edge group
    # of a soft edge (n_edge, dozens for Adam) is not a count of spikes
    df = spectral(t["teacher_rank/table"])
    step = _first_probe(df)
    at = df[df["step"] == step]
    out = []
    for case, sub in _cases(at, ["optimizer", "lr"]):
        k = sub["teacher_k"].to_numpy(dtype=float)
        count = sub["n_detached"].fillna(0).to_numpy(dtype=float)
        if np.unique(k).size < 2:
            rho, p = math.nan, math.nan
        elif np.unique(count).size == 1:  # the same count for every k: no association
            rho, p = 0.0, 1.0
        else:
            rho, p = spearman(k, count, alternative="greater")
        per_k = sub.groupby("teacher_k")[["n_detached", "n_spikes"]].median()
        if not np.isfinite(rho):
            verdict = INCONCLUSIVE
        elif rho >= RANK_RHO_HOLDS and p < 0.05:
            verdict = HOLDS
        elif rho <= RANK_RHO_FAILS:
            verdict = FAILS
        else:
            verdict = INCONCLUSIVE
        out.append(_row(case, f"Spearman rho of the number of spikes (outliers detached from the MP bulk) at step "
                        f"{step} against the teacher's k, over seeds and k (spread: one-sided p)", rho, p,
                        f">= {RANK_RHO_HOLDS:g} with p < 0.05 holds, <= {RANK_RHO_FAILS:g} does not", verdict,
                        "median spikes (all outliers) per k: " + ", ".join(
                            f"k={int(kk)}: {_fmt(r.n_detached)} ({_fmt(r.n_spikes)})" for kk, r in per_k.iterrows())))
    return out


def judge_tail_grows_for_every_rank(t):
    df = spectral(t["teacher_rank/table"])
    out = []
    for case, sub in _cases(df[df["teacher_k"] > 1], ["optimizer", "lr"]):
        ok, notes = [], []
        for (k, seed), run in sub.sort_values("step").groupby(["teacher_k", "seed"]):
            labels = run["shape_label"].to_numpy()
            grew = bool(np.isin(labels[-1], TAIL)) and "bulk+spike" in set(labels[:-1])
            ok.append(grew)
            notes.append(f"k={k} seed {seed}: {labels[1] if len(labels) > 1 else labels[0]} -> {labels[-1]}")
        share = float(np.mean(ok)) if ok else math.nan
        out.append(_row(case, "share of runs with k > 1 that are bulk+spike at some step and heavy-tailed at "
                        "the last", share, math.nan, f">= {SEED_MAJORITY:g} holds, <= {SEED_MINORITY:g} does not",
                        by_share(share) if ok else INCONCLUSIVE, "; ".join(notes)))
    return out


def judge_sign_gd_spikes_like_adam(t):
    df = spectral(t["optimizer_family/table"])
    step = _first_probe(df)
    s = spike_lr(df[df["step"] == step]).pivot(index="seed", columns="optimizer")
    if not {"adam", "sign_gd"} <= set(s["lr_spike"].columns):
        return [_row(verdict=INCONCLUSIVE, evidence="needs adam and sign_gd in the sweep")]
    adam, sign = s["lr_spike"]["adam"], s["lr_spike"]["sign_gd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (sign / adam).to_numpy(dtype=float)
    med = float(np.median(ratio))
    within = (ratio <= SIGN_LR_FACTOR) & (ratio >= 1 / SIGN_LR_FACTOR)
    if np.all(within):
        verdict = HOLDS
    elif np.isfinite(med) and (med >= SIGN_LR_FACTOR**2 or med <= SIGN_LR_FACTOR**-2) or np.isinf(med):
        verdict = FAILS
    else:
        verdict = INCONCLUSIVE
    gd = s["lr_spike"]["gd"] if "gd" in s["lr_spike"] else pd.Series(dtype=float)
    return [_row("", f"lr where sign-GD first shows an outlier / lr where Adam does, at step {step} "
                 "(median over seeds)", med, math.nan,
                 f"within x{SIGN_LR_FACTOR:g} either way in every seed holds, beyond x{SIGN_LR_FACTOR**2:g} "
                 "does not", verdict,
                 f"sign-GD lr {sorted(set(sign))}, Adam lr {sorted(set(adam))}, GD lr {sorted(set(gd))}")]


CLAIMS: tuple[Claim, ...] = (
    Claim("bulk_spike_one_step", "After one large step the spectrum of W is Bulk+Spike (an MP bulk plus "
          "outliers).", ("esd_evolution/table",), judge_bulk_spike_after_one_step),
    Claim("adam_spikes_at_smaller_lr", "Adam reaches the spike at learning rates orders of magnitude smaller "
          "than GD.", ("lr_sweep/table",), judge_adam_spikes_at_smaller_lr),
    Claim("adam_aligns_in_one_step", "With a large enough step, Adam aligns W's top singular direction with "
          "beta* in one step.", ("lr_sweep/table",), judge_adam_aligns_in_one_step),
    Claim("heavier_tails_at_larger_lr", "Over the 10 steps, larger learning rates give heavier tails "
          "(smaller alpha).", ("lr_sweep/table",), judge_heavier_tails_at_larger_lr),
    Claim("tail_grows_from_spike", "The tail grows from the spike: Bulk+Spike first, heavy-tailed later.",
          ("esd_evolution/table",), judge_tail_grows_from_spike),
    Claim("test_loss_sweet_spot", "Test loss is best at intermediate learning rates; very large ones hurt.",
          ("lr_sweep/table",), judge_sweet_spot),
    Claim("beats_zero_predictor", "The best read-out beats predicting zero (honest baseline).",
          ("lr_sweep/table",), judge_beats_zero_predictor),
    Claim("updates_align_with_weights", "The top singular vectors of the updates M_t align with those of "
          "W_t.", ("esd_evolution/table", "esd_evolution/overlaps"), judge_updates_align),
    Claim("long_horizon_tail", "Reviewers: a heavy tail emerges slowly without a large step (10,000 small "
          "steps).", ("long_horizon/table",), judge_long_horizon_tail),
    Claim("minibatch_changes_alpha", "Reviewers: gradient noise (minibatches) changes alpha at equal "
          "learning rate.", ("lr_sweep/table", "minibatch_contrast/table"), judge_minibatch_changes_alpha),
    Claim("features_show_spike", "Reviewers: a spike in W shows up in the features' ESD.",
          ("esd_evolution/table", "esd_evolution/feature_esd"), judge_features_show_spike),
    Claim("spikes_track_teacher_rank", "Beyond the paper: with a k-direction teacher, the number of outliers "
          "after one step tracks k.", ("teacher_rank/table",), judge_spikes_track_teacher_rank),
    Claim("tail_grows_for_every_rank", "Beyond the paper: with k > 1 teacher directions the tail still grows "
          "from the spikes.", ("teacher_rank/table",), judge_tail_grows_for_every_rank),
    Claim("sign_gd_spikes_like_adam", "Beyond the paper: sign-GD (Adam without moments) reaches the spike at "
          "Adam's small learning rates.", ("optimizer_family/table",), judge_sign_gd_spikes_like_adam),
)


def tables_needed(selected: Sequence[str]) -> list[str]:
    """The "<experiment>/<table>" names the claims of the selected experiments read."""
    return list(dict.fromkeys(t for c in CLAIMS if set(c.experiments) <= set(selected) for t in c.tables))


def readout_dependence(rows: pd.DataFrame) -> dict:
    """The meta-claim: which verdicts change between read-out scalings."""
    per = rows[rows["readout_scaling"] != ""]
    changed = []
    for (cid, case), g in per.groupby(["claim_id", "case"]):
        if g["verdict"].nunique() > 1:
            changed.append(f"{cid} [{case}]: " + ", ".join(f"{r.readout_scaling} {r.verdict}" for r in g.itertuples()))
    n = per.groupby(["claim_id", "case"]).ngroups
    if not n or per["readout_scaling"].nunique() < 2:
        verdict, evidence = NOT_RUN, "needs lr_sweep with both read-out scalings"
    else:
        verdict, evidence = (HOLDS if not changed else FAILS), ("; ".join(changed) or f"all {n} agree")
    return {"claim_id": "readout_scaling_robust", "claim": "Reviewers: the verdicts do not depend on the read-out "
            "scaling (spec tanh(XW^T/sqrt d) vs the authors' tanh(XW^T/d)).", "experiments": "lr_sweep",
            **_row("", "verdicts on read-out metrics that differ between the scalings", len(changed), math.nan,
                   "none differ holds; any differs does not", verdict, evidence)}


def judge_all(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every claim's verdict rows from the experiment tables at hand ("<exp>/<table>" -> frame)."""
    rows = []
    for c in CLAIMS:
        head = {"claim_id": c.id, "claim": c.statement, "experiments": ", ".join(c.experiments)}
        if not all(name in tables for name in c.tables):
            rows.append({**head, **_row(verdict=NOT_RUN, evidence="experiment(s) not run: " + ", ".join(
                e for e in c.experiments if not any(n.startswith(e + "/") for n in tables)))})
            continue
        for r in c.judge(tables) or [_row(verdict=INCONCLUSIVE, evidence="no rows to judge")]:
            rows.append({**head, **r})
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out = pd.concat([out, pd.DataFrame([readout_dependence(out)])], ignore_index=True)
    return out[list(COLUMNS)]


_COLORS = {HOLDS: "#c7e9c0", FAILS: "#fcbba1", INCONCLUSIVE: "#fee391", NOT_RUN: "#e0e0e0"}


def to_html(claims: pd.DataFrame) -> str:
    """A self-contained HTML page of the verdicts (the report's front page of answers)."""
    counts = claims["verdict"].value_counts()
    head = ("<h1>Claim verdicts</h1><p>Computed by <code>htcore.claims</code> from the experiment tables "
            "(<code>results/claims.parquet</code>); the rule behind each verdict is in its row. "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".</p>")
    cells = ["claim", "case", "readout_scaling", "statistic", "value", "spread", "threshold", "verdict", "evidence"]
    rows = []
    for r in claims.itertuples():
        tds = []
        for c in cells:
            v = getattr(r, c)
            text = _fmt(v) if isinstance(v, float) else str(v)
            style = f' style="background:{_COLORS.get(r.verdict, "#fff")}"' if c == "verdict" else ""
            tds.append(f"<td{style}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Claim verdicts</title><style>"
            "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}</style></head><body>" + head
            + "<table><tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>" + "".join(rows)
            + "</table></body></html>")
