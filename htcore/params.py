"""Every study parameter, declared once.

One :class:`Param` per parameter says everything the rest of the project needs:

* ``name``, ``doc`` (one line, shown in the schema and docs/usage.md's parameters table);
* ``default`` (the paper's value; ``defaults:`` in config.yaml may override it);
* ``schema``: its JSON-schema fragment (type and bounds, with the reason for each
  bound in ``doc``): the config schema's ``$defs``, ``params``, ``grid`` and the
  parameter-name enum are generated from these (:func:`schema_defs`);
* ``stage``: the first stage whose output it changes, ``data`` (teacher, data sets,
  initial weights), ``train`` or ``eval`` (read-out, test set). A job's spec holds
  the parameters of its stage and the stages before it, so editing an ``eval``
  parameter never retrains;
* ``applies``: which runs use it, as ``(parameter, values)``: ``adam_beta1`` only
  when ``optimizer`` is ``adam``. A parameter that a run does not use is left out of
  that run's job specs, so editing it re-runs nothing of that run;
* ``gridable``: whether it may be a grid axis (``probe_steps`` may not: it is a list);
* ``at_step0``: a training parameter that already acts on the step-0 snapshot
  (``weight_norm`` rescales W0, ``activation`` shapes its features): the seed's
  shared initial run keeps the run's value.

Adding a parameter: one ``Param`` below, plus the code that reads it (``p[name]``
in the stage that uses it). The schema, validation, run specs, run ids and the
table's columns follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any, Iterable, Mapping

from htcore import models

STAGES = ("data", "train", "eval")


@dataclass(frozen=True)
class Param:
    name: str
    stage: str
    default: Any
    doc: str
    schema: Mapping[str, Any]
    applies: tuple[str, tuple[Any, ...]] | None = None
    gridable: bool = True
    #: Python type of the resolved value (RunParams field)
    type: Any = field(default=None)
    #: a training parameter that already acts on step 0 (the snapshot or its
    #: evaluation): the seed's initial run keeps the run's value (htcore.config)
    at_step0: bool = False


def _num(lo=None, hi=None, *, excl_lo=False, excl_hi=False, integer=False) -> dict[str, Any]:
    s: dict[str, Any] = {"type": "integer" if integer else "number"}
    if lo is not None:
        s["exclusiveMinimum" if excl_lo else "minimum"] = lo
    if hi is not None:
        s["exclusiveMaximum" if excl_hi else "maximum"] = hi
    return s


#: The study's parameters in canonical order (the order of run-id segments and of
#: the table's columns).
PARAMS: tuple[Param, ...] = (
    Param("d", "data", 1000, "input dimension (at most 10^5: W is h x d float32, 10^5 x 10^5 is 40 GB)",
          _num(1, 100000, integer=True), type=int),
    Param("h", "data", 1500, "hidden width, rows of W (at most 10^5: W is h x d float32, 10^5 x 10^5 is 40 GB)",
          _num(1, 100000, integer=True), type=int),
    Param("n", "data", 2000, "training-set size, also the probe-set size (at most 10^7: X is n x d float32)",
          _num(2, 10000000, integer=True), type=int),
    Param("n_test", "eval", 10000, "test-set size (at most 10^7: X_test is n_test x d float32); drawn by the "
          "evaluation, so changing it never retrains. 10,000 puts the sd of a test loss near 0.015 (0.07 at the "
          "paper's 200)", _num(1, 10000000, integer=True), type=int),
    Param("label_noise_std", "data", 0.3, "rho: std of the label noise (at most 100: labels softplus(beta^T x) "
          "are O(1), beyond 100 the signal is lost in the noise)", _num(0, 100), type=float),
    Param("teacher_kind", "data", "single_index", "teacher: single_index (y = g(beta*^T x) + noise) or "
          "multi_index (a committee y = (1/sqrt(k)) sum_j g(b_j^T x) + noise over the k orthonormal columns of B*; "
          "k = 1 is the single-index teacher)", {"enum": list(models.TEACHER_KINDS)}, type=str),
    Param("teacher_k", "data", 1, "number of teacher directions k (multi_index; at most 1000, and at most d)",
          _num(1, 1000, integer=True), applies=("teacher_kind", ("multi_index",)), type=int),
    Param("teacher_link", "data", "softplus", "teacher link g: softplus (the paper's), relu, tanh, or he2 "
          "(z^2 - 1: information exponent 2, which one gradient step does not learn at n ~ d)",
          {"enum": list(models.LINKS)}, type=str),
    Param("teacher_center", "data", False, "centre the teacher's labels: each term g(b_j^T x) minus the link's "
          "population mean E g(z), so E y = 0 whatever k (uncentred, the committee's mean sqrt(k) E g reaches the "
          "bias-free student only through the inputs' sample mean)", {"type": "boolean"}, type=bool),
    Param("activation", "train", "tanh", "student activation sigma in f(x) = a^T sigma(Wx/sqrt(d))/sqrt(h): tanh "
          "(the paper's), relu, erf or gelu (exact, erf form); the read-out features use it too",
          {"enum": list(models.ACTIVATIONS)}, type=str, at_step0=True),
    Param("fix_last_layer", "train", True, "freeze the last layer a (only W trains)", {"type": "boolean"},
          type=bool),
    Param("optimizer", "train", "adam", "optimizer: gd (plain gradient step, with momentum if momentum > 0), "
          "adam, sign_gd (w - lr sign(g): Adam's limit at beta1 = beta2 = 0, eps -> 0) or momentum (heavy-ball "
          "GD, torch.optim.SGD semantics)", {"enum": list(models.OPTIMIZERS)}, type=str),
    Param("lr", "train", 1.0, "learning rate (> 0 and finite, no upper bound: a diverging run is a result and "
          "is recorded as diverged; YAML needs a dot and a sign for exponents - 1.0e+20, not 1e20)",
          _num(0, excl_lo=True), type=float),
    Param("momentum", "train", 0.0, "GD momentum (torch.optim.SGD semantics; 0 with optimizer momentum is "
          "plain GD)", _num(0, 1, excl_hi=True), applies=("optimizer", ("gd", "momentum")), type=float),
    Param("weight_decay", "train", 0.0, "L2 weight decay added to the gradient", _num(0), type=float),
    Param("adam_beta1", "train", 0.9, "Adam first-moment decay", _num(0, 1, excl_hi=True),
          applies=("optimizer", ("adam",)), type=float),
    Param("adam_beta2", "train", 0.999, "Adam second-moment decay", _num(0, 1, excl_hi=True),
          applies=("optimizer", ("adam",)), type=float),
    Param("adam_eps", "train", 1e-8, "Adam epsilon (outside the square root, as torch)", _num(0, excl_lo=True),
          applies=("optimizer", ("adam",)), type=float),
    Param("batch_size", "train", None, "minibatch size; null means full batch (= n)",
          {"oneOf": [{"type": "null"}, _num(1, 10000000, integer=True)]}, type=int),
    Param("steps", "train", 10, "number of optimizer updates (at most 10^7, ~1000 x the longest experiment)",
          _num(0, 10000000, integer=True), type=int),
    Param("probe_steps", "train", [0, 1, 10], 'steps at which W is snapshotted and evaluated - a list, "all", '
          "or {log_spaced K}",
          {"oneOf": [
              {"type": "array", "minItems": 1, "uniqueItems": True,
               "items": _num(0, 10000000, integer=True)},
              {"enum": ["all"]},
              {"type": "object", "additionalProperties": False, "required": ["log_spaced"],
               "properties": {"log_spaced": _num(2, 10000, integer=True)}},
          ]}, gridable=False, type=tuple),
    Param("lr_schedule", "train", "none", "none, or step (StepLR: lr * gamma^floor(t / step_size))",
          {"enum": ["none", "step"]}, type=str),
    Param("step_size", "train", 1, "StepLR step size in updates (at most 10^7, the bound on steps)",
          _num(1, 10000000, integer=True), applies=("lr_schedule", ("step",)), type=int),
    Param("gamma", "train", 0.6, "StepLR decay factor, 0 < gamma <= 1 (above 1 the learning rate would grow, "
          "not decay)", _num(0, 1, excl_lo=True), applies=("lr_schedule", ("step",)), type=float),
    Param("weight_norm", "train", False, "rescale W to Frobenius norm sqrt(h*d) before each step",
          {"type": "boolean"}, type=bool, at_step0=True),
    Param("reg_lambda", "eval", 0.01, "ridge read-out regularisation lambda (at most 10^6: the penalty "
          "lambda (n/h) I then outweighs Z^T Z by ~10^6 and the read-out is zero to the precision the losses "
          "are reported at), or cv: the calibrated read-out, lambda chosen per snapshot by leave-one-out "
          "cross-validation on the probe set (htcore.evaluate.CV_GRID)",
          {"oneOf": [_num(0, 1000000, excl_lo=True), {"enum": ["cv"]}]}, type=object),
    Param("readout_scaling", "eval", "spec", "spec: Z = tanh(XW^T/sqrt(d))/sqrt(h); authors: tanh(XW^T/d)/sqrt(h) "
          "as in the published code", {"enum": ["spec", "authors"]}, type=str),
)

BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMS}


def upto(stage: str) -> tuple[str, ...]:
    """Names of the parameters of ``stage`` and the stages before it."""
    k = STAGES.index(stage)
    return tuple(p.name for p in PARAMS if STAGES.index(p.stage) <= k)


def applies(name: str, values: Mapping[str, Any]) -> bool:
    """Whether parameter ``name`` is used by a run with these parameter values."""
    cond = BY_NAME[name].applies
    return cond is None or values[cond[0]] in cond[1]


def used(names: Iterable[str], values: Mapping[str, Any]) -> dict[str, Any]:
    """The named parameters that a run with ``values`` uses, JSON-ready (tuples as lists)."""
    out = {}
    for k in names:
        if applies(k, values):
            v = values[k]
            out[k] = list(v) if isinstance(v, tuple) else v
    return out


#: Every parameter of one run, resolved (batch_size and probe_steps concrete).
RunParams = make_dataclass(
    "RunParams", [(p.name, p.type) for p in PARAMS], frozen=True,
    namespace={"subset": lambda self, names: {k: (list(v) if isinstance(v, tuple) else v)
                                               for k in names for v in [getattr(self, k)]},
               "__doc__": "Every parameter of one run, resolved (batch_size and probe_steps concrete).",
               "__module__": __name__},
)


def schema_defs() -> dict[str, Any]:
    """The config schema's parameter definitions, generated from :data:`PARAMS`:
    one ``$defs`` entry per parameter, ``params`` (a mapping of any of them),
    ``grid`` (a list per gridable parameter) and ``param_name`` (the name enum)."""
    defs: dict[str, Any] = {}
    for p in PARAMS:
        defs[p.name] = {"description": p.doc, **p.schema}
    defs["params"] = {"type": "object", "additionalProperties": False,
                      "properties": {p.name: {"$ref": f"#/$defs/{p.name}"} for p in PARAMS}}
    defs["grid"] = {"type": "object", "additionalProperties": False,
                    "properties": {p.name: {"type": "array", "minItems": 1, "uniqueItems": True,
                                            "items": {"$ref": f"#/$defs/{p.name}"}}
                                   for p in PARAMS if p.gridable}}
    defs["param_name"] = {"enum": list(NAMES)}
    return defs


def markdown_table() -> str:
    """The parameters as docs/usage.md's Markdown table (``python -m htcore params``;
    tests/test_params.py checks that docs/usage.md holds exactly this)."""
    def text(v):
        return "null" if v is None else ("true" if v is True else "false" if v is False else str(v))

    lines = ["| parameter | stage | default | used by | meaning |", "|---|---|---|---|---|"]
    for p in PARAMS:
        used_by = f"{p.applies[0]} = {' or '.join(map(str, p.applies[1]))}" if p.applies else "every run"
        lines.append(f"| `{p.name}` | {p.stage} | `{text(p.default)}` | {used_by} | {p.doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
