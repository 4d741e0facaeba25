"""One-step theory: what the first full-batch GD or Adam step does to W, in closed form.

Predicts, from Gaussian constants only (no training, no random draws), for the
study's model after ONE update: the top eigenvalue ``lambda1`` of ``W1^T W1``, the
alignment ``sim(W1, beta*)`` of W1's top right singular vector with the teacher,
whether the project's spike rule (:mod:`htcore.mp`) detects the spike, and the
learning rates at which the spike leaves the Marchenko-Pastur bulk (``lr_bbp``) and
at which the project's rule first detects it (``lr_detect``). The derivation, its
numerical validation and the reference values are in ``THEORY.md`` (the study's
shared folder, beside ``SPEC.md``); section names below refer to it. NumPy/SciPy
only, no file I/O, no torch. Nothing here is fitted: a prediction that disagrees
with a run is a finding.

Conventions (those of :mod:`htcore.data`, :mod:`htcore.train`, :mod:`htcore.mp`)
-------------------------------------------------------------------------------
* W is ``h x d`` with N(0, 1) entries, a ~ N(0, I_h) is frozen, x ~ N(0, I_d);
  ``f(x) = a^T sigma(W x / sqrt d) / sqrt h``; ``L = (1/n) sum_i (f(x_i) - y_i)^2``
  (the mean over the batch, no 1/2); ``W1 = W0 - lr * grad`` for GD, ``W1 = W0 - lr *
  g / (|g| + eps)`` for Adam's first, bias-corrected step (``m_hat = g``, ``v_hat =
  g^2``: sign-GD up to eps).
* Teacher ``y = (1/sqrt k) sum_j g(b_j^T x) + eps``, eps ~ N(0, rho^2). Its linear
  part is ``c1 u`` with ``c1 = E g'(z)`` and ``u = sum_j b_j / sqrt k`` (beta* when
  k = 1): one linear direction whatever k.
* ``lambda1`` is an eigenvalue of ``W1^T W1``, NOT divided by h or d: the bulk edge
  at initialisation is ``lambda_plus = (sqrt h + sqrt d)^2`` (4949.5 at d 1000, h 1500).
* Detection is the project's rule: ``lambda1 > lambda_plus + TW_MARGIN Tracy-Widom
  scales`` (:func:`htcore.mp.fit_mp`), evaluated with the theory's bulk variance.
  The rule strips a spike and refits the bulk only once the spike is above the
  unstripped threshold, so the unstripped threshold (1.0219 lambda_plus here) is the
  one that decides; it needs ``theta^2 = tau / h > 1.0985`` here (THEORY.md rounds
  it to 1.0975: 0.1 % on theta^2, 0.04 % on lr_detect).

The formulas (THEORY.md, "Setting and constants", "GD", "Adam")
-----------------------------------------------------------------
Gaussian constants (z ~ N(0, 1), quadrature as :mod:`htcore.baselines`):
``mu1 = E sigma'(z)``, ``E sigma^2``, ``Var sigma'``, ``c1 = E g'(z) = E z g(z)``,
``E y^2`` (:func:`htcore.baselines.loss_baselines`), ``E r^2 = E sigma^2 + E y^2``
(the residual at initialisation: the student's own output plus the labels), and
``E[z_u^2 r^2] = E sigma^2 + E[z_u^2 y^2]``, z_u = u^T x (below).

Both optimizers add a rank-one term to W0 along (a or sign a) x (a d-vector built
from ``m = X^T r``); in the row of W1 along that left direction the update also
cancels part of W0's own row (GD removes the student's own linear output ``mu1 W0^T
a``: the "coherent" term). With ``theta_eff^2`` the excess squared norm of that row
over a bulk row and ``s2_bulk`` the bulk's entry variance, ``tau = theta_eff^2 /
s2_bulk`` is the spike's strength in the rectangular spiked model (Benaych-Georges
and Nadakuditi 2012, written symmetrically in h and d; THEORY.md's ``theta^2 = tau
/ h``):

* outlier iff ``tau > sqrt(h d)`` (BBP);
* ``lambda1 = s2_bulk (h + tau)(d + tau) / tau`` (above BBP; else the bulk edge
  ``s2_bulk (sqrt h + sqrt d)^2``);
* d-side overlap ``ov^2 = |<v1, r_hat>|^2 = 1 - d (h + tau) / (tau (tau + d))``;
* ``sim = E|<v1, u>|`` with ``<v1, u> = ov cos + sqrt(1 - ov^2) N(0, 1/d)``, cos the
  spike row's cosine with u (THEORY.md: ``sim = (u-component / theta_eff) * ov``).

GD (also ``momentum``: torch's buffer is g at step 1): ``K = mu1^2 + c1^2 + (d/n)
E r^2``, ``sigma1(grad) = 2 mu1 sqrt(K / d)``, cos(grad's right vector, u) =
``c1 / sqrt K``; ``theta_eff^2 = lr^2 sigma1^2 - 4 mu1^2 lr (1 - lr wd)``;
u-component ``2 lr mu1 c1 / sqrt d``; ``s2_bulk = (1 - lr wd)^2 + lr^2 4 Var(sigma')
E r^2 / (n h d)`` (the second term, the gradient's own i.i.d. part, is below 0.2 % of
the bulk for lr <= 3000 at paper scale; THEORY.md neglects it).

Adam / sign-GD: ``s_xi^2 = n Var(sigma') E r^2``, ``sigma_m^2 = n^2 (mu1^2 + c1^2)
/ d + n E r^2``, ``s^2 = s_xi^2 / mu1^2``, ``rho' = sigma_m^2 / (sigma_m^2 + s^2)``,
``q = (2/pi) arcsin rho'``, ``E psi' = sqrt(2/pi) / sqrt(sigma_m^2 + s^2)``;
spike of sign(grad) ``sqrt(h d q)``, cos with u ``(n c1 / sqrt d) E psi' / sqrt q``;
``theta_eff^2 = lr^2 h d q - 2 lr sqrt(h) sqrt(2/pi) n mu1 sqrt(d) E psi'``;
u-component ``lr sqrt(h) n c1 E psi'``; ``s2_bulk = 1 + lr^2 (1 - q)``.

Finite-n bookkeeping beyond THEORY.md (each moves its paper-scale numbers by under
0.3 %, and makes the prediction right where c1 = 0, e.g. the he2 link): the
sampling noise of ``u^T m`` has variance ``n E[z_u^2 r^2]``, not ``n E r^2`` (the
labels are larger where |z_u| is: 10 against 2 for he2), so ``(d/n) E r^2`` in K and
sigma_m^2 becomes ``((d - 1) E r^2 + E[z_u^2 r^2]) / n``, and the u-component above
is the mean ``-n c1`` (times its coefficient) plus a Gaussian of that variance (for
sign-GD plus psi's non-linear residual, variance ``q - E psi'^2 sigma_m^2``); sim is
the folded-normal mean ``E|mu + s Z|`` of the resulting ``<v1, u>``. Below BBP (ov =
0) it is a bulk vector's ``sqrt(2 / (pi d))`` (0.025 at d 1000), for c1 = 0 the
noise's ``sqrt(2/pi) s``; for c1 well above the noise it is THEORY.md's product.

First-spike learning rates: without weight decay both rules read ``tau(lr) = (A lr^2
- B lr) / (1 + D lr^2)`` with A, B, D > 0, whose derivative has the sign of ``2 A lr -
B + B D lr^2``, positive wherever ``theta_eff^2 = A lr^2 - B lr > 0``: tau increases
on the only region where it is positive, so ``tau(lr) = T > 0`` has one root (with
GD's weight decay the tests check monotonicity numerically),
found by a log-grid bracket and Brent: ``T = sqrt(h d)`` for ``lr_bbp``, ``T`` at
the detection threshold for ``lr_detect``; ``inf`` if no lr reaches T (a guard:
Adam's ``tau`` saturates at ``h d q / (1 - q)``, beyond both thresholds unless q <
~1/sqrt(h d), and GD's grows without bound, with weight decay as lr -> 1/wd). For GD
this is THEORY.md's closed form ``eta_c = [4 mu1^2 + sqrt(16 mu1^4 + 4 sigma1^2 T)]
/ (2 sigma1^2)``.

Where it applies (:func:`applies`; :func:`predict_step1` raises ValueError naming
the parameter, :func:`theory_columns` returns NaN / None)
---------------------------------------------------------------------------------
Only the step-1 snapshot W1 (``step`` 1, ``steps >= 1``): THEORY.md says nothing
about later steps. Within step 1 the theory covers more settings than the paper's,
each because step 1 of the code reduces to the modelled update:

* ``fix_last_layer`` false: W1 uses the gradient at (W0, a0); a's own update only
  acts from step 2, so W1 is the same.
* ``lr_schedule`` step: update 0 uses ``lr * gamma^0 = lr``.
* ``momentum`` (gd / momentum): torch's buffer is g at the first step; ``adam_beta1``
  and ``adam_beta2``: the bias corrections cancel at step 1.
* ``batch_size < n``: the first minibatch is ``batch_size`` i.i.d. samples and the
  loss is the mean over it, so step 1 is a full-batch step with n = batch_size.
* ``weight_norm``: W is rescaled to ``||W||_F^2 = h d`` before the step (a factor 1 +
  O(1/sqrt(hd)) on W0) and before the snapshot; the rescaling changes no singular
  vector and no ratio to the bulk edge (sim, spike, both lrs unchanged) and scales
  lambda1 by ``h d / ||W1||_F^2 = h d / (s2_bulk h d + theta_eff^2)``.
* ``weight_decay`` with GD: ``W1 = (1 - lr wd) W0 - lr grad`` (included above, for
  ``lr wd < 1``; at ``lr wd >= 1`` the decay erases or flips W0: not covered).

Not covered:

* ``weight_decay > 0`` with adam / sign_gd: the decay enters the sign, ``sign(g +
  wd W0)``, and is correlated with W0; the sign-GD derivation does not model it.
* ``adam_eps`` not small against the gradient: the theory is sign-GD. It applies
  while the expected shrink of an update entry, ``E[eps / (|g| + eps)]`` (|g| as in
  the sign-GD derivation), is at most ``ADAM_EPS_MAX_SHRINK`` (2 %; 0.6 % at
  paper scale with eps 1e-8, where it moves sigma1 of the update by 0.25 %).
* Activations that are not odd (relu, gelu): the bias-free student's output then
  has a seed-random O(1) constant ``(E sigma) a^T 1 / sqrt h``, which correlates
  with the labels' mean (so ``E r^2`` is a per-seed random number, not a constant),
  and relu' is a step. Only ``models.ODD_ACTIVATIONS`` (tanh, erf) are covered.
* ``min(h, d) < 10`` (``shape.MIN_EIGS``): the project labels no shape there; the theory is
  asymptotic in h, d, n anyway.

Multi-index teacher (k > 1): one step at n ~ d plants ONE spike, along the
committee's linear direction ``u = sum_j b_j / sqrt k`` with the same ``c1`` (the
rest of the teacher is noise to one step); ``E y^2`` is the committee's. The table's
``sim`` for k > 1 is the mean principal cosine between W's top-k right subspace and
span(B*): predicted ``(s + (k - 1) nu) / k`` with s the spike's alignment with u
and ``nu`` the mean singular value of a (k-1) x (k-1) matrix of N(0, 1/d) entries
(the other k - 1 top vectors are bulk vectors: ``sqrt(2/(pi d))`` for one,
``(8 / (3 pi)) sqrt((k-1)/d)`` for several); ``theory_sim_mean`` = s predicts
``sim_mean`` (NaN at k = 1, where the table has no such column).

Centred teacher (``teacher_center``): every constant is computed with g - E g for
g, so ``E y^2 = Var g + rho^2`` and ``E r^2`` no longer grow with k; ``c1 = E z g``
is unchanged (E z = 0).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from htcore import baselines, models, mp, shape

#: Columns :func:`theory_columns` returns, in this order.
COLUMNS = ("theory_lambda1", "theory_sim", "theory_sim_mean", "theory_spike", "theory_lr_bbp",
           "theory_lr_detect")
#: Largest expected shrink E[eps / (|g| + eps)] of an Adam update entry for which
#: Adam's first step is treated as sign-GD (module docstring).
ADAM_EPS_MAX_SHRINK = 0.02
#: Optimizer names whose step 1 is a plain gradient step / a sign step.
GD_LIKE = ("gd", "momentum")
SIGN_LIKE = ("adam", "sign_gd")

_SQ2PI = math.sqrt(2.0 / math.pi)
#: Fewest non-zero eigenvalues the project gives a shape to (htcore.shape.MIN_EIGS).
_MIN_EIGS = getattr(shape, "MIN_EIGS", 10)


# --------------------------------------------------------------------------- constants
@dataclass(frozen=True)
class GaussianConstants:
    """The Gaussian constants of THEORY.md ("Setting and constants").

    Attributes: ``mu1 = E sigma'(z)``; ``e_sigma2 = E sigma(z)^2``; ``var_dsigma =
    Var sigma'(z)``; ``c1 = E g'(z)`` (the teacher's linear coefficient, along u);
    ``e_y2 = E y^2``; ``e_r2 = E sigma^2 + E y^2`` (residual at initialisation);
    ``e_zr2 = E[z_u^2 r^2] = E sigma^2 + E[z_u^2 y^2]``, z_u = u^T x (the residual's
    weight along u, which the noise of X^T r has there instead of E r^2)."""

    mu1: float
    e_sigma2: float
    var_dsigma: float
    c1: float
    e_y2: float
    e_r2: float
    e_zr2: float

    def noise_K(self, d: int, n: int) -> float:
        """``((d - 1) E r^2 + E[z_u^2 r^2]) / n``: the sampling noise of ``X^T r / n``,
        squared norm (THEORY.md's ``(d/n) E r^2``; module docstring)."""
        return ((d - 1) * self.e_r2 + self.e_zr2) / n


def folded_mean(mu: float, sd: float) -> float:
    """``E|mu + sd Z|``, Z ~ N(0, 1): ``sd sqrt(2/pi) exp(-mu^2 / (2 sd^2)) + |mu|
    erf(|mu| / (sd sqrt 2))`` (``|mu|`` when sd is 0)."""
    mu, sd = abs(mu), abs(sd)
    if sd == 0.0:
        return mu
    return sd * _SQ2PI * math.exp(-0.5 * (mu / sd) ** 2) + mu * math.erf(mu / (sd * math.sqrt(2.0)))


#: Gauss-Legendre nodes on [0, HALF_LINE_MAX] for E f(z) = int_0^inf (f(z) + f(-z)) phi(z) dz
#: when f has a kink at 0 (relu): smooth on each half-line, so exact to ~1e-15 with 120
#: nodes (phi(16) ~ 1e-56); scipy's adaptive quadrature (htcore.baselines) takes ~100x longer.
HALF_LINE_NODES, HALF_LINE_MAX = 120, 16.0


@functools.lru_cache(maxsize=2)
def _nodes(kinked: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights (weights include the Gaussian density)."""
    if not kinked:  # as baselines.gaussian_expectation, computed once
        z, w = np.polynomial.hermite_e.hermegauss(baselines.QUAD_NODES)
        return z, w / math.sqrt(2.0 * math.pi)
    x, w = np.polynomial.legendre.leggauss(HALF_LINE_NODES)
    z = 0.5 * HALF_LINE_MAX * (x + 1.0)
    return z, 0.5 * HALF_LINE_MAX * w * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _expect(f, kinked: bool) -> float:
    """E f(z), z ~ N(0, 1): Gauss-Hermite (the nodes of ``baselines.gaussian_expectation``),
    or for a kink at 0 Gauss-Legendre on the half-line applied to f(z) + f(-z)."""
    z, w = _nodes(kinked)
    return float(np.sum(w * (f(z) + f(-z)))) if kinked else float(np.sum(w * f(z)))


@functools.lru_cache(maxsize=256)
def gaussian_constants(activation: str = "tanh", link: str = "softplus", label_noise_std: float = 0.3,
                       k: int = 1, center: bool = False) -> GaussianConstants:
    """The constants for a student ``activation`` (name in ``models.ACTIVATIONS``), a
    teacher ``link`` (name in ``models.LINKS``), rho and k, by quadrature (Gauss-Hermite
    as ``htcore.baselines``; half-line Gauss-Legendre for a kink at 0). ``e_y2`` is
    ``baselines.loss_baselines``'s ``baseline_zero``, ``E g^2 + (k - 1) E[g]^2 + rho^2``."""
    models.check_activation(activation)
    g = models.link_fn(link)
    if center:  # teacher_center: each term g - E g (c1 = E z g is unchanged)
        g0, shift = g, _expect(g, link in models.KINKED_LINKS)
        g = lambda z: g0(z) - shift  # noqa: E731
    sig, dsig = models.ACTIVATIONS[activation], models.ACTIVATION_DERIVATIVES[activation]
    kinked_act = activation == "relu"
    kinked_link = link in models.KINKED_LINKS

    def E(f):
        return _expect(f, kinked_link)

    mu1 = _expect(dsig, kinked_act)
    e_sigma2 = _expect(lambda z: sig(z) ** 2, kinked_act)
    var_dsigma = _expect(lambda z: dsig(z) ** 2, kinked_act) - mu1**2
    c1 = E(lambda z: z * g(z))  # Stein: E z g(z) = E g'(z), also for a kink
    G1, G2 = E(g), E(lambda z: g(z) ** 2)
    e_y2 = G2 + (k - 1) * G1**2 + label_noise_std**2
    # E[z_u^2 y^2], z_u = sum_j z_j / sqrt k, y = sum_j g(z_j) / sqrt k + eps: the terms
    # of (1/k^2) sum_{a,b,c,e} E[z_a z_b g_c g_e] that do not vanish, plus rho^2
    A, Bz = E(lambda z: z * z * g(z) ** 2), E(lambda z: z * z * g(z))
    diag = A + (k - 1) * G2 + 2 * (k - 1) * Bz * G1 + (k - 1) * (k - 2) * G1**2
    e_zy2 = (k * diag + 2 * k * (k - 1) * c1**2) / k**2 + label_noise_std**2
    return GaussianConstants(mu1=mu1, e_sigma2=e_sigma2, var_dsigma=var_dsigma, c1=c1, e_y2=e_y2,
                             e_r2=e_sigma2 + e_y2, e_zr2=e_sigma2 + e_zy2)


# ------------------------------------------------------------------- spiked model
def bulk_edge(h: int, d: int, s2_bulk: float = 1.0) -> float:
    """MP upper edge of ``eig(W^T W)`` for an h x d matrix of entry variance ``s2_bulk``:
    ``s2_bulk (sqrt h + sqrt d)^2``."""
    return s2_bulk * (math.sqrt(h) + math.sqrt(d)) ** 2


def detection_threshold(h: int, d: int, s2_bulk: float = 1.0) -> float:
    """The project's spike threshold ``lambda_plus + TW_MARGIN`` Tracy-Widom scales
    (:func:`htcore.mp.fit_mp`, unstripped: the module docstring says why) for a bulk
    of entry variance ``s2_bulk``."""
    N, p = max(h, d), min(h, d)
    sn, sp = math.sqrt(N), math.sqrt(p)
    return s2_bulk * ((sn + sp) ** 2 + mp.TW_MARGIN * (sn + sp) * (1.0 / sn + 1.0 / sp) ** (1.0 / 3.0))


def tau_bbp(h: int, d: int) -> float:
    """Spike strength ``tau`` at the BBP transition: ``sqrt(h d)``."""
    return math.sqrt(h * d)


def tau_detect(h: int, d: int) -> float:
    """Spike strength ``tau`` whose ``lambda1`` equals :func:`detection_threshold`:
    the larger root of ``tau^2 - (t0 - h - d) tau + h d = 0``, t0 the threshold at
    unit bulk variance (1647.7 = 1.0985 h at d 1000, h 1500)."""
    B = detection_threshold(h, d) - h - d
    return 0.5 * (B + math.sqrt(max(B * B - 4.0 * h * d, 0.0)))


def spiked_lambda1(tau: float, h: int, d: int, s2_bulk: float = 1.0) -> float:
    """Top eigenvalue of ``W^T W`` for W = bulk (entry variance s2_bulk) + a rank-one
    spike of strength ``tau`` (in bulk units): ``s2_bulk (h + tau)(d + tau) / tau``
    above BBP, the bulk edge below."""
    if not tau > tau_bbp(h, d):
        return bulk_edge(h, d, s2_bulk)
    return s2_bulk * (h + tau) * (d + tau) / tau


def spiked_overlap(tau: float, h: int, d: int) -> float:
    """``|<v1, r_hat>|`` (not squared): the top right singular vector's overlap with the
    spike's d-side direction, ``sqrt(1 - d (h + tau) / (tau (tau + d)))``; 0 below BBP."""
    if not tau > tau_bbp(h, d):
        return 0.0
    return math.sqrt(max(0.0, 1.0 - d * (h + tau) / (tau * (tau + d))))


# -------------------------------------------------------------- the two step rules
@dataclass(frozen=True)
class _Rule:
    """Coefficients of one optimizer's step 1 as functions of lr (module docstring):
    theta_eff^2 = A lr^2 - B lr (1 - wd lr); s2_bulk = (1 - wd lr)^2 + D lr^2; the
    spike row's u-component = lr (Um + Us Z), Z ~ N(0, 1)."""

    A: float
    B: float
    D: float
    Um: float
    Us: float
    wd: float

    def theta_eff2(self, lr):
        return self.A * lr * lr - self.B * lr * (1.0 - self.wd * lr)

    def s2_bulk(self, lr):
        return (1.0 - self.wd * lr) ** 2 + self.D * lr * lr

    def tau(self, lr):
        return self.theta_eff2(lr) / self.s2_bulk(lr)

    def lr_max(self) -> float:
        return 1.0 / self.wd if self.wd > 0 else math.inf


def gd_gradient_spike(d: int, n: int, const: GaussianConstants) -> tuple[float, float]:
    """GD: ``(sigma1(grad L), E|cos(grad's right singular vector, u)|)`` = ``(2 mu1
    sqrt(K / d), E|c1 + N(0, E[z_u^2 r^2] / n)| / sqrt K)``, ``K = mu1^2 + c1^2 +
    ((d - 1) E r^2 + E[z_u^2 r^2]) / n`` (0.0440, 0.435 at paper scale)."""
    K = const.mu1**2 + const.c1**2 + const.noise_K(d, n)
    return 2.0 * const.mu1 * math.sqrt(K / d), folded_mean(const.c1, math.sqrt(const.e_zr2 / n)) / math.sqrt(K)


@dataclass(frozen=True)
class SignStats:
    """Sign-GD / Adam step-1 statistics (THEORY.md, "Adam"): ``q = E psi^2``,
    ``e_dpsi = E psi'``, ``sigma_m2``, ``s2`` (= s_xi^2 / mu1^2), ``spike`` = sqrt(h d q)
    (top singular value of sign(grad L)), ``cos_u`` = E|cos(psi, u)| and its parts:
    ``u_mean = n c1 E psi'`` and ``u_sd`` (sd of u^T psi: its sampling noise and
    psi's non-linear residual)."""

    q: float
    e_dpsi: float
    sigma_m2: float
    s2: float
    spike: float
    cos_u: float
    u_mean: float
    u_sd: float


def sign_stats(d: int, h: int, n: int, const: GaussianConstants) -> SignStats:
    """:class:`SignStats` of one setting (q 0.680, spike 1010, cos 0.394 at paper scale)."""
    s_xi2 = n * const.var_dsigma * const.e_r2
    sigma_m2 = n * n * (const.mu1**2 + const.c1**2 + const.noise_K(d, n)) / d
    s2 = s_xi2 / const.mu1**2
    rho = sigma_m2 / (sigma_m2 + s2)
    q = (2.0 / math.pi) * math.asin(min(rho, 1.0))
    e_dpsi = _SQ2PI / math.sqrt(sigma_m2 + s2)
    u_mean = n * abs(const.c1) * e_dpsi
    u_sd = math.sqrt(e_dpsi**2 * n * const.e_zr2 + max(q - e_dpsi**2 * sigma_m2, 0.0))
    return SignStats(q=q, e_dpsi=e_dpsi, sigma_m2=sigma_m2, s2=s2, spike=math.sqrt(h * d * q),
                     cos_u=folded_mean(u_mean, u_sd) / math.sqrt(d * q), u_mean=u_mean, u_sd=u_sd)


@functools.lru_cache(maxsize=256)
def adam_eps_shrink(d: int, h: int, n: int, adam_eps: float, const: GaussianConstants) -> float:
    """Expected shrink ``E[eps / (|g| + eps)]`` of one Adam step-1 entry against the sign:
    ``|g| = (2 / (n sqrt(h d))) |a| |H|``, ``H ~ N(0, mu1^2 sigma_m^2 + s_xi^2)``, so
    ``|g| / g_sd`` is the product of two half-normals, density ``(2/pi) K0(t)``."""
    if adam_eps <= 0:
        return 0.0
    from scipy.integrate import quad
    from scipy.special import k0

    st = sign_stats(d, h, n, const)
    g_sd = 2.0 / (n * math.sqrt(h * d)) * const.mu1 * math.sqrt(st.sigma_m2 + st.s2)
    r = adam_eps / g_sd

    def f(t):
        return (2.0 / math.pi) * k0(t) * r / (t + r)

    edges = [0.0, *sorted({r, 1.0}), math.inf]  # K0's log singularity at 0, the kernel's scale r
    return float(sum(quad(f, lo, hi, limit=200)[0] for lo, hi in zip(edges, edges[1:])))


def _rule(optimizer: str, d: int, h: int, n: int, const: GaussianConstants, weight_decay: float) -> _Rule:
    if optimizer in GD_LIKE:
        s1, _ = gd_gradient_spike(d, n, const)
        coef = 2.0 * const.mu1 / math.sqrt(d)
        return _Rule(A=s1 * s1, B=4.0 * const.mu1**2,
                     D=4.0 * const.var_dsigma * const.e_r2 / (n * h * d),
                     Um=coef * abs(const.c1), Us=coef * math.sqrt(const.e_zr2 / n), wd=float(weight_decay))
    st = sign_stats(d, h, n, const)
    return _Rule(A=h * d * st.q, B=2.0 * math.sqrt(h) * _SQ2PI * n * const.mu1 * math.sqrt(d) * st.e_dpsi,
                 D=1.0 - st.q, Um=math.sqrt(h) * st.u_mean, Us=math.sqrt(h) * st.u_sd, wd=0.0)


# ------------------------------------------------------------------ applicability
def _reason(*, d: int, h: int, n: int, optimizer: str, activation: str, link: str, k: int,
            center: bool = False, teacher_kind: str = "multi_index", lr: float | None = None, weight_decay: float = 0.0,
            adam_eps: float = 1e-8, label_noise_std: float = 0.3, steps: int = 1, step: int = 1) -> str:
    """'' when the theory applies, else one sentence naming the parameter."""
    if step != 1:
        return f"step: the theory predicts the step-1 snapshot only (THEORY.md), got step {step}"
    if steps < 1:
        return f"steps: a run of {steps} steps has no step-1 snapshot"
    if optimizer not in models.OPTIMIZERS:
        return f"optimizer: unknown optimizer {optimizer!r}"
    if activation not in models.ODD_ACTIVATIONS:
        return (f"activation: {activation!r} is not odd; the bias-free student then has a seed-random O(1) "
                "mean output and E r^2 is not a constant (covered: tanh, erf)")
    if link not in models.LINKS:
        return f"teacher_link: unknown link {link!r}"
    if teacher_kind not in models.TEACHER_KINDS:
        return f"teacher_kind: unknown teacher kind {teacher_kind!r}"
    if teacher_kind == "single_index" and k != 1:
        return f"teacher_k: a single_index teacher has k = 1, got {k}"
    if not 1 <= k <= d:
        return f"teacher_k: k must be in [1, d], got {k}"
    if min(h, d) < _MIN_EIGS:
        return f"h, d: min(h, d) = {min(h, d)} < {_MIN_EIGS}, too small for a spectrum shape"
    if n < 2:
        return f"n (or batch_size): {n} samples"
    if not (label_noise_std >= 0 and math.isfinite(label_noise_std)):
        return f"label_noise_std: {label_noise_std!r}"
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        return f"lr: must be positive and finite, got {lr!r}"
    if weight_decay < 0:
        return f"weight_decay: negative ({weight_decay})"
    if weight_decay > 0 and optimizer in SIGN_LIKE:
        return (f"weight_decay: {weight_decay} with {optimizer}: the decay enters the sign, sign(g + wd W0), "
                "which the sign-GD derivation does not model")
    if weight_decay > 0 and lr is not None and lr * weight_decay >= 1.0:
        return f"weight_decay: lr * weight_decay = {lr * weight_decay:g} >= 1 erases or flips W0"
    if optimizer == "adam":
        if not adam_eps >= 0:
            return f"adam_eps: {adam_eps!r}"
        shrink = adam_eps_shrink(d, h, n, adam_eps, gaussian_constants(activation, link, float(label_noise_std),
                                                                        int(k), bool(center)))
        if shrink > ADAM_EPS_MAX_SHRINK:
            return (f"adam_eps: {adam_eps:g} shrinks an update entry by {100 * shrink:.1f} % on average "
                    f"(> {100 * ADAM_EPS_MAX_SHRINK:g} %): Adam's step is no longer sign-GD")
    return ""


def _setting(params: Mapping[str, Any]) -> dict[str, Any]:
    """The theory's arguments from a run's parameters (htcore.params names; a missing
    key takes its default; batch_size None or >= n is the full batch)."""
    from htcore import params as P

    def get(name):
        v = params.get(name)
        return P.DEFAULTS[name] if v is None else v

    n = int(get("n"))
    bs = params.get("batch_size")
    n_eff = n if bs is None else min(n, int(bs))
    kind = str(get("teacher_kind"))
    optimizer = str(get("optimizer"))
    wd = float(get("weight_decay"))
    return dict(d=int(get("d")), h=int(get("h")), n=n_eff, optimizer=optimizer,
                activation=str(get("activation")), link=str(get("teacher_link")),
                center=bool(get("teacher_center")),
                k=int(get("teacher_k")) if kind == "multi_index" else 1, teacher_kind=kind,
                weight_decay=wd, adam_eps=float(get("adam_eps")),
                label_noise_std=float(get("label_noise_std")), steps=int(get("steps")),
                weight_norm=bool(get("weight_norm")), lr=float(get("lr")))


def applies(params: Mapping[str, Any], step: int = 1) -> tuple[bool, str]:
    """Whether the one-step theory covers the snapshot at ``step`` of a run with these
    parameters (``htcore.params`` names; missing keys take their defaults): ``(True,
    "")`` or ``(False, reason)``, the reason starting with the parameter's name. The
    module docstring lists what is covered and why."""
    s = _setting(params)
    s.pop("weight_norm")
    why = _reason(step=step, **s)
    return (not why, why)


# ----------------------------------------------------------------- predictions
@dataclass(frozen=True)
class StepOnePrediction:
    """The theory's step-1 numbers for one setting and lr.

    ``lambda1``: top eigenvalue of W1^T W1 (after the weight-norm rescaling when on);
    ``sim``: E|<v1, u>| (u = beta* at k = 1); ``spike``: lambda1 above the project's
    threshold; ``above_bbp``: the spike has left the bulk; ``tau``, ``theta_eff2``,
    ``s2_bulk``: spike strength (bulk units), excess squared row norm, bulk entry
    variance; ``overlap``: |<v1, r_hat>|; ``cos_update``: E|cos(spike row, u)|;
    ``lambda_plus``, ``threshold``: bulk edge and detection threshold (same scale as
    lambda1); ``lr_bbp``, ``lr_detect``: first-spike learning rates of the setting."""

    lambda1: float
    sim: float
    spike: bool
    above_bbp: bool
    tau: float
    theta_eff2: float
    s2_bulk: float
    overlap: float
    cos_update: float
    lambda_plus: float
    threshold: float
    lr_bbp: float
    lr_detect: float


def _prepare(d, h, n, optimizer, label_noise_std, link, k, activation, weight_decay, adam_eps, lr=None,
             center=False):
    why = _reason(d=int(d), h=int(h), n=int(n), optimizer=optimizer, activation=activation, link=link, k=int(k),
                  center=bool(center), lr=lr, weight_decay=float(weight_decay), adam_eps=float(adam_eps),
                  label_noise_std=float(label_noise_std))
    if why:
        raise ValueError(f"the one-step theory does not apply: {why}")
    const = gaussian_constants(activation, link, float(label_noise_std), int(k), bool(center))
    return const, _rule(optimizer, int(d), int(h), int(n), const, float(weight_decay))


def _first_lr(rule: _Rule, T: float) -> float:
    """Smallest lr with tau(lr) >= T (inf if none below rule.lr_max())."""
    lo_lim, hi_lim = 1e-12, min(1e15, rule.lr_max() * (1.0 - 1e-12))
    grid = np.geomspace(lo_lim, hi_lim, 1200)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        f = rule.tau(grid) - T
    idx = np.flatnonzero(f >= 0)
    if idx.size == 0:
        return math.inf
    i = int(idx[0])
    if i == 0:
        return float(grid[0])
    from scipy.optimize import brentq

    return float(brentq(lambda x: rule.tau(x) - T, grid[i - 1], grid[i], xtol=1e-300, rtol=1e-13, maxiter=200))


def first_spike_lr(d: int, h: int, n: int, *, optimizer: str = "gd", criterion: str = "detect",
                   label_noise_std: float = 0.3, link: str = "softplus", k: int = 1, activation: str = "tanh",
                   weight_decay: float = 0.0, adam_eps: float = 1e-8, center: bool = False) -> float:
    """The smallest lr whose step-1 spike is above BBP (``criterion="bbp"``, tau =
    sqrt(h d)) or detected by the project's rule (``"detect"``); ``inf`` if no lr gets
    there. GD at paper scale: 1260 / 1376; Adam: 0.049 / 0.054. Root of the monotone
    tau(lr) (module docstring). ValueError where the theory does not apply."""
    if criterion not in ("bbp", "detect"):
        raise ValueError(f"criterion must be 'bbp' or 'detect', got {criterion!r}")
    _, rule = _prepare(d, h, n, optimizer, label_noise_std, link, k, activation, weight_decay, adam_eps,
                       center=center)
    return _first_lr(rule, tau_bbp(h, d) if criterion == "bbp" else tau_detect(h, d))


def predict_step1(d: int, h: int, n: int, lr: float, *, optimizer: str = "gd", label_noise_std: float = 0.3,
                  link: str = "softplus", k: int = 1, activation: str = "tanh", weight_decay: float = 0.0,
                  adam_eps: float = 1e-8, weight_norm: bool = False, center: bool = False) -> StepOnePrediction:
    """The step-1 prediction (:class:`StepOnePrediction`) for one full-batch update of
    ``optimizer`` (gd, momentum, adam, sign_gd) at ``lr`` on n samples (the batch size
    for a minibatch run). ValueError naming the parameter where the theory does not
    apply (module docstring)."""
    const, rule = _prepare(d, h, n, optimizer, label_noise_std, link, k, activation, weight_decay, adam_eps, lr,
                           center)
    lr = float(lr)
    te2 = float(rule.theta_eff2(lr))
    s2 = float(rule.s2_bulk(lr))
    tau = te2 / s2
    lam1 = spiked_lambda1(tau, h, d, s2)
    above = tau > tau_bbp(h, d)
    ov = spiked_overlap(tau, h, d)
    cos_m, cos_s = (rule.Um * lr / math.sqrt(te2), rule.Us * lr / math.sqrt(te2)) if te2 > 0 else (0.0, 0.0)
    cos_u = min(1.0, folded_mean(cos_m, cos_s))
    sim = min(1.0, folded_mean(ov * cos_m, math.sqrt((ov * cos_s) ** 2 + (1.0 - ov * ov) / d)))
    lam_plus, thr = bulk_edge(h, d, s2), detection_threshold(h, d, s2)
    spike = bool(lam1 > thr)
    if weight_norm:  # rescaled to ||W1||_F^2 = h d before the snapshot
        scale = h * d / (s2 * h * d + te2)  # ||W1||_F^2: bulk plus the spike row's excess
        lam1, lam_plus, thr = lam1 * scale, lam_plus * scale, thr * scale
    return StepOnePrediction(
        lambda1=lam1, sim=sim, spike=spike, above_bbp=bool(above), tau=tau, theta_eff2=te2, s2_bulk=s2,
        overlap=ov, cos_update=cos_u, lambda_plus=lam_plus, threshold=thr,
        lr_bbp=_first_lr(rule, tau_bbp(h, d)), lr_detect=_first_lr(rule, tau_detect(h, d)))


def subspace_sim(s: float, k: int, d: int) -> float:
    """Predicted table ``sim`` for a k-direction teacher (mean principal cosine of W's
    top-k right subspace with span(B*)) when one spike aligns ``s`` with u and the other
    k - 1 top vectors are bulk vectors: ``(s + (k - 1) nu) / k`` (module docstring)."""
    if k == 1:
        return s
    m = k - 1
    nu = math.sqrt(2.0 / (math.pi * d)) if m == 1 else (8.0 / (3.0 * math.pi)) * math.sqrt(m / d)
    return (s + m * nu) / k


def theory_columns(params: Mapping[str, Any], step: int = 1) -> dict[str, Any]:
    """The theory's columns (:data:`COLUMNS`) for the snapshot at ``step`` of a run with
    these parameters (``htcore.params`` names; missing keys take their defaults).

    ``theory_lambda1`` (float), ``theory_sim`` (predicts the table's ``sim``),
    ``theory_sim_mean`` (predicts ``sim_mean``; NaN at k = 1), ``theory_spike`` (bool),
    ``theory_lr_bbp``, ``theory_lr_detect`` (floats, inf when no lr spikes). Where the
    theory does not apply (:func:`applies`) every float is NaN and ``theory_spike``
    None."""
    ok, _ = applies(params, step)
    if not ok:
        return {c: (None if c == "theory_spike" else math.nan) for c in COLUMNS}
    s = _setting(params)
    pred = predict_step1(s["d"], s["h"], s["n"], s["lr"], optimizer=s["optimizer"],
                         label_noise_std=s["label_noise_std"], link=s["link"], k=s["k"],
                         activation=s["activation"], weight_decay=s["weight_decay"], adam_eps=s["adam_eps"],
                         weight_norm=s["weight_norm"], center=s["center"])
    return {
        "theory_lambda1": pred.lambda1,
        "theory_sim": subspace_sim(pred.sim, s["k"], s["d"]),
        "theory_sim_mean": pred.sim if s["k"] > 1 else math.nan,
        "theory_spike": pred.spike,
        "theory_lr_bbp": pred.lr_bbp,
        "theory_lr_detect": pred.lr_detect,
    }


# ------------------------------------------------------------ numerical check
def exact_gradient(X: np.ndarray, y: np.ndarray, W0: np.ndarray, a: np.ndarray,
                   activation: str = "tanh") -> np.ndarray:
    """grad_W L at (W0, a) in float64, the operations of ``htcore.train.loss_and_grads``:
    ``(2 / (n sqrt(h d))) [sigma'(U) * (r a^T)]^T X``, ``U = X W0^T / sqrt d``, ``r =
    sigma(U) a / sqrt h - y``."""
    models.check_activation(activation)
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    W0, a = np.asarray(W0, np.float64), np.asarray(a, np.float64)
    n, d = X.shape
    h = W0.shape[0]
    U = X @ W0.T / math.sqrt(d)
    r = models.ACTIVATIONS[activation](U) @ a / math.sqrt(h) - y
    S = models.ACTIVATION_DERIVATIVES[activation](U)
    return ((S * r[:, None]) * a[None, :]).T @ X * (2.0 / (n * math.sqrt(h * d)))


def _top(W: np.ndarray, kk: int = 1):
    """The kk largest eigenpairs of W^T W, ascending. Lanczos (ARPACK, to machine
    precision, fixed start vector): a dense eigensolver is ~100x slower when the
    BLAS threads compete with other processes."""
    A = W.T @ W
    d = A.shape[0]
    if d <= 3 * kk + 20:
        vals, V = np.linalg.eigh(A)
        return vals[d - kk:], V[:, d - kk:]
    from scipy.sparse.linalg import eigsh

    v0 = np.random.default_rng(0).standard_normal(d)
    vals, V = eigsh(A, k=kk, which="LA", tol=0.0, v0=v0)
    order = np.argsort(vals)
    return vals[order], V[:, order]


def exact_W1(X: np.ndarray, y: np.ndarray, W0: np.ndarray, a: np.ndarray, lrs: float | Sequence[float], *,
             optimizer: str = "gd", activation: str = "tanh", adam_eps: float = 1e-8, weight_decay: float = 0.0,
             weight_norm: bool = False) -> list[np.ndarray]:
    """W1 after one exact full-batch step from (W0, a) on (X, y), float64, per lr in
    ``lrs``: what ``htcore.train.train`` computes at step 1 (in float32 there).

    ``optimizer``: gd / momentum (``(1 - lr wd) W0 - lr grad``; torch's momentum
    buffer is the gradient at step 1), sign_gd (``W0 - lr sign(grad + wd W0)``) or adam
    (``W0 - lr g / (|g| + eps)``, g = grad + wd W0: the bias-corrected first step).
    ``weight_norm`` rescales W0 before the step and W1 after it to ||W||_F^2 = h d. For
    a minibatch run pass its first batch as (X, y)."""
    models.check_optimizer(optimizer)
    W0 = np.asarray(W0, np.float64)
    h, d = W0.shape
    if weight_norm:
        W0 = W0 * (math.sqrt(h * d) / np.linalg.norm(W0))
    G = exact_gradient(X, y, W0, a, activation)
    if weight_decay and optimizer in SIGN_LIKE:  # torch adds wd W to the gradient
        G = G + weight_decay * W0
    M = np.sign(G) if optimizer == "sign_gd" else G / (np.abs(G) + adam_eps) if optimizer == "adam" else None
    out = []
    for lr in np.atleast_1d(lrs):
        lr = float(lr)
        W1 = W0 * (1.0 - lr * weight_decay) - lr * G if M is None else W0 - lr * M
        if weight_norm:
            W1 = W1 * (math.sqrt(h * d) / np.linalg.norm(W1))
        out.append(W1)
    return out


def exact_step1(X: np.ndarray, y: np.ndarray, W0: np.ndarray, a: np.ndarray, teacher: np.ndarray,
                lrs: float | Sequence[float], *, optimizer: str = "gd", activation: str = "tanh",
                adam_eps: float = 1e-8, weight_decay: float = 0.0, weight_norm: bool = False,
                full_spectrum: bool = False) -> list[dict[str, float]]:
    """The numbers :func:`predict_step1` predicts, measured on one exact step
    (:func:`exact_W1`, same arguments) per lr in ``lrs``.

    ``teacher``: beta* (d,) or B* (d, k). Returns per lr a dict: ``lr``, ``lambda1``
    (top eigenvalue of W1^T W1), ``sim`` (|<v1, u>|, u = sum_j b_j / sqrt k: the
    table's sim at k = 1, its sim_mean at k > 1), ``sim_sub`` (mean principal cosine
    of the top-k right subspace with span(B*): the table's sim; = sim at k = 1) and,
    with ``full_spectrum``, ``n_spikes`` and ``spike_threshold`` from
    :func:`htcore.mp.fit_mp` on all eigenvalues (the project's detection)."""
    W1s = exact_W1(X, y, W0, a, lrs, optimizer=optimizer, activation=activation, adam_eps=adam_eps,
                   weight_decay=weight_decay, weight_norm=weight_norm)
    B = np.asarray(teacher, np.float64)
    B = B[:, None] if B.ndim == 1 else B
    kk = B.shape[1]
    u = B.sum(axis=1)
    u /= np.linalg.norm(u)
    out = []
    for lr, W1 in zip(np.atleast_1d(lrs), W1s):
        h, d = W1.shape
        vals, V = _top(W1, kk)
        row = {"lr": float(lr), "lambda1": float(vals[-1]), "sim": float(abs(V[:, -1] @ u))}
        row["sim_sub"] = (row["sim"] if kk == 1 else
                          float(np.clip(np.linalg.svd(V.T @ B, compute_uv=False), 0, 1).mean()))
        if full_spectrum:
            fit = mp.fit_mp(np.linalg.eigvalsh(W1.T @ W1), h, d)
            row["n_spikes"], row["spike_threshold"] = fit.n_spikes, fit.spike_threshold
        out.append(row)
    return out
