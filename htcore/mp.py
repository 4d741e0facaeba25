"""The Marchenko-Pastur law and its fit to the bulk of one spectrum: scale, bulk edges, outliers.

The MP law of a random matrix's eigenvalues (:func:`mp_cdf`, :func:`mp_quantile`) and
its fit to the bulk of ``eig(W^T W)`` (:func:`fit_mp`): the entry variance, the bulk
edges, the outliers above them, and which outliers form an edge group with the bulk
and which are detached from it (:func:`split_outliers`). It is the reference that
:mod:`htcore.shape` labels a spectrum against and that :mod:`htcore.synthetic`
samples from. NumPy only.

Conventions (as :mod:`htcore.tails`)
------------------------------------
* ``eigs`` are the eigenvalues of ``W^T W`` for ``W`` of shape ``h x d`` (squared
  singular values), not divided by ``h`` or ``d``, float64. ``W^T W`` has ``d``
  eigenvalues of which at most ``p = min(h, d)`` are non-zero; the MP fit uses the
  ``p`` largest (so passing all ``d`` eigenvalues, or only the ``p`` squared
  singular values, gives the same fit). Fewer than ``p`` or more than ``max(h, d)``
  values raise ``ValueError`` (a caller bug, not a data problem).
* NaN/inf anywhere never raises: the fit has NaN numbers, ``n_spikes`` and the
  other counts null (None), and ``status = "non-finite"``.

The MP fit (:func:`fit_mp`)
---------------------------
With ``n = max(h, d)`` and the aspect ratio ``aspect = p / n = min(h, d) / max(h, d)
<= 1`` (called ``aspect``, not ``gamma``, which in the config is StepLR's decay), an
``h x d`` matrix of iid entries of variance ``sigma^2`` has its ``p`` non-zero
eigenvalues, divided by ``n sigma^2``, distributed by the MP law on ``[(1 - sqrt
aspect)^2, (1 + sqrt aspect)^2]``; so the bulk edges are ``lambda_pm = sigma^2
(sqrt h +- sqrt d)^2``.

* ``sigma^2`` by **median matching**: ``median(eigs) / (n * MP median(aspect))``. The
  median ignores spikes and a thin tail, unlike the mean (``||W||_F^2 / (h d)``),
  which a single large spike inflates.
* Edge margin: the Tracy-Widom scale of the largest eigenvalue (Johnstone 2001),
  ``s = sigma^2 (sqrt n + sqrt p) (1/sqrt n + 1/sqrt p)^(1/3)``, times
  ``TW_MARGIN = 4`` (``P(TW_1 > 4) ~ 1e-4``: a pure-noise matrix almost never shows a
  false spike). ``spike_threshold = lambda_plus + edge_margin``.
* Spikes: eigenvalues above ``spike_threshold``. For ``W = G + theta u v^T`` (``G``
  with N(0, 1) entries) one spike appears once ``theta`` exceeds the BBP threshold
  ``(h d)^(1/4)``.
* ``ks``: two-sided Kolmogorov-Smirnov distance between the eigenvalues below the
  spike threshold and the fitted MP law (how MP-like the bulk itself is; about
  0.01 for a Gaussian 1500 x 1000 matrix).

Outliers: the edge group and the detached spikes (:func:`split_outliers`)
-------------------------------------------------------------------------
The fit also records *where* the outliers sit relative to the bulk: by these
numbers :mod:`htcore.shape` tells finitely many spikes from a tail, which a
power-law fit alone cannot.

* **Strip, then refit.** A rank-k signal takes k dimensions out of the noise, so
  the bulk left under k outliers is the MP law of an ``(h - k) x (d - k)`` matrix.
  :func:`fit_mp` refits the bulk that way until the outlier count is stable (at
  most ``MAX_STRIP_ROUNDS`` rounds, never past ``p / 2``). Without it, 100 planted
  spikes deform the bulk's KS distance to ~0.2 and the bulk looks non-MP.
* **Attached or detached.** Walk up from the largest bulk eigenvalue: an outlier
  belongs to the *edge group* while each one is within ``EDGE_GAP`` (x1.25) of the
  eigenvalue below it; the first wider gap detaches it and everything above it
  (``n_detached``). A power-law tail grows out of the bulk edge as a continuum (its
  lowest points sit at the edge, densely), so it is in the edge group; spikes sit
  where the BBP formula puts them, well clear of the edge (a spike at 2x the BBP
  threshold lies ~1.4-1.6x above it), so they detach.

Whether the edge group is a tail (it spans a range) is a rule of the shape label:
:func:`htcore.shape.has_tail`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TW_MARGIN",
    "MAX_STRIP_ROUNDS",
    "EDGE_GAP",
    "MPFit",
    "mp_cdf",
    "mp_quantile",
    "fit_mp",
    "split_outliers",
]

#: Edge margin in units of the Tracy-Widom scale (P(TW_1 > 4) ~ 1e-4).
TW_MARGIN = 4.0
#: Refits of the bulk with the outliers stripped (until the outlier count is stable).
MAX_STRIP_ROUNDS = 5
#: Ratio between consecutive eigenvalues above which the outliers above are detached.
EDGE_GAP = 1.25


@dataclass(frozen=True)
class MPFit:
    """Marchenko-Pastur fit of the bulk of ``eig(W^T W)``, ``W`` of shape ``h x d``.

    Attributes:
        sigma2: entry variance ``sigma^2`` by median matching on the bulk.
        lambda_minus, lambda_plus: MP bulk edges ``sigma^2 (sqrt h' -+ sqrt d')^2``
            of the stripped bulk (``h' = h - k``, ``d' = d - k`` for k outliers).
        edge_margin: ``TW_MARGIN`` Tracy-Widom scales above ``lambda_plus``.
        n_spikes: eigenvalues above ``spike_threshold``, the outliers (None when
            the fit failed); ``n_detached`` of them are detached from the bulk edge
            and ``n_edge`` form the edge group (:func:`split_outliers`).
        edge_span: largest eigenvalue of the edge group over ``spike_threshold``
            (1.0 with no edge group).
        strip_rounds: refits with the outliers stripped (0: none were needed).
        bulk_fraction_inside: fraction of the ``p`` eigenvalues inside
            ``[lambda_minus - lower margin, spike_threshold]`` (the lower margin is
            the TW scale at the soft lower edge, zero for square W).
        spike_threshold: ``lambda_plus + edge_margin``.
        ks: two-sided KS distance between the eigenvalues below the spike threshold
            and the fitted MP law.
        mass_fraction_outside: share of ``sum(eigs)`` above the spike threshold.
        h, d: the shape of ``W``; aspect: ``min(h, d) / max(h, d)``.
        n_eigs: ``p = min(h, d)``, the eigenvalues used.
        lambda_max: the largest eigenvalue.
        status: ``"ok"``, ``"non-finite"`` or ``"degenerate"`` (median zero).
    """

    sigma2: float
    lambda_minus: float
    lambda_plus: float
    edge_margin: float
    n_spikes: int | None
    bulk_fraction_inside: float
    spike_threshold: float
    ks: float
    mass_fraction_outside: float
    h: int
    d: int
    aspect: float
    n_eigs: int
    lambda_max: float
    status: str
    n_detached: int | None = None
    n_edge: int | None = None
    edge_span: float = float("nan")
    strip_rounds: int = 0


def _edges(aspect):
    return (1.0 - math.sqrt(aspect)) ** 2, (1.0 + math.sqrt(aspect)) ** 2


def _theta_of(x, aspect):
    """``theta`` with ``x = a + (b - a) cos^2(theta / 2)`` (0 at the upper edge b, pi at a).

    ``tan(theta / 2) = sqrt((b - x) / (x - a))``: well conditioned at both edges.
    """
    a, b = _edges(aspect)
    x = np.asarray(x, dtype=np.float64)
    return 2.0 * np.arctan2(np.sqrt(np.clip(b - x, 0.0, None)), np.sqrt(np.clip(x - a, 0.0, None)))


def _cdf_of_theta(theta, aspect):
    """MP CDF at ``x = 1 + aspect + 2 sqrt(aspect) cos(theta)``, closed form.

    With ``m = 1 + aspect``, ``r = 2 sqrt(aspect)``, ``k = (1 - sqrt aspect) /
    (1 + sqrt aspect)``, integrating the density ``sqrt((b - x)(x - a)) / (2 pi aspect x)``:
    ``F = (2/pi) [((1+aspect)(pi - theta) + 2 sqrt(aspect) sin theta) / (4 aspect)
    - (1-aspect)/(2 aspect) (pi/2 - arctan(k tan(theta/2)))]``.
    """
    sg = math.sqrt(aspect)
    k = (1.0 - sg) / (1.0 + sg)
    first = (1.0 - aspect) / (2.0 * aspect) * (np.pi / 2.0 - np.arctan(k * np.tan(theta / 2.0)))
    second = ((1.0 + aspect) * (np.pi - theta) + 2.0 * sg * np.sin(theta)) / (4.0 * aspect)
    cdf = np.clip((2.0 / np.pi) * (second - first), 0.0, 1.0)
    return np.where(theta <= 0.0, 1.0, np.where(theta >= np.pi, 0.0, cdf))


def mp_cdf(x, aspect: float) -> np.ndarray:
    """CDF of the Marchenko-Pastur law with ratio ``0 < aspect <= 1`` and unit scale.

    The law of the non-zero eigenvalues of ``X^T X / n`` for ``X`` of shape ``n x p``,
    iid unit-variance entries, ``aspect = p / n``; support ``[(1-sqrt aspect)^2,
    (1+sqrt aspect)^2]``. Closed form (substituting ``x = 1 + aspect + 2 sqrt(aspect)
    cos theta`` in the density), exact to round-off.
    """
    if not 0.0 < aspect <= 1.0:
        raise ValueError(f"aspect must be in (0, 1], got {aspect}")
    return _cdf_of_theta(_theta_of(x, aspect), aspect)


def mp_quantile(q, aspect: float) -> np.ndarray:
    """Inverse of :func:`mp_cdf` (vectorised bisection, ~1e-15 relative).

    Also a sampler: ``mp_quantile(rng.random(N), aspect)`` draws N iid MP values.
    """
    if not 0.0 < aspect <= 1.0:
        raise ValueError(f"aspect must be in (0, 1], got {aspect}")
    q = np.asarray(q, dtype=np.float64)
    lo = np.zeros_like(q)  # theta = 0 is the upper edge (cdf 1)
    hi = np.full_like(q, np.pi)  # theta = pi the lower edge (cdf 0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = _cdf_of_theta(mid, aspect) > q  # cdf decreases in theta
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    theta = 0.5 * (lo + hi)
    a, b = _edges(aspect)
    return a + (b - a) * np.cos(theta / 2.0) ** 2  # no cancellation near a = 0


def _failed_mp(h, d, status, lambda_max=float("nan")) -> MPFit:
    nan = float("nan")
    p, n = min(h, d), max(h, d)
    return MPFit(nan, nan, nan, nan, None, nan, nan, nan, nan, h, d, p / n, p, lambda_max, status)


def _bulk_fit(x: np.ndarray, n: int, p: int):
    """MP fit of the ``p`` smallest-first values ``x`` as an ``n x p`` noise matrix:
    ``(sigma2, lambda_minus, lambda_plus, margin, margin_low)`` by median matching."""
    aspect = p / n
    sigma2 = float(np.median(x)) / (n * float(mp_quantile(0.5, aspect)))
    sn, sp = math.sqrt(n), math.sqrt(p)
    margin = TW_MARGIN * sigma2 * (sn + sp) * (1.0 / sn + 1.0 / sp) ** (1.0 / 3.0)
    margin_low = TW_MARGIN * sigma2 * (sn - sp) * max(1.0 / sp - 1.0 / sn, 0.0) ** (1.0 / 3.0)
    return sigma2, sigma2 * (sn - sp) ** 2, sigma2 * (sn + sp) ** 2, margin, margin_low


def split_outliers(x: np.ndarray, threshold: float) -> tuple[int, int, float]:
    """Split the eigenvalues above ``threshold`` into the edge group and detached ones.

    ``x`` sorted ascending. Walking up from the largest eigenvalue at or below the
    threshold, an outlier joins the edge group while it is within ``EDGE_GAP`` of
    the eigenvalue below it; the first wider gap detaches it and all above it.
    Returns ``(n_edge, n_detached, edge_span)``, ``edge_span`` the edge group's
    largest eigenvalue over ``threshold`` (1.0 for an empty group).
    """
    first = int(np.searchsorted(x, threshold, side="right"))
    out = x[first:]
    if out.size == 0:
        return 0, 0, 1.0
    below = x[first - 1] if first > 0 else threshold
    steps = out / np.concatenate(([below], out[:-1]))
    wide = np.flatnonzero(steps > EDGE_GAP)
    n_edge = int(wide[0]) if wide.size else int(out.size)
    span = float(out[n_edge - 1] / threshold) if n_edge else 1.0
    return n_edge, int(out.size - n_edge), span


def fit_mp(eigs, h: int, d: int) -> MPFit:
    """Fit the MP bulk of ``eig(W^T W)`` (``W`` of shape ``h x d``) and count outliers.

    See the module docstring for the estimator (median matching), the Tracy-Widom
    edge margin, the stripped refit and the KS distance. Never raises on NaN/inf
    (status ``"non-finite"``); raises ``ValueError`` for a bad shape or eigenvalue
    count.
    """
    h, d = int(h), int(d)
    if h < 1 or d < 1:
        raise ValueError(f"h and d must be positive, got h={h}, d={d}")
    n, p = max(h, d), min(h, d)
    x = np.asarray(eigs, dtype=np.float64).ravel()
    if not p <= x.size <= n:
        raise ValueError(
            f"expected between min(h, d) = {p} and max(h, d) = {n} eigenvalues for a "
            f"{h} x {d} matrix, got {x.size}"
        )
    if not np.all(np.isfinite(x)):
        return _failed_mp(h, d, "non-finite")
    x = np.sort(x)[-p:]
    lam_max = float(x[-1])
    if not float(np.median(x)) > 0:
        return _failed_mp(h, d, "degenerate", lam_max)

    # Fit all p values, then refit the bulk under the k outliers as (n-k) x (p-k).
    k, rounds = 0, 0
    fit = _bulk_fit(x, n, p)
    while True:
        k_new = int(np.count_nonzero(x > fit[2] + fit[3]))
        if k_new == k or rounds == MAX_STRIP_ROUNDS or k_new > p // 2:
            break
        k, rounds = k_new, rounds + 1
        fit = _bulk_fit(x[:p - k], n - k, p - k)
    sigma2, lam_minus, lam_plus, margin, margin_low = fit
    threshold = lam_plus + margin
    n_bulk = n - k
    p_bulk = p - k

    n_spikes = int(np.count_nonzero(x > threshold))
    n_edge, n_detached, span = split_outliers(x, threshold)
    inside = (x >= lam_minus - margin_low) & (x <= threshold)
    total = float(np.sum(x))
    mass_out = float(np.sum(x[x > threshold]) / total) if total > 0 else float("nan")

    bulk = x[x <= threshold]
    m = bulk.size
    if m:
        cdf = mp_cdf(bulk / (n_bulk * sigma2), p_bulk / n_bulk)
        ks = float(max(np.max(np.arange(1, m + 1) / m - cdf), np.max(cdf - np.arange(m) / m)))
    else:
        ks = 1.0
    return MPFit(
        sigma2=sigma2,
        lambda_minus=lam_minus,
        lambda_plus=lam_plus,
        edge_margin=margin,
        n_spikes=n_spikes,
        bulk_fraction_inside=float(np.mean(inside)),
        spike_threshold=threshold,
        ks=ks,
        mass_fraction_outside=mass_out,
        h=h,
        d=d,
        aspect=p / n,
        n_eigs=p,
        lambda_max=lam_max,
        status="ok",
        n_detached=n_detached,
        n_edge=n_edge,
        edge_span=span,
        strip_rounds=rounds,
    )
