"""The study model: a config's experiments expanded into runs, and the ids that name them.

Its one job: turn a config mapping into the :class:`Study` (experiments, :class:`Run`
objects, their per-stage ids and parameters) that the Snakefile and every test use.
Reading the config files and checking them against the schema are
htcore.configfile's; where the jobs run (``device: cuda``) is htcore.device's.

* :func:`load_study` validates a config dict (:func:`htcore.configfile.validate`),
  checks experiment names (:data:`EXPERIMENT_NAME`), fills the defaults and expands
  every experiment into :class:`Run` objects. Per-run checks (batch_size vs n,
  probe_steps vs steps, a ``set``/``grid``/``cases`` value of a parameter that none
  of the runs it reaches uses, ...) are errors for the experiments that run
  (``run:`` and what they ``compare_with``); an experiment that is not selected and
  fails them is left out of the study (``Study.unusable`` says why), so a small
  ``--configfile`` merged over config.yaml works for what it selects.
* A run is identified per stage by the grid axes relevant to that stage, written as
  ``key~value/.../seed~S`` (Paramspace style). Data depend on the data parameters,
  training on data + optimisation parameters, evaluation on all of them. So a grid
  over ``reg_lambda`` shares one trained run between all its values, and adding a
  value to a grid adds paths without renaming existing ones (their outputs stay
  cached).
* Parameters that are not grid axes reach the jobs through Snakemake ``params:``;
  editing one re-runs exactly the stages that read it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Mapping

from htcore import params as P
from htcore.configfile import ConfigError, _non_ascii_hint, full_schema, validate
from htcore.io import to_json  # noqa: F401  (re-exported: the Snakefile uses hc.to_json)
from htcore.params import RunParams

#: Parameter names per stage (declared in htcore.params).
DATA_PARAMS = tuple(p.name for p in P.PARAMS if p.stage == "data")
TRAIN_PARAMS = P.upto("train")
ALL_PARAMS = P.NAMES
STAGE_PARAMS = {"data": P.upto("data"), "train": P.upto("train"), "eval": P.upto("eval")}

#: Integer learning rates above this are taken for typos (write 1.0e+20 if meant).
MAX_INTEGER_LR = 10**6

#: Regular expression of a run id (what the ``{run}`` wildcard may match).
#: (values may hold "_": sign_gd, multi_index)
RUN_ID_REGEX = r"(?:[a-z_0-9]+~[A-Za-z0-9_.+\-]+/)*seed~[0-9]+"

#: First segment of the ids of a seed's initial run (0 steps: the shared step 0).
INIT = "init~0"

DEFAULT_TAILS = {"min_tail": 10, "bootstrap": False, "n_boot": 100}
DEFAULT_UPDATES = {"top_k": 50}

#: Experiment tables beyond table and esd, per plot kind (rule collect_updates).
UPDATE_TABLES = ("update_sv", "overlaps", "feature_esd")

#: Experiment names: a lower-case letter, then lower-case letters, digits or _, at most
#: 64 characters in all. A name is a directory under results/ and the value of the
#: ``{experiment}`` wildcard; 300 characters passed the dry run and failed in the job
#: (``OSError: File name too long``).
EXPERIMENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
EXPERIMENT_NAME_RULE = ("names match ^[a-z][a-z0-9_]{0,63}$: a lower-case letter, then lower-case letters, "
                        "digits or _, at most 64 characters")

#: Snakemake refuses a wildcard value whose tail is one piece repeated 20 times or more
#: (snakemake.io.PeriodicityDetector, min_repeat=20; the DAG raises PeriodicWildcardError,
#: taking it for a rule applied to its own output): such experiment names are refused.
PERIODIC_REPEATS = 20
_PERIODIC_TAIL = re.compile(r"(.+?)\1{%d,}$" % (PERIODIC_REPEATS - 1))


@dataclass(frozen=True)
class Run:
    """One (experiment, grid point, seed): its parameters and its per-stage ids.

    ``init_train_id``/``init_eval_id`` name the seed's initial run whose step 0 this
    run shares (None: the run computes its own snapshots, or it is an initial run)."""

    experiment: str
    seed: int
    params: RunParams
    data_id: str
    train_id: str
    eval_id: str
    init_train_id: str | None = None
    init_eval_id: str | None = None
    is_init: bool = False

    def spec(self, stage: str) -> dict[str, Any]:
        """What a job of ``stage`` (data, train or eval) needs: ids, seed and the
        parameters of that stage and the stages before it that the run uses."""
        values = vars(self.params)  # its fields (scalars, tuples): no deep copy
        return {
            "experiment": self.experiment,
            "seed": self.seed,
            "data_id": self.data_id,
            "train_id": self.train_id if stage != "data" else None,
            "eval_id": self.eval_id if stage == "eval" else None,
            "params": P.used(STAGE_PARAMS[stage], values),
        }

    @property
    def skip_steps(self) -> list[int]:
        """Snapshots this run's spectrum and evaluation leave to its initial run."""
        return [0] if self.init_train_id is not None else []


@dataclass(frozen=True)
class Experiment:
    """A named experiment: its runs, its grid axes and how it is plotted.

    ``runs`` are the configured runs; ``inits`` the initial runs (one per seed and
    step-0 setting) that compute the step-0 snapshot they share."""

    name: str
    description: str
    axes: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: tuple[Run, ...]
    plot: Mapping[str, Any] = field(default_factory=dict)
    inits: tuple[Run, ...] = ()
    #: what it was expanded from: {"name", "experiment", "defaults"} (expand_experiment)
    source: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def _index(self) -> dict[tuple[str, str], Run]:
        index: dict[tuple[str, str], Run] = {}
        for r in self.runs + self.inits:
            for stage in STAGE_PARAMS:
                index.setdefault((stage, getattr(r, f"{stage}_id")), r)
        return index

    def unique(self, stage: str, with_inits: bool = False) -> list[Run]:
        """One representative run per distinct id of ``stage`` (data/train/eval)."""
        seen: dict[str, Run] = {}
        for r in self.runs + (self.inits if with_inits else ()):
            seen.setdefault(getattr(r, f"{stage}_id"), r)
        return list(seen.values())

    @cached_property
    def evals_by_train(self) -> dict[str, list[Run]]:
        """train_id -> one run per distinct eval_id of that training (initial runs included)."""
        out: dict[str, list[Run]] = {}
        for r in self.unique("eval", with_inits=True):
            out.setdefault(r.train_id, []).append(r)
        return out

    @property
    def tables(self) -> tuple[str, ...]:
        """The experiment-level tables it produces."""
        kind = self.plot.get("kind")
        return ("table", "esd") + (UPDATE_TABLES if kind == "evolution" else ()) + (
            ("surgery",) if kind == "surgery" else ())

    def run_table(self) -> list[dict[str, Any]]:
        """What collect needs per evaluation: ids, its initial run and every parameter."""
        return [{"eval_id": r.eval_id, "train_id": r.train_id, "seed": r.seed,
                 "init_eval_id": r.init_eval_id, "init_train_id": r.init_train_id,
                 "params": r.params.subset(ALL_PARAMS)} for r in self.unique("eval")]


@dataclass(frozen=True)
class Study:
    """The validated configuration: experiments to run plus stage settings."""

    experiments: Mapping[str, Experiment]
    selected: tuple[str, ...]
    device: str
    tails: Mapping[str, Any]
    updates: Mapping[str, Any]
    #: experiments not selected by ``run:`` that cannot run with this config: name -> why
    unusable: Mapping[str, str] = field(default_factory=dict)

    def run(self, experiment: str, stage: str, run_id: str) -> Run:
        """Look up the run whose ``stage`` id is ``run_id``; KeyError names it."""
        try:
            exp = self.experiments[experiment]
        except KeyError:
            raise KeyError(f"unknown experiment {experiment!r}") from None
        try:
            return exp._index[(stage, run_id)]
        except KeyError:
            raise KeyError(f"experiment {experiment!r} has no {stage} run {run_id!r}") from None


# --------------------------------------------------------------------------- values

def format_value(v: Any) -> str:
    """Canonical, path-safe text of a parameter value (``1``, ``0.001``, ``1e+20``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "-".join(format_value(x) for x in v)
    return str(v)


def resolve_probe_steps(spec: Any, steps: int) -> tuple[int, ...]:
    """Turn a probe_steps setting (list, "all", {log_spaced: K}) into sorted steps."""
    if spec == "all":
        return tuple(range(steps + 1))
    if isinstance(spec, Mapping):
        k = int(spec["log_spaced"])
        if steps == 0:
            return (0,)
        pts = {0, steps}
        pts.update(int(round(x)) for x in _geomspace(1, steps, k - 1))
        return tuple(sorted(pts))
    return tuple(sorted(int(s) for s in spec))


def _geomspace(lo: float, hi: float, k: int) -> list[float]:
    if k <= 1:
        return [hi]
    r = (hi / lo) ** (1.0 / (k - 1))
    return [lo * r**i for i in range(k)]


def run_id(params: Mapping[str, Any], axes: Iterable[str], seed: int) -> str:
    """``axis~value/.../seed~S`` over the given axes in canonical order."""
    parts = [f"{k}~{format_value(params[k])}" for k in ALL_PARAMS if k in set(axes)]
    parts.append(f"seed~{seed}")
    return "/".join(parts)


# ------------------------------------------------------------------ per-run checks

def _check_lr(value: Any, where: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_INTEGER_LR:
        raise ConfigError(
            f"{where}: lr {value} is written as a huge integer; if you mean it, write it "
            f"as a float (e.g. {float(value):.1e})"
        )


def _semantic_checks(name: str, p: Mapping[str, Any], where: str) -> None:
    if p["teacher_kind"] == "multi_index" and p["teacher_k"] > p["d"]:
        raise ConfigError(f"{where}: teacher_k {p['teacher_k']} is larger than d = {p['d']} "
                          f"(the teacher's directions are orthonormal in R^d)")
    if p["batch_size"] is not None and p["batch_size"] > p["n"]:
        raise ConfigError(f"{where}: batch_size {p['batch_size']} is larger than n = {p['n']}")
    probes = resolve_probe_steps(p["probe_steps"], p["steps"])
    bad = [s for s in probes if s > p["steps"]]
    if bad:
        raise ConfigError(f"{where}: probe_steps {bad} beyond steps = {p['steps']}")


# ----------------------------------------------------------------------- expansion

def load_study(config: Mapping[str, Any], schema: Mapping[str, Any]) -> Study:
    """Validate ``config`` and expand its experiments into runs.

    The schema covers everything; experiment names follow :data:`EXPERIMENT_NAME`. The
    per-run checks are errors only for the experiments that run (``run:``, default all)
    and those they ``compare_with``. Another experiment that fails them is left out
    (listed in ``Study.unusable``)."""
    if isinstance(config, Mapping):
        check_experiment_names(config.get("experiments"))
    validate(config, full_schema(schema))
    defaults = {**P.DEFAULTS, **config.get("defaults", {})}
    _check_lr(defaults["lr"], "defaults.lr")
    names = list(config["experiments"])
    selected = tuple(config.get("run") or names)
    for s in selected:
        if s not in config["experiments"]:
            raise ConfigError(f"run: {s!r} is not an experiment (have: {', '.join(names)})"
                              f"{_non_ascii_hint(s, names)}")
    for name, exp in config["experiments"].items():
        other = exp.get("plot", {}).get("compare_with")
        if other is not None and other not in config["experiments"]:
            raise ConfigError(f"experiments.{name}.plot.compare_with: {other!r} is not an experiment"
                              f"{_non_ascii_hint(other, names)}")
    needed = _needed(config["experiments"], selected)
    experiments, unusable = {}, {}
    for name in names:
        try:
            experiments[name] = _expand(name, config["experiments"][name], defaults)
        except ConfigError as e:
            if name in needed:
                raise
            unusable[name] = str(e)
    tails = {**DEFAULT_TAILS, **config.get("tails", {})}
    updates = {**DEFAULT_UPDATES, **config.get("updates", {})}
    return Study(experiments, selected, config.get("device", "auto"), tails, updates, unusable)


def _needed(experiments: Mapping[str, Any], selected: Iterable[str]) -> set[str]:
    """The selected experiments and those they ``compare_with``, transitively."""
    needed, todo = set(), list(selected)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            other = experiments[name].get("plot", {}).get("compare_with")
            if other is not None:
                todo.append(other)
    return needed


def experiment_name_problem(name: Any) -> str | None:
    """What is wrong with an experiment name (:data:`EXPERIMENT_NAME`, no periodic
    tail), or None."""
    if not isinstance(name, str) or not EXPERIMENT_NAME.match(name):
        if isinstance(name, str) and re.match(r"^[a-z][a-z0-9_]*$", name):
            return f"the name is {len(name)} characters long, at most 64 are allowed ({EXPERIMENT_NAME_RULE})"
        return f"bad name{_non_ascii_hint(name)} ({EXPERIMENT_NAME_RULE})"
    m = _PERIODIC_TAIL.search(name)
    if m:
        unit = m.group(1)
        return (f"the name ends in {unit!r} repeated {len(m.group(0)) // len(unit)} times, which Snakemake "
                f"refuses in a wildcard (PeriodicWildcardError: a piece repeated {PERIODIC_REPEATS} times or "
                f"more at the end) (repeat it at most {PERIODIC_REPEATS - 1} times)")
    return None


def check_experiment_names(experiments: Any) -> None:
    """Refuse the first experiment whose name breaks the rule, naming it and the rule."""
    if not isinstance(experiments, Mapping):
        return  # the schema says what is wrong
    for name in experiments:
        problem = experiment_name_problem(name)
        if problem:
            shown = name[:64] + "..." if isinstance(name, str) and len(name) > 64 else name
            raise ConfigError(f"experiments.{shown}: {problem}")


def _unused_problem(key: str, points: list[Mapping[str, Any]], whose: str) -> str | None:
    """Why none of the runs ``points`` (their parameter values) uses parameter ``key``
    (``htcore.params``: ``applies``), or None when one does."""
    if any(P.applies(key, p) for p in points):
        return None
    cond, values = P.BY_NAME[key].applies
    have = " or ".join(dict.fromkeys(format_value(p[cond]) for p in points))
    return (f"{key} is used only when {cond} is {' or '.join(values)}; {whose} runs have {cond} {have} "
            f"(set {cond}: {values[0]}, or remove {key})")


def _check_used(where: str, exp: Mapping[str, Any], points: list[tuple[int, dict[str, Any]]]) -> None:
    """Refuse a ``set``, ``grid`` or ``cases`` value of a parameter that none of the
    runs it reaches uses (``teacher_k`` with a single-index teacher): it would change
    nothing, silently. ``points``: (case index, parameter values) per grid point."""
    every = [p for _, p in points]
    places = [(f"{where}.set", exp.get("set", {}), every, "this experiment's"),
              (f"{where}.grid", exp.get("grid", {}), every, "this experiment's")]
    places += [(f"{where}.cases[{j}]", case, [p for i, p in points if i == j], "this case's")
               for j, case in enumerate(exp.get("cases", []))]
    for place, written, reached, whose in places:
        for key in written:
            problem = _unused_problem(key, reached, whose)
            if problem:
                raise ConfigError(f"{place}.{key}: {problem}")


def _points(base: Mapping[str, Any], grid: Mapping[str, list], cases: list) -> list[tuple[int, dict[str, Any]]]:
    """(case index, parameter values) of every grid point of every case, in order."""
    keys = list(grid)
    return [(j, {**base, **case, **dict(zip(keys, combo))})
            for j, case in enumerate(cases) for combo in itertools.product(*(grid[k] for k in keys))]


def _expand(name: str, exp: Mapping[str, Any], defaults: Mapping[str, Any]) -> Experiment:
    where = f"experiments.{name}"
    base = {**defaults, **exp.get("set", {})}
    _check_lr(base["lr"], f"{where}.set.lr")
    grid = exp.get("grid", {})
    if "grid" in exp and not grid:
        raise ConfigError(f"{where}.grid: empty (give each parameter to vary with its list of values, "
                          f"or leave grid out)")
    for i, v in enumerate(grid.get("lr", [])):
        _check_lr(v, f"{where}.grid.lr[{i}]")
    cases = exp.get("cases", [{}])
    for j, c in enumerate(cases):
        if "lr" in c:
            _check_lr(c["lr"], f"{where}.cases[{j}].lr")
        overlap = set(c) & set(grid)
        if overlap:
            raise ConfigError(f"{where}.cases[{j}]: {sorted(overlap)} also in grid; set each in one place")
    axes = tuple(k for k in ALL_PARAMS if k in grid or any(k in c for c in cases))
    points = _points(base, grid, cases)
    _check_used(where, exp, points)
    runs = []
    for _, p in points:
        _semantic_checks(name, p, where)
        resolved = {
            **p,
            "batch_size": p["batch_size"] if p["batch_size"] is not None else p["n"],
            "probe_steps": resolve_probe_steps(p["probe_steps"], p["steps"]),
            "lr": float(p["lr"]),
        }
        rp = RunParams(**{k: resolved[k] for k in ALL_PARAMS})
        for seed in exp["seeds"]:
            runs.append(Run(
                experiment=name,
                seed=int(seed),
                params=rp,
                data_id=run_id(p, [a for a in axes if a in STAGE_PARAMS["data"]], seed),
                train_id=run_id(p, [a for a in axes if a in STAGE_PARAMS["train"]], seed),
                eval_id=run_id(p, axes, seed),
            ))
    runs, inits = _with_inits(name, runs, axes)
    ids = [r.eval_id for r in runs]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: two runs share the id {next(i for i in ids if ids.count(i) > 1)!r}")
    plot = _plot(where, exp, axes, runs)
    return Experiment(name, exp.get("description", ""), axes, tuple(exp["seeds"]), tuple(runs), plot,
                      tuple(inits), {"name": name, "experiment": exp, "defaults": dict(defaults)})


def _plot(where: str, exp: Mapping[str, Any], axes: tuple[str, ...], runs: list[Run]) -> dict[str, Any]:
    """The experiment's ``plot`` with its defaults filled in and its axes checked.

    Without ``plot:``, an experiment that varies ``lr`` is drawn as a sweep over lr,
    any other (also one of seeds only) as metrics against steps, a line per
    combination of what it varies. ``hue`` defaults to every varied parameter but x."""
    plot = dict(exp.get("plot", {"kind": "sweep" if "lr" in axes else "steps"}))
    varied = f"(its grid/cases vary: {', '.join(axes) or 'nothing'})"
    if plot["kind"] == "sweep":
        if not axes:
            raise ConfigError(f"{where}.plot.kind: sweep draws metrics against a varied parameter, and this "
                              f"experiment varies nothing (no grid, no cases) (use kind steps)")
        if "x" not in plot and "lr" not in axes:
            raise ConfigError(f"{where}.plot.x: not given, and its default 'lr' is not varied by this "
                              f"experiment {varied} (name one of them as x, or use kind steps)")
        plot.setdefault("x", "lr")
        plot.setdefault("logx", True)
    hue = plot.get("hue", [a for a in axes if a != plot.get("x")])
    plot["hue"] = [hue] if isinstance(hue, str) else list(hue)
    if "style" in plot:  # its value combinations in the order the experiment lists them (first = solid)
        style = [plot["style"]] if isinstance(plot["style"], str) else list(plot["style"])
        for s in style:
            if s not in axes:
                raise ConfigError(f"{where}.plot.style: {s!r} is not varied by this experiment {varied}")
        plot["style"] = style
        plot["style_values"] = [list(v) for v in dict.fromkeys(tuple(getattr(r.params, s) for s in style)
                                                              for r in runs)]
    if plot["kind"] == "sweep" and plot["x"] not in axes:
        raise ConfigError(f"{where}.plot.x: {plot['x']!r} is not varied by this experiment {varied}")
    for h in plot["hue"]:
        if h not in axes:
            raise ConfigError(f"{where}.plot.hue: {h!r} is not varied by this experiment {varied}")
    return plot


def expand_experiment(source: Mapping[str, Any]) -> Experiment:
    """The experiment again from its validated source (``Experiment.source``)."""
    return _expand(source["name"], source["experiment"], source["defaults"])


def _with_inits(name: str, runs: list[Run], axes: tuple[str, ...]) -> tuple[list[Run], list[Run]]:
    """Give each run that snapshots step 0 among other steps the seed's initial run:
    a run of 0 steps with the same data, evaluation settings and the training
    parameters that act at step 0 (``at_step0``: weight normalisation, activation;
    every other training parameter at its default, since none of them acts before
    the first update). Its ids start with ``init~0/``."""
    init_axes = [a for a in axes if a in STAGE_PARAMS["data"] or P.BY_NAME[a].at_step0]
    eval_axes = [a for a in axes if P.BY_NAME[a].stage == "eval"]
    train_defaults = {k: P.DEFAULTS[k] for k in STAGE_PARAMS["train"]
                      if P.BY_NAME[k].stage == "train" and not P.BY_NAME[k].at_step0}
    inits: dict[str, Run] = {}
    out = []
    for r in runs:
        if 0 not in r.params.probe_steps or len(r.params.probe_steps) < 2:
            out.append(r)
            continue
        values = dict(vars(r.params))
        values.update(train_defaults, steps=0, probe_steps=(0,), batch_size=r.params.n, lr=float(P.DEFAULTS["lr"]))
        ip = RunParams(**values)
        init = Run(experiment=name, seed=r.seed, params=ip, data_id=r.data_id,
                   train_id=f"{INIT}/" + run_id(values, init_axes, r.seed),
                   eval_id=f"{INIT}/" + run_id(values, init_axes + eval_axes, r.seed), is_init=True)
        inits.setdefault(init.eval_id, init)
        out.append(replace(r, init_train_id=init.train_id, init_eval_id=init.eval_id))
    return out, list(inits.values())
