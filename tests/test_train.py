"""Training updates against hand computations and torch autograd/optimizers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from htcore import train as T
from htcore.data import generate

P = dict(optimizer="gd", lr=0.5, momentum=0.0, weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999,
         adam_eps=1e-8, steps=1, probe_steps=[0, 1], lr_schedule="none", step_size=1, gamma=0.6,
         weight_norm=False, fix_last_layer=True)


def tiny_data(n=5, d=3, h=4, seed=0):
    g = np.random.default_rng(seed)
    return {
        "X": g.standard_normal((n, d)).astype(np.float32),
        "y": g.standard_normal(n).astype(np.float32),
        "W0": g.standard_normal((h, d)).astype(np.float32),
        "a0": g.standard_normal(h).astype(np.float32),
    }


def hand_grad(W, a, X, y):
    """dL/dW by explicit sums over samples, in float64."""
    W, a, X, y = (np.asarray(v, dtype=np.float64) for v in (W, a, X, y))
    n, d = X.shape
    h = W.shape[0]
    r = [sum(a[j] * math.tanh(W[j] @ X[i] / math.sqrt(d)) for j in range(h)) / math.sqrt(h) - y[i]
         for i in range(n)]
    g = np.zeros_like(W)
    for j in range(h):
        for k in range(d):
            g[j, k] = sum(2 / n * r[i] * a[j] / math.sqrt(h) * (1 - math.tanh(W[j] @ X[i] / math.sqrt(d)) ** 2)
                          * X[i, k] / math.sqrt(d) for i in range(n))
    return g


def run(params, data, device="cpu", seed=0):
    p = {**P, **params}
    p.setdefault("batch_size", data["X"].shape[0])
    return T.train(p, seed, data, device)


def test_one_gd_step_matches_hand_computation():
    data = tiny_data()
    res = run({"optimizer": "gd", "lr": 0.5}, data)
    expected = data["W0"] - 0.5 * hand_grad(data["W0"], data["a0"], data["X"], data["y"])
    np.testing.assert_allclose(res.W[1], expected, rtol=1e-5, atol=1e-6)
    assert res.W.dtype == np.float32


def test_one_adam_step_matches_hand_computation():
    data = tiny_data()
    res = run({"optimizer": "adam", "lr": 0.3}, data)
    g = hand_grad(data["W0"], data["a0"], data["X"], data["y"])
    # first Adam step: m_hat = g, v_hat = g^2  =>  W1 = W0 - lr g / (|g| + eps)
    expected = data["W0"] - 0.3 * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(res.W[1], expected, rtol=1e-5, atol=1e-5)


def test_loss_trace_is_the_mse_at_each_step():
    data = tiny_data()
    res = run({"steps": 2, "probe_steps": [0, 1, 2]}, data)
    for t in range(3):
        W = res.W[t].astype(np.float64)
        f = np.tanh(data["X"] @ W.T / math.sqrt(3)) @ data["a0"] / 2.0
        assert res.loss[t] == pytest.approx(np.mean((f - data["y"]) ** 2), rel=1e-5)


CASES = [
    {"optimizer": "gd", "lr": 0.7, "momentum": 0.9, "weight_decay": 0.01},
    {"optimizer": "adam", "lr": 0.05, "weight_decay": 0.001},
    {"optimizer": "adam", "lr": 0.2, "lr_schedule": "step", "step_size": 2, "gamma": 0.5},
    {"optimizer": "gd", "lr": 2.0, "fix_last_layer": False},
    {"optimizer": "adam", "lr": 0.1, "weight_norm": True},
    {"optimizer": "gd", "lr": 1.0, "batch_size": 8},
    # beyond the paper: other activations, momentum as its own optimizer name
    {"optimizer": "momentum", "lr": 0.7, "momentum": 0.9},
    {"optimizer": "momentum", "lr": 0.3, "momentum": 0.5, "weight_decay": 0.01, "fix_last_layer": False,
     "activation": "gelu"},
    {"optimizer": "adam", "lr": 0.05, "activation": "relu"},
    {"optimizer": "gd", "lr": 1.0, "activation": "erf", "fix_last_layer": False},
    {"optimizer": "adam", "lr": 0.1, "activation": "gelu", "weight_norm": True},
]


def torch_activation(name):
    import torch

    return {"tanh": torch.tanh, "relu": torch.relu, "erf": torch.erf, "gelu": torch.nn.functional.gelu}[name]


@pytest.mark.parametrize("case", CASES)
def test_numpy_path_matches_torch_autograd_and_optim(case):
    torch = pytest.importorskip("torch")
    n, d, h, steps = 20, 6, 8, 5
    data = tiny_data(n, d, h, seed=3)
    p = {**P, "batch_size": n, "steps": steps, "probe_steps": list(range(steps + 1)), **case}
    ours = T.train(p, 7, data, "cpu")
    # reference: plain torch autograd + torch.optim, written independently
    W = torch.tensor(data["W0"], requires_grad=True)
    a = torch.tensor(data["a0"], requires_grad=not p["fix_last_layer"])
    X, y = torch.tensor(data["X"]), torch.tensor(data["y"])
    params = [W] + ([a] if not p["fix_last_layer"] else [])
    sigma = torch_activation(p.get("activation", "tanh"))
    if p["optimizer"] in ("gd", "momentum"):
        opt = torch.optim.SGD(params, lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    else:
        opt = torch.optim.Adam(params, lr=p["lr"], betas=(p["adam_beta1"], p["adam_beta2"]),
                               eps=p["adam_eps"], weight_decay=p["weight_decay"])
    sched = torch.optim.lr_scheduler.StepLR(opt, p["step_size"], p["gamma"]) if p["lr_schedule"] == "step" else None
    batches = T.batch_indices(7, n, p["batch_size"], steps)
    for t in range(steps):
        if p["weight_norm"]:
            with torch.no_grad():
                W.mul_(math.sqrt(h * d) / W.norm())
        np.testing.assert_allclose(ours.W[t], W.detach().numpy(), rtol=2e-4, atol=2e-5)
        idx = batches[t]
        Xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        loss = ((sigma(Xb @ W.T / math.sqrt(d)) @ a / math.sqrt(h) - yb) ** 2).mean()
        assert ours.loss[t] == pytest.approx(loss.item(), rel=1e-4)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
    if p["weight_norm"]:  # the last snapshot is taken after the rescaling too
        with torch.no_grad():
            W.mul_(math.sqrt(h * d) / W.norm())
    np.testing.assert_allclose(ours.W[steps], W.detach().numpy(), rtol=2e-4, atol=2e-5)


def test_torch_backend_matches_numpy_backend():
    pytest.importorskip("torch")
    data = tiny_data(30, 5, 7, seed=1)
    p = {**P, "optimizer": "adam", "lr": 0.1, "steps": 4, "probe_steps": [0, 4], "batch_size": 30}
    a = T.train(p, 0, data, "cpu")
    b = T.train(p, 0, data, "torch-cpu")
    np.testing.assert_allclose(a.W, b.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)


def test_divergence_is_recorded_not_raised():
    data = generate(0, d=10, h=12, n=30, n_test=5, label_noise_std=0.3)
    res = run({"optimizer": "adam", "lr": 1e20, "steps": 4, "probe_steps": [0, 2, 4]}, data)
    assert res.diverged and res.first_bad_step == 1
    assert np.isfinite(res.W[0]).all()
    assert np.isnan(res.W[1:]).all()
    assert np.isfinite(res.loss[:1]).all() and np.isnan(res.loss[2:]).all()


def test_stable_run_is_not_diverged():
    data = generate(0, d=10, h=12, n=30, n_test=5, label_noise_std=0.3)
    res = run({"optimizer": "gd", "lr": 0.1, "steps": 3, "probe_steps": [0, 3]}, data)
    assert not res.diverged and res.first_bad_step == -1 and np.isfinite(res.W).all()


def test_step_lr_schedule_values():
    p = {**P, "lr": 1.0, "lr_schedule": "step", "step_size": 2, "gamma": 0.5}
    assert [T.lr_at(p, t) for t in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_minibatches_cover_each_epoch_once():
    b = T.batch_indices(0, 10, 3, 6)
    assert all(len(x) == 3 for x in b)
    assert len(set(np.concatenate(b[:3]))) == 9  # one epoch: 3 disjoint batches
    assert T.batch_indices(0, 10, 10, 2) == [None, None]


@pytest.mark.gpu
def test_cuda_backend_matches_cpu_reference():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data = generate(0, d=64, h=96, n=256, n_test=8, label_noise_std=0.3)
    p = {**P, "optimizer": "adam", "lr": 1.0, "steps": 5, "probe_steps": [0, 5], "batch_size": 256}
    cpu = T.train(p, 0, data, "cpu")
    gpu = T.train(p, 0, data, "cuda")
    assert gpu.device == "cuda"
    np.testing.assert_allclose(gpu.W, cpu.W, rtol=1e-3, atol=1e-3)


def test_resolve_device_without_gpu(monkeypatch):
    monkeypatch.setattr(T, "cuda_visible", lambda: False)
    assert T.resolve_device("auto") == "cpu" and T.resolve_device("cpu") == "cpu"


def test_weight_norm_holds_at_every_snapshot_the_last_included():
    n, d, h, steps = 20, 6, 8, 4
    p = {**P, "optimizer": "adam", "lr": 1.0, "weight_norm": True, "batch_size": n, "steps": steps,
         "probe_steps": list(range(steps + 1))}
    res = T.train(p, 0, tiny_data(n, d, h, seed=1), "cpu")
    norms2 = (res.W.astype(np.float64) ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(norms2, h * d, rtol=1e-5)  # one rule: after the rescaling


def test_weight_norm_survives_a_float32_overflow_of_the_norm():
    # entries of 1e20 are finite, their squares are not (float32): the norm must still
    # be right, not inf (which rescaled W to zero and carried on "not diverged")
    W = np.full((4, 3), 1e20, dtype=np.float32)
    assert T.frobenius_norm(W, T.backend("cpu")) == pytest.approx(1e20 * math.sqrt(12), rel=1e-6)
    data = tiny_data(5, 3, 4, seed=2)
    data["W0"] = data["W0"] * np.float32(1e20)
    p = {**P, "weight_norm": True, "batch_size": 5, "steps": 2, "probe_steps": [0, 1, 2]}
    res = T.train(p, 0, data, "cpu")
    assert not res.diverged
    np.testing.assert_allclose((res.W.astype(np.float64) ** 2).sum(axis=(1, 2)), 12, rtol=1e-5)


# --- activations and optimizers beyond the paper --------------------------------------

ACTS = ["tanh", "relu", "erf", "gelu"]


def paper_loss_and_grads(W, a, X, y, need_a):
    """loss_and_grads as it was before activations were configurable (frozen reference)."""
    n, d = X.shape
    h = W.shape[0]
    T = np.tanh((X @ W.T) / math.sqrt(d))
    r = (T @ a) / math.sqrt(h) - y
    loss = float((r * r).mean())
    c = 2.0 / (n * math.sqrt(h))
    G = (1.0 - T * T) * (r[:, None] * c) * a[None, :]
    return loss, (G.T @ X) / math.sqrt(d), ((T.T @ r) * c if need_a else None)


def test_tanh_path_is_bit_identical_to_the_paper_code():
    data = tiny_data(40, 7, 9, seed=5)
    args = (data["W0"], data["a0"], data["X"], data["y"])
    ref = paper_loss_and_grads(*args, True)
    for got in (T.loss_and_grads(*args, T.backend("cpu"), True),
                T.loss_and_grads(*args, T.backend("cpu"), True, activation="tanh")):
        assert got[0] == ref[0]
        assert got[1].dtype == np.float32 and got[1].tobytes() == ref[1].tobytes()
        assert got[2].tobytes() == ref[2].tobytes()


@pytest.mark.parametrize("device", ["cpu", "torch-cpu"])
@pytest.mark.parametrize("activation", ACTS)
def test_loss_and_grads_of_each_activation_match_torch_autograd(activation, device):
    torch = pytest.importorskip("torch")
    data = tiny_data(30, 6, 8, seed=11)
    W, a, X, y = (np.asarray(data[k], dtype=np.float64) for k in ("W0", "a0", "X", "y"))
    W[0] = 0.0  # pre-activations of exactly 0 (relu's kink: derivative 0 there, as autograd)
    xp = T.backend(device)
    conv = (lambda v: v) if device == "cpu" else (lambda v: torch.tensor(v))
    loss, gW, ga = T.loss_and_grads(conv(W), conv(a), conv(X), conv(y), xp, True, activation=activation)
    gW, ga = (np.asarray(v) if device == "cpu" else v.numpy() for v in (gW, ga))
    Wt, at = torch.tensor(W, requires_grad=True), torch.tensor(a, requires_grad=True)
    ref = ((torch_activation(activation)(torch.tensor(X) @ Wt.T / math.sqrt(6)) @ at / math.sqrt(8)
            - torch.tensor(y)) ** 2).mean()
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(gW, Wt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert np.abs(gW).max() > 1e-3  # a gradient that could be wrong


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_sign_gd_steps_match_hand_computation(wd):
    data = tiny_data()
    res = run({"optimizer": "sign_gd", "lr": 0.25, "weight_decay": wd, "steps": 2, "probe_steps": [0, 1, 2]}, data)
    W = data["W0"].astype(np.float64)
    for t in (1, 2):
        g = hand_grad(W, data["a0"], data["X"], data["y"]) + wd * W
        assert np.abs(g).min() > 1e-4  # no sign decided by rounding
        W = W - 0.25 * np.sign(g)
        np.testing.assert_allclose(res.W[t], W, rtol=1e-6, atol=1e-6)
    assert np.abs(res.W[1] - res.W[0]).max() == pytest.approx(0.25, rel=1e-6)  # every entry moves by lr


def test_sign_gd_is_adams_limit_at_zero_betas_and_epsilon():
    n, d, h, steps = 20, 6, 8, 5
    data = tiny_data(n, d, h, seed=4)
    base = {**P, "lr": 0.05, "batch_size": n, "steps": steps, "probe_steps": list(range(steps + 1)),
            "weight_decay": 0.01}
    sign = T.train({**base, "optimizer": "sign_gd"}, 0, data, "cpu").W
    gaps = []
    for eps in (1e-2, 1e-4, 1e-30):
        adam = T.train({**base, "optimizer": "adam", "adam_beta1": 0.0, "adam_beta2": 0.0, "adam_eps": eps},
                       0, data, "cpu").W
        gaps.append(float(np.abs(adam - sign).max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[0] > 1e-3 and gaps[2] < 1e-6


def test_momentum_matches_torch_sgd_and_gd_is_unchanged():
    torch = pytest.importorskip("torch")
    n, d, h, steps, mu = 20, 6, 8, 6, 0.8
    data = tiny_data(n, d, h, seed=6)
    p = {**P, "lr": 0.4, "momentum": mu, "batch_size": n, "steps": steps, "probe_steps": list(range(steps + 1))}
    ours = T.train({**p, "optimizer": "momentum"}, 0, data, "cpu").W
    assert ours.tobytes() == T.train({**p, "optimizer": "gd"}, 0, data, "cpu").W.tobytes()
    W = torch.tensor(data["W0"], requires_grad=True)
    X, y, a = torch.tensor(data["X"]), torch.tensor(data["y"]), torch.tensor(data["a0"])
    opt = torch.optim.SGD([W], lr=0.4, momentum=mu)
    for t in range(steps):
        opt.zero_grad()
        ((torch.tanh(X @ W.T / math.sqrt(d)) @ a / math.sqrt(h) - y) ** 2).mean().backward()
        opt.step()
        np.testing.assert_allclose(ours[t + 1], W.detach().numpy(), rtol=1e-5, atol=1e-6)
    plain = T.train({**p, "optimizer": "gd", "momentum": 0.0}, 0, data, "cpu").W
    assert np.abs(ours[steps] - plain[steps]).max() > 1e-3  # momentum changed the trajectory


@pytest.mark.parametrize("case", [{"activation": "relu"}, {"activation": "erf"}, {"activation": "gelu"},
                                  {"optimizer": "sign_gd", "lr": 0.05}, {"optimizer": "momentum", "momentum": 0.9}])
def test_torch_backend_matches_numpy_backend_beyond_the_paper(case):
    pytest.importorskip("torch")
    data = tiny_data(30, 5, 7, seed=1)
    p = {**P, "optimizer": "adam", "lr": 0.1, "steps": 4, "probe_steps": [0, 4], "batch_size": 30, **case}
    a = T.train(p, 0, data, "cpu")
    b = T.train(p, 0, data, "torch-cpu")
    assert np.abs(a.W[1] - a.W[0]).max() > 1e-2
    np.testing.assert_allclose(a.W, b.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5)


def test_unknown_optimizer_or_activation_is_an_error():
    data = tiny_data()
    with pytest.raises(ValueError, match="optimizer"):
        run({"optimizer": "sgd"}, data)
    with pytest.raises(ValueError, match="activation"):
        run({"activation": "sigmoid"}, data)


def test_cpu_path_of_every_activation_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from htcore import train as T, evaluate as E\n"
        "g = np.random.default_rng(0)\n"
        "data = {'X': g.standard_normal((6, 3)).astype(np.float32), 'y': g.standard_normal(6).astype(np.float32),"
        " 'W0': g.standard_normal((4, 3)).astype(np.float32), 'a0': g.standard_normal(4).astype(np.float32)}\n"
        "p = dict(optimizer='sign_gd', lr=0.1, momentum=0.0, weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999,"
        " adam_eps=1e-8, steps=2, probe_steps=[0, 2], lr_schedule='none', step_size=1, gamma=1.0,"
        " weight_norm=False, fix_last_layer=True, batch_size=6)\n"
        "for act in ('tanh', 'relu', 'erf', 'gelu'):\n"
        "    T.train({**p, 'activation': act}, 0, data, 'cpu'); E.features(data['X'], data['W0'], activation=act)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.gpu
@pytest.mark.parametrize("case", [{"activation": "relu"}, {"activation": "erf"}, {"activation": "gelu"},
                                  {"optimizer": "sign_gd", "lr": 0.01}, {"optimizer": "momentum", "lr": 500.0,
                                                                          "momentum": 0.9}])
def test_cuda_backend_matches_cpu_reference_beyond_the_paper(case):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data = generate(0, d=64, h=96, n=256, n_test=8, label_noise_std=0.3)
    p = {**P, "optimizer": "adam", "lr": 1.0, "steps": 5, "probe_steps": [0, 5], "batch_size": 256, **case}
    cpu = T.train(p, 0, data, "cpu")
    gpu = T.train(p, 0, data, "cuda")
    assert gpu.device == "cuda" and np.abs(cpu.W[1] - cpu.W[0]).max() > 1e-2
    np.testing.assert_allclose(gpu.W, cpu.W, rtol=1e-3, atol=1e-3)
