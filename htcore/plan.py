"""The study as Snakemake jobs: what each rule's job gets, computed once per job.

The rules (workflow/rules/) declare paths; this module answers the questions their
input, params and resources functions ask about one job, from the validated
:class:`htcore.config.Study`: the job's spec (the JSON its htcore stage reads), its
memory request, the ids of the runs upstream of it and, per experiment, every run
whose files collect reads. Snakemake asks these functions for every job when it
builds the DAG and again for every ready job each time it schedules, so each answer
is computed once and cached (:func:`functools.lru_cache`).

A job's spec holds exactly what its step depends on, so that Snakemake's ``params``
trigger re-runs exactly the steps an edit touches:

* ``data``: the seed and the data parameters (htcore.config.Run.spec("data"));
* ``train``: the data and training parameters the run uses, and ``device``;
* ``spectrum``: the run's keys, the snapshots it leaves to its initial run
  (``skip_steps``) and ``updates_top_k`` (evolution experiments only);
* ``tails``: the run's keys, W's shape (h, d) and the ``tails:`` settings;
* ``evaluate``: every parameter the evaluation uses, ``skip_steps`` and whether to
  draw the feature ESD (evolution experiments);
* ``surgery``: every parameter the evaluation uses (surgery experiments);
* ``collect``: the experiment's configuration (every run's parameters).

Each job's ``code`` param is the fingerprint of the code its stage runs
(:meth:`Plan.code`, htcore.fingerprint): a code edit re-runs exactly the jobs whose
code changed.

A training parameter that changes leaves the spectrum's spec as it was: the new
weights file is newer than the spectrum, and Snakemake re-runs it for that.
"""

from __future__ import annotations

from functools import lru_cache
from htcore import config as hc
from htcore.config import Run, Study
from htcore.stages import STAGES


def code_hash(rule: str, only_keys=None) -> str:
    """The code fingerprint of a rule's stage function (htcore.fingerprint), whole or
    with registries restricted to ``only_keys``; a rule passes it through ``params:``
    so that Snakemake re-runs its jobs when that code changes (it does not track
    imported modules itself)."""
    from htcore.fingerprint import fingerprint

    return fingerprint(f"htcore.stages.{STAGES[rule].run.__name__}", only_keys)

#: Which id of a run a rule's ``{run}`` wildcard is.
RUN_KIND = {"data": "data", "train": "train", "spectrum": "train", "tails": "train", "evaluate": "eval",
            "surgery": "eval"}
#: Trainings of at least this many steps go first (the critical path: long_horizon).
LONG_STEPS = 1000


class Plan:
    """Cached answers about the jobs of one study."""

    def __init__(self, study: Study):
        self.study = study
        self.spec = lru_cache(maxsize=None)(self._spec)
        self.mem_mb = lru_cache(maxsize=None)(self._mem_mb)
        self.upstream = lru_cache(maxsize=None)(self._upstream)
        self.priority = lru_cache(maxsize=None)(self._priority)
        self.data_priority = lru_cache(maxsize=None)(self._data_priority)
        self._code = lru_cache(maxsize=None)(self._code_of_keys)

    def run(self, rule: str, experiment: str, run_id: str) -> Run:
        """The run whose id of the rule's kind is ``run_id``."""
        return self.study.run(experiment, RUN_KIND[rule], run_id)

    def _spec(self, rule: str, experiment: str, run_id: str) -> str:
        """The job's spec, JSON (see the module docstring)."""
        r = self.run(rule, experiment, run_id)
        exp = self.study.experiments[experiment]
        keys = {"experiment": experiment, "seed": r.seed, "train_id": r.train_id, "eval_id": None}
        if rule == "data":
            spec = r.spec("data")
        elif rule == "train":
            spec = {**r.spec("train"), "device": self.study.device}
        elif rule == "spectrum":
            top_k = self.study.updates["top_k"] if "update_sv" in exp.tables and not r.is_init else None
            spec = {**keys, "skip_steps": r.skip_steps, "updates_top_k": top_k}
        elif rule == "tails":
            spec = {**keys, "h": r.params.h, "d": r.params.d, "tails": dict(self.study.tails)}
        elif rule == "evaluate":
            spec = {**r.spec("eval"), "skip_steps": r.skip_steps, "features": "feature_esd" in exp.tables}
        elif rule == "surgery":
            spec = r.spec("eval")
        else:
            raise KeyError(f"no per-run spec for rule {rule!r}")
        return hc.to_json(spec)

    def code(self, rule: str, experiment: str, run_id: str) -> str:
        """The job's code fingerprint (htcore.fingerprint): what its stage function runs,
        with each registry restricted to the entries the run uses (its activation,
        link, optimizer, teacher kind), so that adding an entry re-runs nothing."""
        from htcore.fingerprint import keys_for

        keys = keys_for(vars(self.run(rule, experiment, run_id).params))
        return self._code(rule, tuple(sorted((k, tuple(sorted(v))) for k, v in keys.items())))

    def _code_of_keys(self, rule: str, keys: tuple) -> str:
        return code_hash(rule, {k: set(v) for k, v in keys})

    def _mem_mb(self, rule: str, experiment: str, run_id: str) -> int:
        """The job's memory request (MB), from its stage's memory model."""
        return STAGES[rule].mem_mb(self.run(rule, experiment, run_id).params)

    def _upstream(self, rule: str, experiment: str, run_id: str) -> str:
        """The id the job reads from upstream: a run's data id (train, evaluate's
        data) or an evaluation's training id (evaluate's weights)."""
        r = self.run(rule, experiment, run_id)
        return r.data_id if rule == "train" else r.train_id

    def _priority(self, experiment: str, run_id: str) -> int:
        """Long trainings first: they are the critical path (long_horizon's 10,000 steps)."""
        return 10 if self.run("train", experiment, run_id).params.steps >= LONG_STEPS else 0

    def _data_priority(self, experiment: str, data_id: str) -> int:
        """A data job feeding a long training goes first too: Snakemake does not pass a
        job's ``priority`` on to the jobs it waits for, so without this the long
        training's data waits behind every short job of the study."""
        runs = self.study.experiments[experiment].unique("train", with_inits=True)
        return max((self.priority(experiment, r.train_id) for r in runs if r.data_id == data_id), default=0)

    def trainings(self, experiment: str) -> list[str]:
        """Every training id of the experiment, initial runs included."""
        return [r.train_id for r in self.study.experiments[experiment].unique("train", with_inits=True)]

    def evaluations(self, experiment: str) -> list[str]:
        """Every evaluation id of the experiment, initial runs included."""
        return [r.eval_id for r in self.study.experiments[experiment].unique("eval", with_inits=True)]

    def collect_spec(self, experiment: str) -> str:
        """collect's spec: the experiment's configuration (its runs' parameters)."""
        return hc.to_json({"source": self.study.experiments[experiment].source})

