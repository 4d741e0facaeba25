"""The measured costs behind htstudy's implementation choices (paper scale, 1 thread).

Prints, for each choice, the time of the option taken and of the alternative:
torch import per process, Gaussian sampling, the ESD (eigvalsh of W^T W vs a full
SVD), the ridge solve (Cholesky vs explicit inverse), KTA (h x h Gram vs n x n
kernel), and pandas kept out of per-run jobs.

    python benchmarks/bench_choices.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def best(f, repeat: int = 3) -> float:
    """Best of ``repeat`` wall times of ``f()`` in seconds."""
    f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def proc(code: str, repeat: int = 3) -> float:
    return best(lambda: subprocess.run([sys.executable, "-c", code], check=True), repeat)


def row(what: str, taken: str, t_taken: float, alt: str, t_alt: float) -> None:
    print(f"{what:<22}{taken:<34}{1e3 * t_taken:>9.1f} ms   {alt:<34}{1e3 * t_alt:>9.1f} ms   x{t_alt / t_taken:6.1f}")


def main() -> None:
    n, d, h = 2000, 1000, 1500
    g = np.random.default_rng(0)
    print(f"{'choice':<22}{'taken':<34}{'time':>12}   {'alternative':<34}{'time':>12}")
    row("process start-up", "python + numpy + pyarrow.parquet", proc("import numpy, pyarrow.parquet"),
        "python + torch", proc("import torch"))
    row("process start-up", "pyarrow write, pandas kept out",
        proc("import sys\nclass B:\n  @staticmethod\n  def find_spec(n,p=None,t=None):\n"
             "    if n.split('.')[0]=='pandas': raise ModuleNotFoundError(n)\n"
             "sys.meta_path.insert(0,B)\nimport numpy as np, pyarrow as pa\npa.array(np.arange(3))"),
        "pyarrow write (imports pandas)", proc("import numpy as np, pyarrow as pa\npa.array(np.arange(3))"))

    import torch

    mvn = torch.distributions.MultivariateNormal(torch.zeros(d), torch.eye(d))
    row("Gaussian inputs", "numpy standard_normal (2000x1000)",
        best(lambda: np.random.default_rng(1).standard_normal((n, d), dtype=np.float32)),
        "torch MultivariateNormal.sample", best(lambda: mvn.sample((n,)), repeat=1))

    W = g.standard_normal((h, d))
    row("ESD of W", "eigvalsh(W^T W)", best(lambda: np.linalg.eigvalsh(W.T @ W)),
        "full SVD of W", best(lambda: np.linalg.svd(W, compute_uv=True)))

    from scipy.linalg import cho_factor, cho_solve

    Z = np.tanh(g.standard_normal((n, d)) @ W.T / np.sqrt(d)) / np.sqrt(h)
    y = g.standard_normal(n)
    A = Z.T @ Z + 0.01 * n / h * np.eye(h)
    row("ridge solve", "Cholesky solve", best(lambda: cho_solve(cho_factor(A), Z.T @ y)),
        "explicit inverse", best(lambda: np.linalg.inv(A) @ (Z.T @ y)))
    row("KTA", "h x h Gram Z^T Z", best(lambda: (Z.T @ y) @ (Z.T @ y) / np.linalg.norm(Z.T @ Z)),
        "n x n kernel Z Z^T", best(lambda: np.sum((Z @ Z.T) * np.outer(y, y)) / np.linalg.norm(Z @ Z.T)))


if __name__ == "__main__":
    main()
