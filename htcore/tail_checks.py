"""Trust checks of a power-law tail fit: goodness of fit, interval, alternatives.

How far a fit by :mod:`htcore.tails` can be trusted. Optional and slow (the two
bootstraps refit the spectrum ``n_boot`` times): :func:`htcore.shape.tail_summary`
runs them only with ``tails: bootstrap: true``. Conventions (input eigenvalues,
zeros dropped, ties, the KS distance ``D``) are those of :mod:`htcore.tails`.
:func:`gof_pvalue` and :func:`compare_alternatives` check a given fit and return
NaN when its ``status`` is not ``"ok"``; :func:`alpha_ci` refits the eigenvalues
itself.

* :func:`gof_pvalue`: the CSN semi-parametric bootstrap goodness-of-fit p-value.
* :func:`alpha_ci`: a nonparametric bootstrap percentile interval for alpha.
* :func:`compare_alternatives`: log-likelihood ratio tests of the power-law tail
  against exponential, lognormal (Vuong, normalised) and truncated power law
  (nested, chi^2_1).

NumPy; SciPy is imported lazily, only by :func:`compare_alternatives` (process
start-up time matters in the workflow).
"""

from __future__ import annotations

import math

import numpy as np

from htcore.tails import PowerLawFit, _hill, _ks_search, prepare_eigs

__all__ = [
    "gof_pvalue",
    "alpha_ci",
    "compare_alternatives",
]

# ------------------------------------------------------------------- bootstrap


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
