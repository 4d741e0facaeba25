"""Code fingerprints, so that editing htcore re-runs exactly the affected stages.

Snakemake does not track imported modules. Each rule passes
``code_hash(stage)`` through ``params:``; the hash covers the source of the htcore
modules the stage runs, so an edit to, e.g., ``htcore/evaluate.py`` re-runs the
evaluation jobs and what follows them, and never training.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: htcore modules whose source determines each stage's output
STAGE_MODULES = {
    "data": ("data",),
    "train": ("data", "train"),
    "evaluate": ("evaluate", "baselines"),
    "spectra": ("spectra",),
    "tails": ("tails", "shape"),
    "updates": ("updates",),
    "feature_spectra": ("evaluate",),
    "collect": ("collect",),
    "figure": ("figures",),
    "claims": ("claims",),
}


def code_hash(stage: str) -> str:
    """Short SHA-256 of the stage's htcore modules plus the shared I/O edge."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for mod in STAGE_MODULES[stage] + ("stages", "io"):
        h.update(mod.encode())
        h.update((root / f"{mod}.py").read_bytes())
    return h.hexdigest()[:16]
