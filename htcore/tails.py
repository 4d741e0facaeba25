"""Power-law tail fits of an eigenvalue spectrum: exact and fast.

This module reads a heavy-tail exponent ``alpha`` off an empirical spectral density
(ESD) the way docs/science.md ("Tail fitting") defines it: the two estimators the
study reports (PL_Alpha_Hill, PL_Alpha_KS), the O(N^2) reference loop they are
checked against, and the ``status`` that flags a fit not to be trusted. NumPy only.
The optional checks of how far a fit can be trusted (bootstrap goodness of fit,
bootstrap interval for alpha, likelihood-ratio tests against other tails; run only
with ``tails: bootstrap: true``) are in :mod:`htcore.tail_checks`.

Conventions (every function here and in :mod:`htcore.tail_checks` follows them)
-------------------------------------------------------------------------------
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

Status
------
A fit whose tail has fewer than ``min_tail`` points is *flagged*
(``status = "tail-too-small"``), never silently reported; the KS search itself
still runs over all candidates so that it stays the exact CSN estimator.

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
