"""Where the workflow's jobs run, and whether this machine can run them.

Its one job: at plan time, :func:`check_device` refuses ``device: cuda`` where torch
has no GPU; the workflow calls it only when the jobs run on the planning machine
(:func:`jobs_may_run_elsewhere`: no cluster executor or profile on the command line).
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Mapping

from htcore.configfile import ConfigError


def check_device(device: str) -> None:
    """Refuse ``device: cuda`` when this machine has no GPU that torch can use: every
    training would fail at its first step. Probes (and imports torch) only for cuda;
    call it when the jobs run on this machine (:func:`jobs_may_run_elsewhere`)."""
    if device != "cuda":
        return
    problem = _cuda_problem()
    if problem:
        raise ConfigError(f"device: cuda, but {problem} (write device: auto, which trains on the GPU when "
                          f"there is one and on the CPU otherwise, or device: cpu)")


def _cuda_problem() -> str | None:
    """Why torch cannot train on a GPU here, or None (the test htcore.train's
    ``resolve_device`` makes in every training job)."""
    from htcore.train import cuda_visible

    if not cuda_visible():
        return "no NVIDIA GPU is visible here (no /dev/nvidiactl, or CUDA_VISIBLE_DEVICES hides it)"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "torch sees no usable GPU here (torch.cuda.is_available() is false)"
    return None


#: executors that run the jobs on this machine (or none: dry run, touch)
LOCAL_EXECUTORS = ("local", "dryrun", "touch")


def jobs_may_run_elsewhere(argv: Iterable[str], environ: Mapping[str, str],
                           default_profile: str | os.PathLike | None = None) -> bool:
    """Whether this Snakemake command line may send its jobs to other machines: it
    names an executor other than local, or a profile (``--profile``,
    ``--workflow-profile``, ``$SNAKEMAKE_PROFILE``), which may name one
    (workflow/profiles/slurm does); or, without ``--workflow-profile``, the workflow
    profile Snakemake reads by itself (``default_profile``: profiles/default beside
    the Snakefile) names one. A cluster is planned from a login node: a GPU missing
    there says nothing about the nodes. Snakemake picks the executor after the
    Snakefile runs, so its command line is all there is to go on."""
    args, workflow_profile = list(argv), False
    for i, arg in enumerate(args):
        if arg.startswith("-e"):  # -e slurm, -eslurm, -e=slurm
            name, value = "--executor", arg[2:].lstrip("=")
        else:
            name, _, value = arg.partition("=")
        if name in ("--executor", "--profile", "--workflow-profile"):
            value = value or (args[i + 1] if i + 1 < len(args) else "")
            workflow_profile = workflow_profile or name == "--workflow-profile"
            if value not in (LOCAL_EXECUTORS if name == "--executor" else ("none",)):
                return True
    if environ.get("SNAKEMAKE_PROFILE"):
        return True
    return not workflow_profile and default_profile is not None and _profile_sends_jobs(default_profile)


def _profile_sends_jobs(folder: str | os.PathLike) -> bool:
    """Whether a profile folder's settings (config.yaml, profile.yaml, config.v9+.yaml,
    ...) name an executor other than local; False when there is none."""
    import yaml

    if not os.path.isdir(folder):
        return False
    for name in sorted(os.listdir(folder)):
        if re.fullmatch(r"(profile|config)(\.v\d+\+)?\.yaml", name):
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    settings = yaml.safe_load(f)
            except (OSError, yaml.YAMLError):
                return True  # unreadable: Snakemake will say so; do not guess "local"
            if isinstance(settings, Mapping) and str(settings.get("executor", "local")) not in LOCAL_EXECUTORS:
                return True
    return False
