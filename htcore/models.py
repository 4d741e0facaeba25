"""Registries of the model's named choices: teacher, link, student activation, optimizer.

The study's paper setting is one point of each registry: a ``single_index`` teacher
(k = 1) with the ``softplus`` link, a ``tanh`` student and the ``gd`` or ``adam``
optimizer. The other entries go beyond the paper. Every function here is NumPy (and
SciPy, imported lazily for erf); the torch versions of the activations live in
:mod:`htcore.train`, so a CPU job never imports torch.

Teacher (:class:`Teacher`): ``y = (1/sqrt(k)) sum_{j=1..k} g(b_j^T x) + eps`` with
``b_j`` the orthonormal columns of B* (d x k), ``g`` the link, ``eps ~ N(0, rho^2)``.
With x ~ N(0, I_d) the ``z_j = b_j^T x`` are i.i.d. N(0, 1), so the 1/sqrt(k) keeps
Var(y) = Var(g(z)) + rho^2 whatever k (see :mod:`htcore.baselines`).

* ``TEACHER_KINDS``: ``single_index`` (k must be 1) and ``multi_index`` (k >= 1; at
  k = 1 it draws exactly the single-index arrays).
* ``LINKS`` (the teacher's g): ``softplus`` log(1 + e^z), ``relu`` max(z, 0),
  ``tanh``, ``he2`` the second Hermite polynomial z^2 - 1 (mean 0, purely even, so an
  odd student cannot learn any of it). ``KINKED_LINKS`` are not smooth at 0 (their
  Gaussian expectations need a quadrature split at 0).
* ``ACTIVATIONS`` (the student's sigma, elementwise on W x / sqrt(d)): ``tanh``
  (paper), ``relu``, ``erf``, ``gelu`` (the exact form z Phi(z), as
  ``torch.nn.functional.gelu``'s default). ``ACTIVATION_DERIVATIVES`` holds sigma'
  written by hand (relu' = 1 for z > 0 and 0 otherwise, as torch's autograd).
  ``ODD_ACTIVATIONS`` (tanh, erf) make every function of the bias-free network odd
  in x; relu and gelu do not.
* ``OPTIMIZERS``: ``gd`` (torch SGD; its ``momentum`` parameter, 0 by default,
  applies as in the paper runs), ``adam`` (torch Adam), ``sign_gd`` (w <- w - lr
  sign(g), Adam's limit at beta1 = beta2 = 0 and eps -> 0), ``momentum`` (torch SGD
  with heavy-ball momentum ``momentum``; the same update rule as ``gd``, a separate
  name so that a momentum study does not change the ids of the ``gd`` runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

TEACHER_KINDS = ("single_index", "multi_index")
OPTIMIZERS = ("gd", "adam", "sign_gd", "momentum")


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), stable for large |z|."""
    return np.logaddexp(0.0, z)


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0.0)


def he2(z: np.ndarray) -> np.ndarray:
    """The second (probabilists') Hermite polynomial z^2 - 1."""
    return z * z - 1.0


#: The teacher's link g, by name; NumPy functions (float64 in the teacher).
LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "softplus": softplus, "relu": relu, "tanh": np.tanh, "he2": he2,
}
#: Links with a kink at 0 (Gauss-Hermite quadrature converges slowly on them).
KINKED_LINKS = frozenset({"relu"})


def link_fn(link: str | Callable) -> Callable[[np.ndarray], np.ndarray]:
    """The link function of a name in ``LINKS`` (a callable is returned as is)."""
    if callable(link):
        return link
    if link not in LINKS:
        raise ValueError(f"unknown teacher link {link!r} (one of {', '.join(LINKS)})")
    return LINKS[link]


def _erf(z):
    from scipy.special import erf

    return erf(z)


def _np_relu(u):
    return np.maximum(u, np.zeros((), dtype=u.dtype))


def _np_relu_prime(u):
    return (u > 0).astype(u.dtype)


def _np_erf_prime(u):
    return (2.0 / math.sqrt(math.pi)) * np.exp(-(u * u))


def _np_gelu(u):
    return 0.5 * u * (1.0 + _erf(u / math.sqrt(2.0)))


def _np_gelu_prime(u):
    return 0.5 * (1.0 + _erf(u / math.sqrt(2.0))) + u * np.exp(-0.5 * (u * u)) / math.sqrt(2.0 * math.pi)


def _np_tanh_prime(u):
    t = np.tanh(u)
    return 1.0 - t * t


#: The student's activation sigma, by name; NumPy, dtype-preserving (float32 stays float32).
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh, "relu": _np_relu, "erf": _erf, "gelu": _np_gelu,
}
#: sigma' by name, written by hand (NumPy).
ACTIVATION_DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": _np_tanh_prime, "relu": _np_relu_prime, "erf": _np_erf_prime, "gelu": _np_gelu_prime,
}
#: Odd activations: with them (and no biases) every predictor of the network is odd in x.
ODD_ACTIVATIONS = frozenset({"tanh", "erf"})


def check_activation(name: str) -> str:
    """``name`` if it is in ``ACTIVATIONS``, else ValueError."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (one of {', '.join(ACTIVATIONS)})")
    return name


def check_optimizer(name: str) -> str:
    """``name`` if it is in ``OPTIMIZERS``, else ValueError."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r} (one of {', '.join(OPTIMIZERS)})")
    return name


@dataclass(frozen=True)
class Teacher:
    """The teacher: ``kind`` in TEACHER_KINDS, ``k`` directions, ``link`` in LINKS,
    and ``center``: subtract the link's population mean E g(z), z ~ N(0, 1), from
    each direction's term, so that E y = 0 whatever k (the committee's uncentred
    label mean is sqrt(k) E g; a bias-free student can only meet it through the
    sample mean of the inputs).

    The default is the paper's (single_index, 1, softplus, uncentred)."""

    kind: str = "single_index"
    k: int = 1
    link: str = "softplus"
    center: bool = False

    def __post_init__(self) -> None:
        if self.kind not in TEACHER_KINDS:
            raise ValueError(f"unknown teacher kind {self.kind!r} (one of {', '.join(TEACHER_KINDS)})")
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ValueError(f"teacher k must be a positive integer, got {self.k!r}")
        if self.kind == "single_index" and self.k != 1:
            raise ValueError(f"a single_index teacher has k = 1, got k = {self.k} (use multi_index)")
        if not isinstance(self.link, str):
            raise ValueError(f"a Teacher's link is a name in LINKS, got {self.link!r}")
        link_fn(self.link)
        if not isinstance(self.center, (bool, np.bool_)):
            raise ValueError(f"a Teacher's center is true or false, got {self.center!r}")

    @classmethod
    def of(cls, spec: "Teacher | Mapping[str, Any] | None") -> "Teacher":
        """A Teacher from None (the default), a Teacher, or a mapping of its fields."""
        if spec is None:
            return cls()
        if isinstance(spec, cls):
            return spec
        unknown = set(spec) - {"kind", "k", "link", "center"}
        if unknown:
            raise ValueError(f"unknown teacher field(s) {sorted(unknown)} (kind, k, link, center)")
        return cls(**spec)
