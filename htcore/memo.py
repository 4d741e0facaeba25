"""Skip a step of a run whose files are already there for the same inputs.

One Snakemake job runs a whole run (:func:`htcore.stages.run`): it trains, analyses
the spectrum of the snapshots and evaluates each evaluation setting. Snakemake
re-runs that job whenever anything in its spec changes; this module makes the job
redo only the steps whose inputs changed, so that changing ``reg_lambda`` still
re-evaluates without retraining, and a fit setting refits without retraining.

A step writes its files (each atomically, htcore.io), then a stamp ``memo.json`` in
the same directory: the step's key and the SHA-256 of each file. The key is the
SHA-256 of the step's spec (its parameters and ids), its code fingerprint
(htcore.provenance) and the keys of the steps it reads (the training's, for the
spectrum and the evaluations). A step is skipped when its stamp holds the same key
and every file is there with the recorded content (a damaged file is recomputed,
not reused; hashing costs ~10 ms per 20 MB of weights); otherwise the stamp is removed first,
so a job killed half-way never leaves a stamp next to a half-written step.

``HTCORE_RECOMPUTE=1`` in the environment ignores every stamp (recompute all).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from htcore.io import to_json, write_text

STAMP = "memo.json"


def key(*parts: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts``."""
    return hashlib.sha256(to_json(list(parts)).encode()).hexdigest()


def _stamp(outputs: Mapping[str, str]) -> Path:
    dirs = {Path(p).parent for p in outputs.values()}
    if len(dirs) != 1:
        raise ValueError(f"a step's files must share one directory, got {sorted(map(str, dirs))}")
    return dirs.pop() / STAMP


def _digests(outputs: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, path in sorted(outputs.items()):
        with open(path, "rb") as f:
            out[name] = hashlib.file_digest(f, "sha256").hexdigest()
    return out


def is_done(step_key: str, outputs: Mapping[str, str]) -> bool:
    """Whether the step's stamp holds ``step_key`` and its files are all there, unchanged."""
    if os.environ.get("HTCORE_RECOMPUTE") == "1":
        return False
    try:
        stamp = json.loads(_stamp(outputs).read_text())
        return stamp.get("key") == step_key and stamp.get("sha256") == _digests(outputs)
    except (OSError, ValueError):
        return False


def step(name: str, step_key: str, outputs: Mapping[str, str], compute: Callable[[], None]) -> bool:
    """Run ``compute`` (which writes ``outputs``) unless the step is done; stamp it.
    Returns whether it computed. Logs one line ``htcore-step <name> computed|reused <dir>`` (with ``work_s``, the
    step's seconds, and ``max_rss_mb``, the process's peak memory so far, when computed)."""
    import sys

    stamp = _stamp(outputs)
    if is_done(step_key, outputs):
        print(f"htcore-step {name} reused {stamp.parent}", file=sys.stderr)
        return False
    stamp.unlink(missing_ok=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    compute()
    seconds = time.perf_counter() - t0
    write_text(stamp, json.dumps({"key": step_key, "sha256": _digests(outputs)}, sort_keys=True) + "\n")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB
    print(f"htcore-step {name} computed {stamp.parent} work_s={seconds:.4f} max_rss_mb={peak:.0f}", file=sys.stderr)
    return True
