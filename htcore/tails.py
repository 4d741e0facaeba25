"""Power-law tail fits of an eigenvalue spectrum: exact, fast, and checked.

This module reads a heavy-tail exponent ``alpha`` off an empirical spectral density
(ESD) the way docs/science.md ("Tail fitting") defines it, and says how far that number can be
trusted. Everything is NumPy; SciPy is imported lazily, only by
:func:`compare_alternatives` (process start-up time matters in the workflow).

Conventions (every function here follows them)
----------------------------------------------
* Input ``eigs``: the eigenvalues of ``W^T W`` for a weight matrix ``W`` (the squared
  singular values of ``W``), **not** divided by the number of rows or columns. Any
  array-like; it is flattened and converted to ``float64``.
* Non-finite input (NaN or inf anywhere, e.g. a diverged training run) never raises:
  the fit comes back with NaN numbers, ``xmin_index`` and ``n_tail`` None (null in tables) and
  ``status = "non-finite"``.
* Zeros are dropped: values ``lambda <= ZERO_RTOL * lambda_max`` (``ZERO_RTOL =
  1e-12``; this also removes exact zeros and the tiny negative round-off that
  ``eigvalsh`` can return for a rank-deficient ``W``). What remains, sorted ascending,
  is ``lambda_0 <= ... <= lambda_{N-1}`` (0-based here, as in docs/science.md; the 1-based form is
  ``lambda_1..lambda_N``). ``PowerLawFit.xmin_index`` indexes this array and
  ``PowerLawFit.n_eigs`` is its length ``N``.
* Candidate ``xmin = lambda_k`` has tail ``lambda_k..lambda_{N-1}``, ``n_t = N - k``
  points, and the continuous MLE (docs/science.md; Clauset, Shalizi & Newman 2009, eq. 3.1)
  ``alpha = 1 + n_t / sum_{j>=k} ln(lambda_j / lambda_k)``, standard error
  ``se = (alpha - 1) / sqrt(n_t)``, ``alphahat = alpha * log10(lambda_max)``.
* KS distance, exactly as docs/science.md and the authors' code (and the ``powerlaw`` package)
  define it: ``D = max_{j>=k} | 1 - (lambda_j/lambda_k)^(1-alpha) - (j-k)/n_t |`` --
  the empirical CDF is taken just *below* each point (``(j-k)/n_t``), so this is the
  one-sided form, not the textbook two-sided KS statistic.
* Ties: an ``xmin`` candidate is a *distinct* value, at the first index of its run of
  equal values, so the tail always contains every copy of ``xmin`` (as CSN and
  ``powerlaw`` do; the authors' loop would also try the later copies). A candidate
  whose tail has a single distinct value has ``sum ln = 0`` and no finite ``alpha``;
  it is skipped. Every remaining candidate has ``alpha > 1``; there is **no upper
  cap** on alpha (``powerlaw`` 2.0 caps it at 3 by default).

The two estimators
------------------
* :func:`fit_hill` -- PL_Alpha_Hill ("xmin_mid"): ``xmin`` fixed at the median.
  Index: ``k = N // 2`` (0-based), ``n_t = N - N // 2 = ceil(N / 2)``. For odd
  ``N = 2m+1`` that is the median itself (``k = m``, ``n_t = m + 1``); for even
  ``N = 2m`` it is the *upper* of the two middle values (``k = m``, ``n_t = m``).
  This is the authors' code (``i = int(len(eigs) / 2)``, 0-based, ``n = N - i``);
  a 1-based "i = N/2" (docs/science.md) read literally would be the lower middle value for even N,
  one index lower. Alone, Hill cannot tell a random matrix from a heavy tail: it is
  ~2.45 on a pure Gaussian 1500 x 1000 matrix (use :mod:`htcore.shape`).
* :func:`fit_ks` -- PL_Alpha_KS (Clauset-Shalizi-Newman): ``xmin`` minimises ``D``
  over **all** candidates (first minimum on exact ties). It is exact: it returns the
  same ``alpha``, ``xmin`` and ``D`` as the O(N^2) reference loop
  :func:`fit_ks_naive` (to round-off, checked to 1e-9 in the tests), but fast:

  1. ``alpha`` for every candidate at once from one reverse cumulative sum of
     non-negative terms, ``S_k = S_{k+1} + (N-k-1) ln(lambda_{k+1}/lambda_k)``
     (no cancellation, unlike ``sum ln lambda - n ln lambda_k``);
  2. a lower bound on each candidate's ``D``: the same expression evaluated at a few
     tail points only (16 for every candidate, then 128 for the survivors; a max
     over a subset of the points is ``<= D`` exactly, as the same floating-point
     operations are used);
  3. full KS passes in increasing order of the bound, stopping once the bound
     exceeds the best ``D`` found: the skipped candidates provably cannot win.

Trust checks
------------
* Minimum tail: a fit whose tail has fewer than ``min_tail`` points is *flagged*
  (``status = "tail-too-small"``), never silently reported; the KS search itself
  still runs over all candidates so that it stays the exact CSN estimator.
* :func:`gof_pvalue`: the CSN semi-parametric bootstrap goodness-of-fit p-value.
* :func:`compare_alternatives`: log-likelihood ratio tests of the power-law tail
  against exponential, lognormal (Vuong, normalised) and truncated power law
  (nested, chi^2_1).
* :func:`alpha_ci`: a nonparametric bootstrap percentile interval for alpha.

``status`` values: ``"ok"``; ``"tail-too-small"`` (numbers reported, but
``n_tail < min_tail``); ``"degenerate"`` (the tail's values are equal to round-off,
``ln(max / xmin) < DEGENERATE_LOG_SPREAD``: alpha would be ~1e15); ``"poor-fit"``
(``D > D_MAX``: the tail is no power law at all); ``"non-finite"`` (NaN/inf in the
input); ``"no-candidate"`` (fewer than two distinct positive eigenvalues, so no
finite alpha exists). Only ``"ok"`` fits are graded by :mod:`htcore.shape`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ZERO_RTOL",
    "PowerLawFit",
    "prepare_eigs",
    "fit_hill",
    "fit_ks",
    "fit_ks_naive",
    "gof_pvalue",
    "alpha_ci",
    "compare_alternatives",
]

#: Eigenvalues ``<= ZERO_RTOL * lambda_max`` are treated as zeros and dropped.
ZERO_RTOL = 1e-12
#: A tail whose largest and smallest values differ by less than this (in log) is
#: round-off, not a tail: an orthogonal W (eigenvalues 1 +- 4e-15) would give alpha ~1e15.
DEGENERATE_LOG_SPREAD = 1e-9
#: A KS distance above this means most of the tail is misplaced: no power law (999
#: equal eigenvalues plus one larger give D = 0.998). Fits of real spectra have D < 0.2.
D_MAX = 0.5

# Lower-bound stages of the pruned KS search: number of tail points sampled per
# candidate (evenly spaced in rank, first and last tail point included).
_LB_POINTS_ALL = 16
_LB_POINTS_SURVIVORS = 128


@dataclass(frozen=True)
class PowerLawFit:
    """One power-law tail fit ``p(lambda) ~ lambda^-alpha`` for ``lambda >= xmin``.

    Attributes:
        method: ``"hill"`` (xmin at the median) or ``"ks"`` (xmin minimising D).
        alpha: MLE exponent (NaN when no fit).
        xmin: start of the tail (an eigenvalue; NaN when no fit).
        xmin_index: 0-based index of ``xmin`` in the ascending, zero-dropped
            eigenvalues (None when no fit).
        n_tail: number of eigenvalues ``>= xmin`` (None when no fit).
        D: KS distance between the tail and the fitted power law (the form in docs/science.md).
        se: standard error ``(alpha - 1) / sqrt(n_tail)``.
        alphahat: ``alpha * log10(lambda_max)``.
        status: ``"ok"``, ``"tail-too-small"``, ``"degenerate"``, ``"poor-fit"``,
            ``"non-finite"`` or ``"no-candidate"`` (module docstring).
        n_eigs: number of eigenvalues used (after dropping zeros; 0 if non-finite).
    """

    method: str
    alpha: float
    xmin: float
    xmin_index: int | None
    n_tail: int | None
    D: float
    se: float
    alphahat: float
    status: str
    n_eigs: int = 0

    @property
    def ok(self) -> bool:
        """True when the fit is usable: ``status == "ok"``."""
        return self.status == "ok"


def _failed(method: str, status: str, n_eigs: int = 0) -> PowerLawFit:
    nan = float("nan")
    return PowerLawFit(method, nan, nan, None, None, nan, nan, nan, status, n_eigs)


def prepare_eigs(eigs) -> tuple[np.ndarray, str]:
    """Clean a spectrum the way every fit here does.

    Returns ``(x, status)``: ``x`` the float64 eigenvalues sorted ascending with
    zeros (``<= ZERO_RTOL * max``) dropped, and ``status`` ``"ok"`` or
    ``"non-finite"`` (then ``x`` is empty). Never raises on NaN/inf.
    """
    x = np.asarray(eigs, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        return np.empty(0), "non-finite"
    if x.size == 0:
        return x, "ok"
    top = x.max()
    x = np.sort(x[x > ZERO_RTOL * top]) if top > 0 else np.empty(0)
    return x, "ok"


def _make_fit(method, x, k, alpha, D, min_tail) -> PowerLawFit:
    n = x.size
    n_t = n - k
    if n_t < min_tail:
        status = "tail-too-small"
    elif math.log(x[-1] / x[k]) < DEGENERATE_LOG_SPREAD:
        status = "degenerate"
    elif D > D_MAX:
        status = "poor-fit"
    else:
        status = "ok"
    return PowerLawFit(
        method=method,
        alpha=float(alpha),
        xmin=float(x[k]),
        xmin_index=int(k),
        n_tail=int(n_t),
        D=float(D),
        se=float((alpha - 1.0) / math.sqrt(n_t)),
        alphahat=float(alpha * math.log10(x[-1])),
        status=status,
        n_eigs=int(n),
    )


def _tail_log_sums(x: np.ndarray) -> np.ndarray:
    """``S[k] = sum_{j>=k} ln(x_j / x_k)`` for every k, in O(N), without cancellation."""
    n = x.size
    gaps = np.log(x[1:] / x[:-1])  # >= 0 (x sorted)
    terms = np.arange(n - 1, 0, -1, dtype=np.float64) * gaps  # (N-k-1) * gap_k
    s = np.zeros(n)
    s[:-1] = np.cumsum(terms[::-1])[::-1]
    return s


def _ks_distance(logx: np.ndarray, k: int, alpha: float) -> float:
    """D (docs/science.md) for the tail starting at index k (one full O(n_t) pass)."""
    n_t = logx.size - k
    y = logx[k:] - logx[k]
    model = -np.expm1((1.0 - alpha) * y)  # 1 - (x_j/x_k)^(1-alpha)
    emp = np.arange(n_t, dtype=np.float64) / float(n_t)
    return float(np.max(np.abs(model - emp)))


def _hill(x: np.ndarray):
    """Hill's fit on sorted positive ``x``: ``(k, alpha, D)`` with ``k = N // 2``, or None."""
    n = x.size
    if n < 2:
        return None
    k = n // 2
    s = float(np.sum(np.log(x[k:] / x[k])))
    if not s > 0:
        return None
    alpha = 1.0 + (n - k) / s
    return k, alpha, _ks_distance(np.log(x), k, alpha)


def _fit(method: str, search, eigs, min_tail: int) -> PowerLawFit:
    """Clean the eigenvalues, run ``search`` (sorted x -> (k, alpha, D) or None)."""
    x, status = prepare_eigs(eigs)
    if status != "ok":
        return _failed(method, status)
    found = search(x)
    if found is None:
        return _failed(method, "no-candidate", x.size)
    k, alpha, d = found
    return _make_fit(method, x, k, alpha, d, min_tail)


def fit_hill(eigs, min_tail: int = 10) -> PowerLawFit:
    """PL_Alpha_Hill: the MLE alpha with xmin fixed at the median eigenvalue.

    ``xmin_index = N // 2`` (0-based) in the ascending zero-dropped eigenvalues, so
    ``n_tail = ceil(N / 2)`` (see the module docstring for odd/even N). Flags
    ``n_tail < min_tail`` as ``"tail-too-small"``.
    """
    return _fit("hill", _hill, eigs, min_tail)


def _lower_bounds(logx, cand, alpha, n_t, n_points):
    """Max of the KS terms (docs/science.md) over ``n_points`` tail points per candidate (<= D)."""
    q = np.linspace(0.0, 1.0, n_points)
    off = (q[None, :] * (n_t - 1)[:, None]).astype(np.intp)
    y = logx[cand[:, None] + off] - logx[cand][:, None]
    model = -np.expm1((1.0 - alpha)[:, None] * y)
    emp = off / n_t[:, None].astype(np.float64)
    return np.max(np.abs(model - emp), axis=1)


def _ks_search(x: np.ndarray):
    """Exact CSN search on sorted positive ``x``: ``(k, alpha, D)`` or None."""
    n = x.size
    if n < 2:
        return None
    s = _tail_log_sums(x)
    first = np.ones(n, dtype=bool)
    first[1:] = x[1:] != x[:-1]
    cand = np.flatnonzero(first & (s > 0))
    if cand.size == 0:
        return None
    n_t = n - cand
    alpha = 1.0 + n_t / s[cand]
    logx = np.log(x)

    # Stage 1: cheap bound for every candidate; seed `best` with the most promising.
    lb = _lower_bounds(logx, cand, alpha, n_t, _LB_POINTS_ALL)
    i0 = int(np.argmin(lb))
    best_d = _ks_distance(logx, int(cand[i0]), float(alpha[i0]))
    best_i = i0
    # Stage 2: a tighter bound for the survivors (strict '>' prunes: a candidate whose
    # bound equals best_d could tie it with a smaller index, and ties go to the
    # smallest xmin, as argmin over the naive loop does).
    keep = np.flatnonzero(lb <= best_d)
    keep = keep[keep != i0]
    if keep.size:
        lb2 = _lower_bounds(logx, cand[keep], alpha[keep], n_t[keep], _LB_POINTS_SURVIVORS)
        order = np.argsort(lb2, kind="stable")
        keep, lb2 = keep[order], lb2[order]
        for i, bound in zip(keep.tolist(), lb2.tolist()):
            if bound > best_d:
                break  # sorted: every later candidate is bounded above best_d too
            d = _ks_distance(logx, int(cand[i]), float(alpha[i]))
            if d < best_d or (d == best_d and i < best_i):
                best_d, best_i = d, i
    return int(cand[best_i]), float(alpha[best_i]), best_d


def fit_ks(eigs, min_tail: int = 10) -> PowerLawFit:
    """PL_Alpha_KS: the exact Clauset-Shalizi-Newman fit, xmin minimising D.

    Searches every distinct eigenvalue as xmin (alpha > 1, no upper cap) with the
    pruned search described in the module docstring; equals :func:`fit_ks_naive`.
    A minimum-D tail shorter than ``min_tail`` is returned flagged
    ``"tail-too-small"``.
    """
    return _fit("ks", _ks_search, eigs, min_tail)


def fit_ks_naive(eigs, min_tail: int = 10) -> PowerLawFit:
    """The O(N^2) reference for :func:`fit_ks`: docs/science.md's formulas, one loop, no tricks.

    For every distinct value ``lambda_k`` (first index of its run): ``alpha = 1 +
    n_t / sum ln(lambda_j/lambda_k)``, ``D = max |1 - (lambda_j/lambda_k)^(1-alpha)
    - (j-k)/n_t|``; keep the first candidate with the smallest D. Slow on purpose;
    used by the tests and the benchmark only.
    """
    x, status = prepare_eigs(eigs)
    if status != "ok":
        return _failed("ks", status)
    n = x.size
    best = None
    for k in range(n):
        if k > 0 and x[k] == x[k - 1]:
            continue
        n_t = n - k
        ratio = x[k:] / x[k]
        s = np.sum(np.log(ratio))
        if not s > 0:
            continue
        alpha = 1.0 + n_t / s
        d = np.max(np.abs(1.0 - ratio ** (1.0 - alpha) - np.arange(n_t) / n_t))
        if best is None or d < best[2]:
            best = (k, alpha, d)
    if best is None:
        return _failed("ks", "no-candidate", n)
    return _make_fit("ks", x, best[0], best[1], best[2], min_tail)


# --------------------------------------------------------------------------- trust


def _refit(method: str, x: np.ndarray):
    """Refit sorted positive x with the same method; returns (alpha, D) or NaNs."""
    found = _ks_search(x) if method == "ks" else _hill(x)
    return (found[1], found[2]) if found else (np.nan, np.nan)


def _check_fit_matches(x: np.ndarray, fit: PowerLawFit) -> None:
    if fit.n_eigs != x.size or x[fit.xmin_index] != fit.xmin:
        raise ValueError("`fit` was not computed from these eigenvalues")


def gof_pvalue(eigs, fit: PowerLawFit, n_boot: int = 1000, seed: int = 0) -> float:
    """Goodness-of-fit p-value of a power-law tail by the CSN semi-parametric bootstrap.

    Each of ``n_boot`` synthetic data sets has the size ``N`` of the data: every point
    is, with probability ``n_tail / N``, drawn from the fitted power law above
    ``xmin``, otherwise drawn uniformly from the observed eigenvalues below ``xmin``.
    Each synthetic set is refitted by the same method (``fit.method``: for ``"ks"``
    the full xmin search, for ``"hill"`` xmin at the median) and
    ``p = #{D_synthetic >= D_observed} / n_boot`` (Clauset, Shalizi & Newman 2009,
    sec. 4.1). Small p (CSN: <= 0.1) rules the power law out; a large p does not
    prove it. The Monte-Carlo error of p is about ``sqrt(p(1-p)/n_boot)`` (CSN
    suggest ~2500 resamples for two decimals). Seeded: the same
    ``(eigs, fit, n_boot, seed)`` gives the same p.

    Returns NaN when ``fit.status != "ok"`` (a flagged fit gets no p-value).
    Raises ValueError if ``fit`` does not belong to ``eigs``.
    """
    if fit.status != "ok":
        return float("nan")
    x, status = prepare_eigs(eigs)
    if status != "ok":
        return float("nan")
    _check_fit_matches(x, fit)
    rng = np.random.default_rng(seed)
    n, n_tail = x.size, fit.n_tail
    body = x[: fit.xmin_index]
    exceed = 0
    valid = 0
    for _ in range(int(n_boot)):
        n_pl = int(rng.binomial(n, n_tail / n)) if body.size else n
        u = rng.random(n_pl)
        synth_tail = fit.xmin * (1.0 - u) ** (-1.0 / (fit.alpha - 1.0))
        synth = np.concatenate([rng.choice(body, n - n_pl), synth_tail]) if n_pl < n else synth_tail
        synth = np.sort(synth)
        synth = synth[np.isfinite(synth)]
        _, d = _refit(fit.method, synth)
        if np.isfinite(d):
            valid += 1
            exceed += d >= fit.D
    return float(exceed / valid) if valid else float("nan")


def alpha_ci(
    eigs, n_boot: int = 1000, seed: int = 0, level: float = 0.95, method: str = "ks"
) -> tuple[float, float]:
    """Bootstrap percentile confidence interval for alpha.

    Resamples the (zero-dropped) eigenvalues with replacement ``n_boot`` times, refits
    each resample with ``method`` (``"ks"``: xmin searched again, so the interval
    includes the uncertainty of xmin; ``"hill"``: xmin at the median), and returns
    the ``(1-level)/2`` and ``(1+level)/2`` percentiles of the refitted alphas.
    Seeded. Returns ``(nan, nan)`` for non-finite input or when no fit exists.
    """
    if method not in ("ks", "hill"):
        raise ValueError(f"method must be 'ks' or 'hill', got {method!r}")
    x, status = prepare_eigs(eigs)
    if status != "ok" or x.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    alphas = np.empty(int(n_boot))
    for b in range(alphas.size):
        alphas[b], _ = _refit(method, np.sort(rng.choice(x, x.size)))
    alphas = alphas[np.isfinite(alphas)]
    if alphas.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(alphas, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


# ------------------------------------------------------------ likelihood ratio tests


def _vuong(ll_a: np.ndarray, ll_b: np.ndarray) -> tuple[float, float]:
    """Normalised Vuong statistic R/(sigma sqrt n) of a vs b and its two-sided p."""
    from scipy.special import erfc

    diff = ll_a - ll_b
    n = diff.size
    r = float(np.sum(diff))
    sigma = float(np.std(diff))
    if not sigma > 0:
        return 0.0, 1.0
    z = r / (sigma * math.sqrt(n))
    return z, float(erfc(abs(z) / math.sqrt(2.0)))


def _lognormal_loglik(logy: np.ndarray, log_xmin: float) -> np.ndarray:
    """Pointwise log-likelihood of the MLE lognormal truncated to ``[xmin, inf)``."""
    from scipy.optimize import minimize
    from scipy.special import log_ndtr

    def nll_and_grad(p):
        mu, s = p
        sigma = math.exp(s)
        z = (logy - mu) / sigma
        z0 = (log_xmin - mu) / sigma
        log_surv = float(log_ndtr(-z0))
        ll = -logy - s - 0.5 * math.log(2 * math.pi) - 0.5 * z * z - log_surv
        mills = math.exp(-0.5 * z0 * z0 - 0.5 * math.log(2 * math.pi) - log_surv)
        g_mu = np.sum(z / sigma) - logy.size * mills / sigma
        g_s = np.sum(z * z - 1.0) - logy.size * mills * z0
        return -float(np.sum(ll)), -np.array([g_mu, g_s])

    mu0 = float(np.mean(logy))
    s0 = math.log(max(float(np.std(logy)), 1e-3))
    res = minimize(nll_and_grad, np.array([mu0, s0]), jac=True, method="BFGS",
                   options={"maxiter": 500, "gtol": 1e-8})
    mu, s = res.x
    sigma = math.exp(s)
    z = (logy - mu) / sigma
    z0 = (log_xmin - mu) / sigma
    return -logy - s - 0.5 * math.log(2 * math.pi) - 0.5 * z * z - float(log_ndtr(-z0))


_SIMPSON_POINTS = 4097


def _log_e_with_grad(a: float, c: float) -> tuple[float, float, float]:
    """``log E_a(c)`` and its derivatives in ``a`` and ``c``.

    ``E_a(c) = int_1^inf t^-a e^(-c t) dt`` (``c > 0``, any real ``a``), by Simpson's
    rule in ``s = ln t`` on ``[0, s_max]``, where the integrand ``exp((1-a) s - c e^s)``
    is smooth and has fallen by ``e^-50`` from its peak at ``s_max`` (relative error
    ~1e-9 on the grid used).
    """
    s_peak = max(math.log((1.0 - a) / c), 0.0) if a < 1.0 else 0.0

    def phi(s):
        return (1.0 - a) * s - c * math.exp(s)

    phi_max = phi(s_peak)
    span = 1.0
    while phi(s_peak + span) > phi_max - 50.0 and span < 1024.0:
        span *= 2.0
    s = np.linspace(0.0, s_peak + span, _SIMPSON_POINTS)
    h = s[1] - s[0]
    es = np.exp(s)
    f = np.exp((1.0 - a) * s - c * es - phi_max)
    w = np.full(s.size, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    w *= h / 3.0
    i0 = float(w @ f)
    return phi_max + math.log(i0), -float(w @ (s * f)) / i0, -float(w @ (es * f)) / i0


def _truncated_pl_loglik(u: np.ndarray, log_xmin: float, alpha0: float) -> np.ndarray:
    """Pointwise log-likelihood of the MLE power law with exponential cutoff.

    ``p(y) ~ y^-a exp(-lam y)`` on ``[xmin, inf)``; with ``u = y / xmin`` and
    ``c = lam * xmin`` the normaliser is ``xmin^(1-a) E_a(c)``. Maximised over
    ``(a, ln c)`` by L-BFGS-B with the analytic gradient, from two starts.
    """
    from scipy.optimize import minimize

    logu = np.log(u)
    sum_logu, sum_u, n = float(np.sum(logu)), float(np.sum(u)), u.size

    def nll(p):
        a, logc = p
        c = math.exp(logc)
        log_e, d_a, d_c = _log_e_with_grad(a, c)
        value = a * sum_logu + c * sum_u + n * log_e
        return value, np.array([sum_logu + n * d_a, (sum_u + n * d_c) * c])

    # c is bounded below where c * max(u) = 1e-10 (the cutoff is then invisible in
    # the data; the caller compares with the power law itself, the c -> 0 limit).
    lo_logc = math.log(1e-10 / float(np.max(u)))
    hi_logc = math.log(1e4)
    bounds = [(alpha0 - 200.0, alpha0 + 200.0), (lo_logc, hi_logc)]
    best = None
    for logc0 in (math.log(1e-2 / float(np.mean(u))), math.log(1.0 / float(np.mean(u)))):
        start = np.array([alpha0, min(max(logc0, lo_logc), hi_logc)])
        res = minimize(nll, start, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
        if best is None or res.fun < best.fun:
            best = res
    a, logc = best.x
    c = math.exp(logc)
    return -a * logu - c * u - _log_e_with_grad(a, c)[0] - log_xmin


def compare_alternatives(eigs, fit: PowerLawFit) -> dict[str, tuple[float, float]]:
    """Log-likelihood ratio tests of the fitted power-law tail against alternatives.

    All on the tail ``lambda >= fit.xmin`` and with every alternative truncated to
    that range and fitted by maximum likelihood:

    * ``"exponential"``: ``p ~ exp(-lam y)`` (closed-form MLE);
    * ``"lognormal"``: lognormal truncated at xmin (BFGS, analytic gradient);
    * ``"truncated_power_law"``: ``p ~ y^-a exp(-lam y)`` (L-BFGS-B, normaliser by
      quadrature). It nests the power law (``lam = 0``), so its ratio is ``<= 0``.

    Returns ``{name: (R, p)}``. ``R`` is the *normalised* log-likelihood ratio
    ``sum(l_PL - l_alt) / (sigma sqrt n_tail)`` (``sigma`` the standard deviation of
    the pointwise differences): ``R > 0`` favours the power law, ``R < 0`` the
    alternative. ``p`` is the significance of the sign of ``R``: Vuong's two-sided
    test ``erfc(|R| / sqrt 2)`` for the non-nested exponential and lognormal; for the
    nested truncated power law the chi^2_1 test on ``2 |sum(l_PL - l_TPL)|``
    (CSN 2009, sec. 5). A large p means "cannot tell". All NaN when
    ``fit.status != "ok"``.
    """
    nan2 = (float("nan"), float("nan"))
    names = ("exponential", "lognormal", "truncated_power_law")
    if fit.status != "ok":
        return dict.fromkeys(names, nan2)
    x, status = prepare_eigs(eigs)
    if status != "ok":
        return dict.fromkeys(names, nan2)
    _check_fit_matches(x, fit)
    from scipy.stats import chi2

    y = x[fit.xmin_index :]
    xmin, alpha = fit.xmin, fit.alpha
    u = y / xmin
    log_xmin = math.log(xmin)
    ll_pl = math.log(alpha - 1.0) - log_xmin - alpha * np.log(u)
    out: dict[str, tuple[float, float]] = {}

    excess = y - xmin
    mean_excess = float(np.mean(excess))
    if mean_excess > 0:
        lam = 1.0 / mean_excess
        out["exponential"] = _vuong(ll_pl, math.log(lam) - lam * excess)
    else:
        out["exponential"] = nan2

    out["lognormal"] = _vuong(ll_pl, _lognormal_loglik(np.log(y), log_xmin))

    ll_tpl = _truncated_pl_loglik(u, log_xmin, alpha)
    r_raw = float(np.sum(ll_pl - ll_tpl))
    if r_raw > 0:  # the optimiser stopped short of the nested power law itself
        r_raw, ll_tpl = 0.0, ll_pl
    z, _ = _vuong(ll_pl, ll_tpl)
    out["truncated_power_law"] = (z, float(chi2.sf(2.0 * abs(r_raw), 1)))
    return out
