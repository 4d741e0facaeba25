"""``python -m htcore``: see htcore.cli. BLAS is pinned to ``--threads`` (default 1)
before NumPy loads: OpenBLAS reads its thread count once, at import, and numbers are
bit-identical only at the same thread count."""

import os
import sys

_argv = sys.argv[1:]
_threads = _argv[_argv.index("--threads") + 1] if "--threads" in _argv[:-1] else "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads

from htcore.cli import main  # noqa: E402  (after the pinning)

sys.exit(main())
