"""Training the two-layer student with full-batch (or minibatch) GD, Adam, sign-GD or
heavy-ball momentum.

Model: f(x) = a^T sigma(W x / sqrt(d)) / sqrt(h), loss = mean squared error over the
batch, sigma = ``activation`` (``tanh``, the paper's, ``relu``, ``erf`` or ``gelu``;
see :mod:`htcore.models`). Only W trains unless ``fix_last_layer`` is false.

The update rules follow ``torch.optim.SGD`` (``gd`` and ``momentum``: momentum,
L2 weight decay added to the gradient, dampening 0) and ``torch.optim.Adam``
(``adam``: bias-corrected, eps outside the square root) exactly, and
``torch.optim.lr_scheduler.StepLR`` for the schedule. ``sign_gd`` is w <- w - lr
sign(g + wd w) (sign(0) = 0), Adam's limit at beta1 = beta2 = 0 and eps -> 0.
The gradient (and sigma') is written out by hand, so the same code runs on NumPy
arrays (the CPU reference; no torch import, which costs ~1.5 s per process) and on
torch tensors (CUDA). Arithmetic is float32 as in the authors' code. The tanh path
performs the same operations in the same order as before the other activations
existed, so its numbers are unchanged.

Run parameters read here beyond the paper's: ``activation`` (default ``tanh`` when
absent) and the optimizer names ``sign_gd`` and ``momentum`` (which uses
``momentum``); an unknown name is a ValueError.

Weight normalisation (``weight_norm``): W is rescaled to ``||W||_F = sqrt(h d)``
before every update **and** before the last snapshot, so every snapshot (W_0 to
W_steps alike) is taken after a rescaling and has ``||W||_F^2 = h d``; the loss at
step t is the network's at that rescaled W_t. The norm is computed so that it never
overflows while the entries are finite (:func:`frobenius_norm`).

Divergence is a result, not an error: the first step at which the loss, any weight,
or the squared Frobenius norm of W (the total mass of the spectrum, in float32) is
non-finite is recorded as ``first_bad_step``; training stops there and every later
snapshot and loss is NaN.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from htcore import models
from htcore.data import rng

#: Above this many steps, training reports progress with an ETA on stderr (the log).
PROGRESS_MIN_STEPS = 200


@dataclass
class TrainResult:
    """Snapshots and trace of one run.

    ``W`` (n_probe, h, d) and ``a`` (n_probe, h) hold the weights at ``probe_steps``;
    ``loss[t]`` is the training MSE at W_t on the batch of update t (on the full
    training set at the last step); ``lr[t]`` the learning rate of update t.
    """

    probe_steps: np.ndarray
    W: np.ndarray
    a: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    diverged: bool
    first_bad_step: int
    device: str
    seconds: float


class _Numpy:
    name = "cpu"

    def asarray(self, x):
        return np.array(x, dtype=np.float32)

    tanh = staticmethod(np.tanh)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    zeros_like = staticmethod(np.zeros_like)
    isfinite = staticmethod(np.isfinite)

    def to_numpy(self, x):
        return np.array(x)

    def activation(self, name: str):
        """(sigma, sigma') of an activation name, NumPy."""
        models.check_activation(name)
        return models.ACTIVATIONS[name], models.ACTIVATION_DERIVATIVES[name]

    def take(self, x, idx):
        return x[idx]


def _torch_tanh(torch):
    def tanh_prime(u):
        t = torch.tanh(u)
        return 1.0 - t * t

    return torch.tanh, tanh_prime


def _torch_relu(torch):
    return torch.relu, lambda u: (u > 0).to(u.dtype)


def _torch_erf(torch):
    c_erf = 2.0 / math.sqrt(math.pi)
    return torch.erf, lambda u: c_erf * torch.exp(-(u * u))


def _torch_gelu(torch):
    c_phi = 1.0 / math.sqrt(2.0 * math.pi)

    def gelu_prime(u):
        return 0.5 * (1.0 + torch.erf(u / math.sqrt(2.0))) + u * torch.exp(-0.5 * (u * u)) * c_phi

    return torch.nn.functional.gelu, gelu_prime


#: The torch (sigma, sigma') of each activation in ``models.ACTIVATIONS``, given the
#: torch module; sigma' by hand as in NumPy. A registry: a run's code fingerprint
#: counts only its own activation's entry (htcore.fingerprint.REGISTRY_PARAMS).
TORCH_ACTIVATIONS = {"tanh": _torch_tanh, "relu": _torch_relu, "erf": _torch_erf, "gelu": _torch_gelu}


class _Torch:
    def __init__(self, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.name = device
        self.tanh, self.sqrt, self.abs = torch.tanh, torch.sqrt, torch.abs
        self.sign = torch.sign
        self.zeros_like, self.isfinite = torch.zeros_like, torch.isfinite

    def activation(self, name: str):
        """(sigma, sigma') of an activation name, torch (:data:`TORCH_ACTIVATIONS`)."""
        models.check_activation(name)
        return TORCH_ACTIVATIONS[name](self.torch)

    def asarray(self, x):
        return self.torch.tensor(np.asarray(x, dtype=np.float32), device=self.device)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def take(self, x, idx):
        return x[self.torch.as_tensor(idx, device=self.device)]


def cuda_visible() -> bool:
    """Cheap check (no torch import) whether an NVIDIA device could be present."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` must exist."""
    if device == "cpu" or (device == "auto" and not cuda_visible()):
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeError("device: cuda was requested but torch.cuda.is_available() is False")
    return "cpu"


def backend(device: str):
    """Array backend for a resolved device: NumPy for ``cpu``, torch otherwise
    (``torch-cpu`` runs the torch code path on the CPU, used by tests)."""
    if device == "cpu":
        return _Numpy()
    return _Torch("cpu" if device == "torch-cpu" else device)


def frobenius_norm(W, xp) -> float:
    """||W||_F as a Python float. The float32 sum of squares (the reference numbers)
    when it is finite and positive; else rescaled by max |W_ij| first, so entries of
    1e20 (whose squares overflow float32) still give their true norm, not inf."""
    sq = float((W * W).sum())
    if math.isfinite(sq) and sq > 0:
        return math.sqrt(sq)
    m = float(xp.abs(W).max())
    if not math.isfinite(m) or m == 0:
        return m
    return m * math.sqrt(float(((W / m) ** 2).sum()))


def loss_and_grads(W, a, X, y, xp, need_a: bool, need_W: bool = True, activation: str = "tanh"):
    """MSE loss of the student on (X, y) and its gradients w.r.t. W and a (None
    where not needed). ``activation``: a name in ``models.ACTIVATIONS``; for tanh,
    sigma' = 1 - tanh^2 is formed from the activations themselves (the paper's path)."""
    n, d = X.shape
    h = W.shape[0]
    U = (X @ W.T) / math.sqrt(d)
    if activation == "tanh":
        T, dsigma = xp.tanh(U), None
    else:
        sigma, dsigma = xp.activation(activation)
        T = sigma(U)
    r = (T @ a) / math.sqrt(h) - y
    loss = float((r * r).mean())
    if not need_W:
        return loss, None, None
    c = 2.0 / (n * math.sqrt(h))
    S = (1.0 - T * T) if dsigma is None else dsigma(U)
    G = S * (r[:, None] * c) * a[None, :]
    gW = (G.T @ X) / math.sqrt(d)
    ga = (T.T @ r) * c if need_a else None
    return loss, gW, ga


def _sign_gd_step(opt: "_Optimizer", w, g, lr: float):
    return w - lr * opt.xp.sign(g)


def _gd_step(opt: "_Optimizer", w, g, lr: float):
    momentum = opt.p["momentum"]
    if momentum:
        opt.buf = g if opt.buf is None else momentum * opt.buf + g
        g = opt.buf
    return w - lr * g


def _adam_step(opt: "_Optimizer", w, g, lr: float):
    xp, b1, b2 = opt.xp, opt.p["adam_beta1"], opt.p["adam_beta2"]
    if opt.m is None:
        opt.m, opt.v = xp.zeros_like(w), xp.zeros_like(w)
    opt.m = b1 * opt.m + (1 - b1) * g
    opt.v = b2 * opt.v + (1 - b2) * (g * g)
    bc1 = 1 - b1**opt.t
    bc2 = 1 - b2**opt.t
    denom = xp.sqrt(opt.v) / math.sqrt(bc2) + opt.p["adam_eps"]
    return w - (lr / bc1) * (opt.m / denom)


#: One update ``(optimizer state, w, g, lr) -> new w`` of each optimizer in
#: ``models.OPTIMIZERS``, torch semantics (the weight decay is already in g). A
#: registry: a run's code fingerprint counts only its own optimizer's entry
#: (htcore.fingerprint.REGISTRY_PARAMS), so adding one retrains nothing.
OPTIMIZER_STEPS = {"gd": _gd_step, "adam": _adam_step, "sign_gd": _sign_gd_step, "momentum": _gd_step}


class _Optimizer:
    """One parameter's optimizer state, torch semantics; the update is the
    optimizer's entry of :data:`OPTIMIZER_STEPS`."""

    def __init__(self, p: Mapping[str, Any], xp):
        # a run's spec carries only the parameters its optimizer uses (htcore.params)
        self.kind = models.check_optimizer(p["optimizer"])
        self.p = p
        self.wd = p["weight_decay"]
        self.xp = xp
        self.t = 0
        self.buf = self.m = self.v = None

    def step(self, w, g, lr: float):
        if self.wd:
            g = g + self.wd * w
        self.t += 1
        return OPTIMIZER_STEPS[self.kind](self, w, g, lr)


def lr_at(p: Mapping[str, Any], t: int) -> float:
    """Learning rate of update t (0-based): StepLR or constant."""
    if p["lr_schedule"] == "step":
        return p["lr"] * p["gamma"] ** (t // p["step_size"])
    return p["lr"]


def batch_indices(seed: int, n: int, batch_size: int, steps: int) -> list[np.ndarray | None]:
    """Index set of each update: None for full batch, else consecutive slices of a
    fresh seeded permutation per epoch (incomplete last batch dropped)."""
    if batch_size >= n:
        return [None] * steps
    g = rng(seed, "batches")
    per_epoch = n // batch_size
    out: list[np.ndarray | None] = []
    perm = None
    for t in range(steps):
        k = t % per_epoch
        if k == 0:
            perm = g.permutation(n)
        out.append(np.sort(perm[k * batch_size:(k + 1) * batch_size]))
    return out


def train(p: Mapping[str, Any], seed: int, data: Mapping[str, np.ndarray], device: str = "cpu") -> TrainResult:
    """Run ``p['steps']`` updates from (W0, a0) and snapshot W at the probe steps.

    ``p`` holds the run's training parameters (see htcore.config.TRAIN_PARAMS) with
    ``batch_size`` and ``probe_steps`` resolved, and optionally ``activation``
    (default tanh); ``device`` is a resolved device.
    """
    t0 = time.perf_counter()
    xp = backend(device)
    steps = int(p["steps"])
    probes = [int(s) for s in p["probe_steps"]]
    h, d = data["W0"].shape
    X, y = xp.asarray(data["X"]), xp.asarray(data["y"])
    W, a = xp.asarray(data["W0"]), xp.asarray(data["a0"])
    train_a = not p["fix_last_layer"]
    activation = models.check_activation(p.get("activation", "tanh"))
    opt_W, opt_a = _Optimizer(p, xp), _Optimizer(p, xp)
    batches = batch_indices(seed, X.shape[0], int(p["batch_size"]), steps)
    target_norm = math.sqrt(h * d)

    W_snap = np.full((len(probes), h, d), np.nan, dtype=np.float32)
    a_snap = np.full((len(probes), h), np.nan, dtype=np.float32)
    loss = np.full(steps + 1, np.nan)
    lrs = np.array([lr_at(p, t) for t in range(steps)] + [np.nan])
    first_bad = -1
    progress = _progress(steps)

    def finite(W, lval) -> bool:
        return math.isfinite(lval) and math.isfinite(float((W * W).sum()))

    # Overflow is expected in a diverging run and detected explicitly.
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            if p["weight_norm"]:  # before every update and before the last snapshot
                W = W * (target_norm / frobenius_norm(W, xp))
            idx = batches[t] if t < steps else None
            Xb, yb = (X, y) if idx is None else (xp.take(X, idx), xp.take(y, idx))
            loss[t], gW, ga = loss_and_grads(W, a, Xb, yb, xp, train_a, need_W=t < steps,
                                               activation=activation)
            if not finite(W, loss[t]):
                first_bad = t
                break
            if t in probes:
                i = probes.index(t)
                W_snap[i], a_snap[i] = xp.to_numpy(W), xp.to_numpy(a)
            if t == steps:
                break
            lr = float(lrs[t])  # a Python float keeps float32 arrays float32 (NEP 50)
            W = opt_W.step(W, gW, lr)
            if train_a:
                a = opt_a.step(a, ga, lr)
            if progress:
                progress.update(1)
    if progress:
        progress.close()
    if first_bad >= 0:
        loss[first_bad + 1:] = np.nan
    return TrainResult(
        probe_steps=np.array(probes, dtype=np.int64), W=W_snap, a=a_snap, loss=loss, lr=lrs,
        diverged=first_bad >= 0, first_bad_step=first_bad, device=xp.name,
        seconds=time.perf_counter() - t0,
    )


def _progress(steps: int):
    if steps < PROGRESS_MIN_STEPS:
        return None
    from tqdm import tqdm

    return tqdm(total=steps, desc="train", unit="step", file=sys.stderr, mininterval=5.0)
