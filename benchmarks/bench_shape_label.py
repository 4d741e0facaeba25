"""Benchmark: accuracy of the spectrum shape label on spectra of known shape.

Labels every case of the synthetic suite (:mod:`htcore.synthetic`) at paper size
(W of 1500 x 1000): pure MP; k in {1, 3, 10, 30, 100} spikes at 2x, 4x, 10x the
BBP threshold and spread log-uniformly over 2-10x; an MP bulk with a Pareto tail of
mass {0.02, 0.05, 0.1} x alpha {2.5, 3.5, 5}; iid Student-t entries, nu in {1.5, 2,
2.5, 3}. Each case's eigenvalues are drawn once per seed and labelled by both

* the current rule, ``htcore.shape.tail_summary(eigs, h, d)["shape_label"]``, and
* the previous rule, ``htcore/shape.py`` as of commit 63cc56d (``--old-rev``), read
  with ``git show`` and imported as a separate module (it uses the current
  ``htcore.tails``; only the failed-fit sentinels of that API changed).

Prints (1) the confusion matrix of the current rule (true label rows x predicted
label columns, counts, overall accuracy); (2) one line per case: its predicted
labels with counts, and the medians over seeds of n_spikes, n_edge, n_detached,
mp_edge_span, mp_ks and ks_alpha, so that misses can be read (``*`` marks a case
with any miss); (3) the confusion matrix of the previous rule; and the median time
of one ``tail_summary`` call (no bootstrap) for both rules. BLAS is pinned to one
thread.

    .venv/bin/python benchmarks/bench_shape_label.py [--seeds 3] [--small] [--old-rev 63cc56d]

``--small`` runs the same suite at 600 x 400 (a smoke test, ~20 s).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from htcore import shape, synthetic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRUTHS = ("random-like", "bulk+spike", "heavy-tailed", "very-heavy-tailed")
SHORT = {"random-like": "random", "bulk+spike": "spike", "heavy-tailed": "HT",
         "very-heavy-tailed": "VHT", "fit-failed": "failed", "stuck": "stuck",
         "diverged": "diverged"}
MEDIANS = (("n_spikes", "spk", "{:.0f}"), ("n_edge", "edge", "{:.0f}"),
           ("n_detached", "det", "{:.0f}"), ("mp_edge_span", "span", "{:.2f}"),
           ("mp_ks", "mp_ks", "{:.3f}"), ("ks_alpha", "a_KS", "{:.2f}"))


def load_old_shape(rev: str):
    """``htcore/shape.py`` at git revision ``rev`` as its own module object."""
    src = subprocess.run(["git", "show", f"{rev}:htcore/shape.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    name = f"htcore_shape_{rev}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(src)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # dataclasses look the module up while it executes
        spec.loader.exec_module(mod)
    return mod


def timed(f, *args):
    t = time.perf_counter()
    out = f(*args)
    return time.perf_counter() - t, out


def num(v) -> float:
    """A row value as a float (None, a failed fit's null, as NaN)."""
    return float("nan") if v is None else float(v)


def confusion(title: str, pairs: list[tuple[str, str]]) -> None:
    """Print truth rows x predicted columns, with per-row and overall accuracy."""
    counts = Counter(pairs)
    preds = [lab for lab in shape.LABELS if lab in TRUTHS or any(p == lab for _, p in pairs)]
    preds += sorted({p for _, p in pairs} - set(preds))
    w = max(len(p) for p in preds) + 2
    print(title)
    corner = "truth \\ predicted"
    print(f"  {corner:<20}" + "".join(f"{p:>{w}}" for p in preds) + f"{'n':>6}{'acc':>8}")
    for t in TRUTHS:
        n = sum(counts[(t, p)] for p in preds)
        if not n:
            continue
        print(f"  {t:<20}" + "".join(f"{counts[(t, p)]:>{w}}" for p in preds)
              + f"{n:>6}{counts[(t, t)] / n:>8.1%}")
    right = sum(counts[(t, t)] for t in TRUTHS)
    print(f"  overall accuracy: {right}/{len(pairs)} = {right / len(pairs):.1%}")


def label_counts(labels: list[str]) -> str:
    return " ".join(f"{SHORT.get(k, k)}:{v}" for k, v in Counter(labels).most_common())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per case (default 3)")
    ap.add_argument("--small", action="store_true", help="600 x 400 instead of 1500 x 1000")
    ap.add_argument("--old-rev", default="63cc56d", help="git revision of the previous rule")
    args = ap.parse_args()

    h, d = (600, 400) if args.small else (1500, 1000)
    old = load_old_shape(args.old_rev)
    cases = list(synthetic.suite(h, d, ks=(1, 3, 10, 30, 100), strengths=(2.0, 4.0, 10.0),
                                 masses=(0.02, 0.05, 0.1), alphas=(2.5, 3.5, 5.0),
                                 nus=(1.5, 2.0, 2.5, 3.0)))
    print(f"shape label on the synthetic suite: W {h} x {d}, {len(cases)} cases x "
          f"{args.seeds} seeds = {len(cases) * args.seeds} spectra; previous rule = "
          f"htcore/shape.py at {args.old_rev}")

    new_pairs, old_pairs, lines, t_new, t_old = [], [], [], [], []
    t0 = time.perf_counter()
    for case in cases:
        rows, olds = [], []
        for seed in range(args.seeds):
            eigs = case.make(seed)
            dt, row = timed(shape.tail_summary, eigs, h, d)
            t_new.append(dt)
            dt, orow = timed(old.tail_summary, eigs, h, d)
            t_old.append(dt)
            rows.append(row)
            olds.append(orow["shape_label"])
        labels = [r["shape_label"] for r in rows]
        new_pairs += [(case.truth, lab) for lab in labels]
        old_pairs += [(case.truth, lab) for lab in olds]
        med = [fmt.format(np.nanmedian([num(r[key]) for r in rows])) if any(r[key] is not None
               and math.isfinite(num(r[key])) for r in rows) else "-" for key, _, fmt in MEDIANS]
        miss = "*" if any(lab != case.truth for lab in labels) else " "
        lines.append((miss, case.family, case.setting, SHORT[case.truth], label_counts(labels),
                      *med, label_counts(olds)))
    elapsed = time.perf_counter() - t0

    print()
    confusion("(1) current rule (htcore.shape): confusion matrix, counts", new_pairs)

    print()
    print("(2) per case, current rule: predicted labels (count) and medians over seeds "
          "(* = a miss); last column: previous rule")
    head = ("", "family", "setting", "truth", "predicted", *(m[1] for m in MEDIANS), "previous rule")
    fmt = "{:<1} {:<8}{:<24}{:<8}{:<20}" + "{:>6}{:>6}{:>6}{:>7}{:>7}{:>7}" + "  {:<20}"
    print(fmt.format(*head))
    for line in lines:
        print(fmt.format(*line))

    print()
    confusion(f"(3) previous rule ({args.old_rev}): confusion matrix, counts", old_pairs)

    print()
    print(f"tail_summary per call (median of {len(t_new)}, no bootstrap): current "
          f"{1e3 * float(np.median(t_new)):.2f} ms, previous {1e3 * float(np.median(t_old)):.2f} ms; "
          f"whole run {elapsed:.0f} s (spectra included)")


if __name__ == "__main__":
    main()
