"""Benchmark: htcore's exact KS (CSN) tail fit vs the naive O(N^2) loop vs `powerlaw`.

Same data for all three: a Pareto sample (alpha = 2.5) and a Marchenko-Pastur sample
(ratio 2/3, the study's 1000 x 1500 shape), N = 1000 and 10000. Prints one table:
wall time per fit (best of several runs for htcore and the naive loop, one run of
`powerlaw.Fit` with the alpha range uncapped), the alpha each returns, whether
htcore's xmin equals the others', and the targets (N=1000 <= 5 ms, N=10000 <= 150 ms).
The `powerlaw` default (alpha capped at 3) is shown for N=1000; pass --full for 10000
too (slow). Also times `tail_summary` (no bootstrap) on a Gaussian 1500 x 1000 ESD.

    .venv/bin/python benchmarks/bench_tails.py [--full] [--no-powerlaw]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from htcore.mp import mp_quantile
from htcore.shape import tail_summary
from htcore.tails import fit_ks, fit_ks_naive

TARGET_MS = {1000: 5.0, 10000: 150.0}


def best_time(f, x, repeats: int) -> tuple[float, object]:
    out, best = None, float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = f(x)
        best = min(best, time.perf_counter() - t)
    return best, out


def powerlaw_fit(x, capped: bool):
    import powerlaw

    kwargs = {} if capped else {"parameter_ranges": {"alpha": [1.0, None]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        fit = powerlaw.Fit(x, discrete=False, verbose=0, **kwargs)
        return time.perf_counter() - t, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also run capped powerlaw at N=10000")
    ap.add_argument("--no-powerlaw", action="store_true", help="skip the powerlaw package")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    rows = []
    for n in (1000, 10000):
        data = {
            "pareto(2.5)": (1.0 - rng.random(n)) ** (-1.0 / 1.5),
            "MP(2/3)": 1500.0 * mp_quantile(rng.random(n), 2 / 3),
        }
        for name, x in data.items():
            fit_ks(x)  # warm-up
            t_fast, fast = best_time(fit_ks, x, 20 if n == 1000 else 5)
            t_naive, naive = best_time(fit_ks_naive, x, 3 if n == 1000 else 1)
            t_pl = a_pl = a_cap = float("nan")
            same_pl = "-"
            if not args.no_powerlaw:
                t_pl, pl = powerlaw_fit(x, capped=False)
                a_pl, same_pl = pl.alpha, str(bool(pl.xmin == fast.xmin))
                if n == 1000 or args.full:
                    a_cap = powerlaw_fit(x, capped=True)[1].alpha
            rows.append((
                name, n, 1e3 * t_fast, 1e3 * t_naive, 1e3 * t_pl, t_naive / t_fast,
                fast.alpha, fast.n_tail, str(naive.xmin == fast.xmin), same_pl, a_pl, a_cap,
                "yes" if 1e3 * t_fast <= TARGET_MS[n] else "NO",
            ))

    head = ("data", "N", "htcore ms", "naive ms", "powerlaw ms", "x naive", "alpha",
            "n_tail", "=naive", "=powerlaw", "pl alpha", "pl capped", "target")
    fmt = "{:<12} {:>6} {:>10} {:>9} {:>12} {:>8} {:>8} {:>7} {:>7} {:>10} {:>9} {:>10} {:>7}"
    print(fmt.format(*head))
    for r in rows:
        print(fmt.format(
            r[0], r[1], f"{r[2]:.2f}", f"{r[3]:.1f}", f"{r[4]:.0f}", f"{r[5]:.0f}x",
            f"{r[6]:.3f}", r[7], r[8], r[9], f"{r[10]:.3f}", f"{r[11]:.3f}", r[12],
        ))
    print("targets: htcore <= 5 ms at N=1000, <= 150 ms at N=10000; 'pl capped' = powerlaw's "
          "default alpha range [0, 3]")
    print("=powerlaw False: powerlaw.Fit silently skips xmin candidates whose numerical alpha fit "
          "it flags (seen for alpha > ~85); its D at htcore's xmin equals htcore's")

    w = np.random.default_rng(1).standard_normal((1500, 1000))
    e = np.linalg.eigvalsh(w.T @ w)
    t_sum, row = best_time(lambda v: tail_summary(v, 1500, 1000), e, 10)
    print(f"tail_summary (Gaussian 1500x1000, no bootstrap): {1e3 * t_sum:.2f} ms "
          f"(target < 20 ms), label {row['shape_label']!r}, Hill alpha {row['hill_alpha']:.2f}")


if __name__ == "__main__":
    main()
