"""Per-function code fingerprints, read from the source with :mod:`ast`.

Snakemake does not track imported Python modules, so a rule passes a fingerprint of
the code its jobs run through ``params:``; when the fingerprint changes, Snakemake
re-runs those jobs (htcore.plan.code_hash). It follows *definitions*, not modules:
adding an activation to htcore/models.py or editing htcore/data.test_set (used only by
the evaluation) retrains nothing.

What a fingerprint covers
-------------------------
``fingerprint("htcore.stages.train")`` hashes the function ``train`` of
htcore/stages.py and every top-level definition of the package that it references,
transitively and across modules. A *definition* is a top-level ``def``, ``class``
or assignment (the whole statement: ``ACTIVATIONS = {...}`` is one definition). A
reference is found in the code, without importing it:

* a name used in the code that resolves to a top-level definition of the same
  module (Python's scoping is followed: a function's arguments and local variables,
  and names local to nested functions, comprehensions and lambdas, shadow the
  module's definitions of the same spelling);
* a name imported with ``from htcore.m import f [as g]`` (re-exports are followed
  to the module that defines the name);
* an attribute of an imported htcore module: ``from htcore import models`` /
  ``import htcore.models as m`` / ``from htcore import train as train_mod``, then
  ``models.ACTIVATIONS``, ``train_mod.train(...)``; imports at the top of a module
  and inside function bodies alike;
* decorators, default values, base classes; annotations only where Python evaluates
  them (never under ``from __future__ import annotations``, never for a local
  variable): their text is still hashed, but what they name is not followed.

A class referenced by name is hashed whole (all its methods, and what they
reference), so a method called through an instance is covered. A module used as a
value (``getattr(models, name)``, passing ``models`` on) counts as a use of all its
definitions. A module's import-time statements that define nothing (a bare call such
as ``np.seterr(...)``) form the pseudo-definition ``<module>``, included with any of
that module's definitions (an ``if __name__ == "__main__":`` block never runs on
import and is left out). Third-party and standard-library names (numpy, scipy,
torch) are ignored: the pinned requirements pin them.

Each definition is hashed as its syntax tree (``ast.dump``) without docstrings or
other bare constant statements, so comments, docstrings and formatting never change
a fingerprint, while any change to code that a function runs does: the function
itself, a constant it reads, a helper two modules away.

Registries: why adding an entry retrains nothing that exists
------------------------------------------------------------
htcore keeps its named choices in *registries*: a module-level literal with string
keys, assigned once and never mutated at the top level, e.g. ::

    ACTIVATIONS = {"tanh": np.tanh, "relu": _np_relu, ...}   # a dict registry
    OPTIMIZERS = ("gd", "adam", "sign_gd", "momentum")      # a name registry
    KINKED_LINKS = frozenset({"relu"})                      # (tuple, list, set,
                                                            #  frozenset(...))

Hashed whole, a registry changes when an entry is added, and every function that
reads it (training, through ``check_activation``) would re-run. Yet a run that uses
activation ``tanh`` computes exactly the same thing before and after ``"sine"`` is
added, *provided* the code only looks entries up by key. So the rule is:

1. A caller that knows which keys a job uses passes them:
   ``fingerprint(q, only_keys={"htcore.models.ACTIVATIONS": {"tanh"}, ...})``
   (:func:`keys_for` builds this from a run's parameters, :data:`REGISTRY_PARAMS`).
2. A registry named there is then hashed as the chosen entries only, each as its
   key plus the syntax tree of its value (a dict's value; for a name registry,
   whether the key is present), and only those values' references are followed:
   ``ACTIVATIONS[tanh]`` does not pull in ``_np_gelu``.
3. This is sound only if the code never looks at the registry as a whole. So the
   restriction applies only when **every** use of the registry within the
   fingerprinted code is a lookup by key: ``R[k]`` or ``R.get(k, ...)`` (dict
   registries), a membership test ``k in R`` / ``k not in R`` (any registry), or any
   use inside a ``raise`` statement (an error message listing the choices: a job that
   raises writes no output to keep or re-run). Any other use (``list(R)``,
   ``len(R)``, ``for k in R``, ``R.items()``, passing ``R`` on, ``R[i]`` on a tuple)
   hashes the registry whole, keys or no keys. A lookup with a constant key
   (``ACTIVATIONS["relu"]``) always includes that key.
4. Without ``only_keys`` (the default) a registry is hashed whole: every entry, so
   adding one changes the fingerprint (the conservative answer).

Adding a key never changes ``k in R`` or ``R[k]`` for a key ``k`` already there, so
the fingerprint restricted to a run's keys is the same as long as the entries that
run uses are: editing one (``"tanh": np.tanh`` -> ``np.sin``, or the body of
``_np_tanh_prime`` that ``ACTIVATION_DERIVATIVES["tanh"]`` names) changes it;
adding ``"sine"`` or editing ``_np_gelu`` does not.

Where this stays coarse (deliberately): a choice dispatched by code rather than
by a registry (a dict literal inside a function, an ``if kind == ...`` chain) is
part of that code, and adding a choice there changes every fingerprint that reaches
it. The training's own dispatches are registries for that reason
(``htcore.train.TORCH_ACTIVATIONS``, ``htcore.train.OPTIMIZER_STEPS``).

The one hand-kept piece is which run parameter chooses the keys of which registry
(:data:`REGISTRY_PARAMS`). It fails safe in one direction: a registry left out is
hashed whole (coarser, never stale). It is unsafe only if a registry is mapped to
the wrong parameter; for dict registries :func:`fingerprint` refuses keys that are
not in the dict, which catches most such slips.

API: :func:`fingerprint`, :func:`explain`, :func:`keys_for`, :func:`clear_caches`.
Every function takes ``root`` (the package directory, default: htcore/) and
``package`` (its import name, default: ``root``'s directory name), so the analysis
runs on any copy of the package, as the tests do.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT.name

#: Which run parameter picks the keys of which registry (see the module docstring;
#: a registry missing here is hashed whole, which is safe).
REGISTRY_PARAMS: dict[str, str] = {
    "htcore.models.ACTIVATIONS": "activation",
    "htcore.models.ACTIVATION_DERIVATIVES": "activation",
    "htcore.models.ODD_ACTIVATIONS": "activation",
    "htcore.models.LINKS": "teacher_link",
    "htcore.models.KINKED_LINKS": "teacher_link",
    "htcore.models.TEACHER_KINDS": "teacher_kind",
    "htcore.models.OPTIMIZERS": "optimizer",
    "htcore.train.TORCH_ACTIVATIONS": "activation",
    "htcore.train.OPTIMIZER_STEPS": "optimizer",
}

PREAMBLE = "<module>"

# A target is what a name refers to:
#   ("def", module, name)     a top-level definition of a package module
#   ("module", module)        a package module ('' is the package's __init__)
#   ("missing", module, name) a package name that no source defines
#   ("preamble", module)      a module's import-time statements that define nothing
Target = tuple


# ------------------------------------------------------------------ parsing

def _strip(tree: ast.AST) -> ast.AST:
    """Drop docstrings and every other bare constant statement (no runtime effect)."""
    for node in ast.walk(tree):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(node, attr, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.AST):
                continue
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            if len(kept) != len(body):
                setattr(node, attr, kept or ([ast.Pass()] if attr == "body" else []))
    return tree


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=True, include_attributes=False)


@dataclass
class _Module:
    name: str                      # relative to the package: '' (its __init__), 'models', 'sub.mod'
    is_package: bool
    future_annotations: bool
    defs: dict[str, list[ast.stmt]] = field(default_factory=dict)
    imports: dict[str, list[tuple]] = field(default_factory=dict)  # name -> raw import targets
    star: list[str] = field(default_factory=list)                  # absolute names of `import *` modules
    preamble: list[ast.stmt] = field(default_factory=list)


def _module_file(root: Path, module: str) -> tuple[Path, bool] | None:
    base = root.joinpath(*module.split(".")) if module else root
    if module and base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    return None


def _rel(absolute: str | None, package: str) -> str | None:
    """A dotted import name relative to the package, None outside it."""
    if absolute is None:
        return None
    if absolute == package:
        return ""
    if absolute.startswith(package + "."):
        return absolute[len(package) + 1:]
    return None


def _import_base(node: ast.ImportFrom, module: str, is_package: bool, package: str) -> str | None:
    """The absolute module name of a ``from X import ...`` (relative imports too)."""
    if not node.level:
        return node.module
    parts = ([package] + (module.split(".") if module else []))
    if not is_package:
        parts = parts[:-1]
    if node.level - 1 > len(parts) - 1:
        return None
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _import_bindings(node: ast.stmt, module: str, is_package: bool, package: str) -> dict[str, tuple]:
    """Name -> raw target of one import statement: ("mod", absolute) or
    ("from", absolute module, attribute); '*' -> ("star", absolute module)."""
    out: dict[str, tuple] = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.asname:
                out[a.asname] = ("mod", a.name)
            else:
                top = a.name.split(".")[0]
                out[top] = ("mod", top)
    elif isinstance(node, ast.ImportFrom):
        base = _import_base(node, module, is_package, package)
        for a in node.names:
            if a.name == "*":
                out["*"] = ("star", base)
            else:
                out[a.asname or a.name] = ("from", base, a.name)
    return out


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _bound_names(stmts: Iterable[ast.AST]) -> set[str]:
    """Names a list of statements binds in its own scope (not in nested ones)."""
    out: set[str] = set()
    todo = list(stmts)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
            continue
        if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            out |= {w.target.id for w in ast.walk(n) if isinstance(w, ast.NamedExpr)}
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out |= {k for k in _import_bindings(n, "", False, "") if k != "*"}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
        todo.extend(ast.iter_child_nodes(n))
    return out


def _store_bases(target: ast.AST) -> set[str]:
    """Top-level names an assignment target binds or mutates (``R["k"] = f`` -> R)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_store_bases(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _store_bases(target.value)
    if isinstance(target, (ast.Subscript, ast.Attribute)):
        v = target.value
        while isinstance(v, (ast.Subscript, ast.Attribute)):
            v = v.value
        return {v.id} if isinstance(v, ast.Name) else set()
    return set()


def _is_main_guard(stmt: ast.stmt) -> bool:
    t = stmt.test if isinstance(stmt, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq) and _const_key(t.comparators[0]) == "__main__")


@lru_cache(maxsize=None)
def _module(root: Path, package: str, module: str) -> _Module | None:
    """The parsed, indexed module (None if the package has no such module)."""
    found = _module_file(root, module)
    if found is None:
        return None
    path, is_package = found
    tree = _strip(ast.parse(path.read_text(), filename=str(path)))
    m = _Module(module, is_package, any(
        isinstance(s, ast.ImportFrom) and s.module == "__future__" and any(a.name == "annotations" for a in s.names)
        for s in tree.body))
    for stmt in tree.body:
        names: set[str] = set()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = {stmt.name}
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for name, raw in _import_bindings(stmt, module, is_package, package).items():
                if raw[0] == "star":
                    m.star.append(raw[1])
                else:
                    m.imports.setdefault(name, []).append(raw)
            continue
        elif isinstance(stmt, ast.Assign):
            names = set().union(*(_store_bases(t) for t in stmt.targets))
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
            if isinstance(stmt, ast.AnnAssign) and stmt.value is None and isinstance(stmt.target, ast.Name):
                continue  # `x: int` binds nothing
            names = _store_bases(stmt.target)
        elif isinstance(stmt, ast.Expr):
            call = stmt.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                names = _store_bases(call.func) & set(m.defs)  # R.update(...) of a definition above
        elif _is_main_guard(stmt):
            continue  # `if __name__ == "__main__":` never runs on import
        else:  # if / try / for / with ... at the top: whatever they bind
            names = _bound_names([stmt])
            for n in ast.walk(stmt):
                if isinstance(n, (ast.Import, ast.ImportFrom)):
                    for name, raw in _import_bindings(n, module, is_package, package).items():
                        if raw[0] != "star":
                            m.imports.setdefault(name, []).append(raw)
        if names:
            for name in names:
                m.defs.setdefault(name, []).append(stmt)
        else:
            m.preamble.append(stmt)
    return m


# --------------------------------------------------------------- resolution

def _resolve_raw(root: Path, package: str, raw: tuple, seen: frozenset = frozenset()) -> list[Target]:
    if raw[0] == "mod":
        rel = _rel(raw[1], package)
        if rel is None:
            return []
        return [("module", rel)] if _module(root, package, rel) is not None else [("missing", rel, "")]
    if raw[0] == "from":
        rel = _rel(raw[1], package)
        if rel is None:
            return []
        return _resolve_attr(root, package, rel, raw[2], seen)
    return []


def _submodule(module: str, attr: str) -> str:
    return f"{module}.{attr}" if module else attr


def _resolve_attr(root: Path, package: str, module: str, attr: str,
                  seen: frozenset = frozenset()) -> list[Target]:
    """What ``module.attr`` (or ``from module import attr``) refers to."""
    if (module, attr) in seen:
        return []
    seen = seen | {(module, attr)}
    m = _module(root, package, module)
    if m is None:
        return [("missing", module, attr)]
    if attr in m.defs:
        return [("def", module, attr)]
    if attr in m.imports:
        return [t for raw in m.imports[attr] for t in _resolve_raw(root, package, raw, seen)]
    if m.is_package and _module(root, package, _submodule(module, attr)) is not None:
        return [("module", _submodule(module, attr))]
    for star in m.star:
        rel = _rel(star, package)
        if rel is not None:
            found = _resolve_attr(root, package, rel, attr, seen)
            if found and found[0][0] != "missing":
                return found
    if attr.startswith("__") and attr.endswith("__"):
        return []  # __name__, __file__: the module's own, no code
    return [("module", module)]  # set at run time: count the whole module


def _resolve_global(root: Path, package: str, module: str, name: str) -> list[Target]:
    """What a name at the top of ``module`` refers to (nothing: a builtin or a
    third-party name)."""
    m = _module(root, package, module)
    if name in m.defs:
        return [("def", module, name)]
    if name in m.imports:
        return [t for raw in m.imports[name] for t in _resolve_raw(root, package, raw)]
    for star in m.star:
        rel = _rel(star, package)
        if rel is not None:
            found = _resolve_attr(root, package, rel, name)
            if found and found[0][0] == "def":
                return found
    return []


# ----------------------------------------------------------------- the walk

@dataclass
class _Scope:
    kind: str                           # module, function, class, comp
    local: dict[str, list[tuple]]       # name -> raw import targets ([] for a plain local)
    glob: set[str] = field(default_factory=set)
    nonlocal_: set[str] = field(default_factory=set)


def _const_key(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Walker:
    """Collects the uses of package definitions in a piece of top-level code:
    (target, kind, constant key) with kind ``lookup`` (R[k], R.get(k)), ``member``
    (k in R), ``raise`` (inside a raise statement) or ``whole``."""

    def __init__(self, root: Path, package: str, module: _Module):
        self.root, self.package, self.m = root, package, module
        self.scopes = [_Scope("module", {})]
        self.in_raise = 0
        self.uses: list[tuple[Target, str, str | None]] = []

    # -- scopes
    def _new_scope(self, kind: str, body: list[ast.AST], params: Iterable[str] = ()) -> _Scope:
        local: dict[str, list[tuple]] = {p: [] for p in params}
        for name in _bound_names(body):
            local.setdefault(name, [])
        glob: set[str] = set()
        nonloc: set[str] = set()
        todo = list(body)
        while todo:  # imports, global and nonlocal statements of this scope only
            n = todo.pop()
            if isinstance(n, _SCOPES):
                continue
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                for name, raw in _import_bindings(n, self.m.name, self.m.is_package, self.package).items():
                    if raw[0] != "star":
                        local.setdefault(name, []).append(raw)
            elif isinstance(n, ast.Global):
                glob |= set(n.names)
            elif isinstance(n, ast.Nonlocal):
                nonloc |= set(n.names)
            todo.extend(ast.iter_child_nodes(n))
        for name in glob | nonloc:
            local.pop(name, None)
        return _Scope(kind, local, glob, nonloc)

    def _lookup(self, name: str) -> list[Target]:
        cur = self.scopes[-1]
        if cur.kind != "module" and name not in cur.glob:
            chain = [cur] + [s for s in reversed(self.scopes[1:-1]) if s.kind in ("function", "comp")]
            for s in chain:
                if name in s.glob:
                    break
                if name in s.local:
                    return [t for raw in s.local[name] for t in _resolve_raw(self.root, self.package, raw)]
        return _resolve_global(self.root, self.package, self.m.name, name)

    def _resolve(self, node: ast.AST) -> list[Target] | None:
        """Targets of a name or attribute chain; None when ``node`` is neither (or its
        base is not a name), so the caller walks it instead."""
        if isinstance(node, ast.Name):
            return self._lookup(node.id)
        if isinstance(node, ast.Attribute):
            base = self._resolve(node.value)
            if base is None:
                return None
            out: list[Target] = []
            for t in base:
                if t[0] == "module":
                    out += _resolve_attr(self.root, self.package, t[1], node.attr)
                else:  # a class (hashed whole), a registry, a missing name
                    out.append(t)
            return out
        return None

    def _use(self, targets: list[Target], kind: str, key: str | None = None) -> None:
        if self.in_raise and kind == "whole":
            kind = "raise"
        self.uses += [(t, kind, key) for t in targets]

    @property
    def _follow_annotations(self) -> bool:
        return not self.m.future_annotations and self.scopes[-1].kind in ("module", "class")

    # -- visiting
    def visit(self, node: ast.AST | None) -> None:
        if node is None:
            return
        if isinstance(node, list):
            for n in node:
                self.visit(n)
            return
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is not None:
            method(node)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    def _visit_arguments_outer(self, args: ast.arguments, annotations: bool) -> None:
        self.visit(args.defaults)
        self.visit([d for d in args.kw_defaults if d is not None])
        if annotations:
            for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
                if a is not None:
                    self.visit(a.annotation)

    @staticmethod
    def _params(args: ast.arguments) -> list[str]:
        return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]
                if a is not None]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        ann = not self.m.future_annotations
        self.visit(node.decorator_list)
        self._visit_arguments_outer(node.args, ann)
        if ann:
            self.visit(node.returns)
        self.scopes.append(self._new_scope("function", node.body, self._params(node.args)))
        self.visit(node.body)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments_outer(node.args, False)
        self.scopes.append(self._new_scope("function", [node.body], self._params(node.args)))
        self.visit(node.body)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.visit(node.decorator_list)
        self.visit(node.bases)
        self.visit(node.keywords)
        self.scopes.append(self._new_scope("class", node.body))
        self.visit(node.body)
        self.scopes.pop()

    def _visit_comp(self, node: ast.AST, parts: list[ast.AST]) -> None:
        gens = node.generators
        self.visit(gens[0].iter)  # evaluated in the enclosing scope
        targets = {n.id for g in gens for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        self.scopes.append(_Scope("comp", {t: [] for t in targets}))
        for i, g in enumerate(gens):
            if i:
                self.visit(g.iter)
            self.visit(g.ifs)
        self.visit(parts)
        self.scopes.pop()

    def visit_ListComp(self, node):
        self._visit_comp(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._visit_comp(node, [node.key, node.value])

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        self.visit(node.value)
        if self._follow_annotations:
            self.visit(node.annotation)

    def visit_Import(self, node) -> None:
        return  # names are followed where they are used

    visit_ImportFrom = visit_Import

    def visit_Raise(self, node: ast.Raise) -> None:
        self.in_raise += 1
        self.visit(node.exc)
        self.visit(node.cause)
        self.in_raise -= 1

    def visit_Subscript(self, node: ast.Subscript) -> None:
        targets = self._resolve(node.value)
        if targets and isinstance(node.ctx, ast.Load):
            self._use(targets, "lookup", _const_key(node.slice))
            self.visit(node.slice)
        else:
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    def visit_Compare(self, node: ast.Compare) -> None:
        self.visit(node.left)
        for op, comp in zip(node.ops, node.comparators):
            targets = self._resolve(comp) if isinstance(op, (ast.In, ast.NotIn)) else None
            if targets:
                self._use(targets, "member", _const_key(node.left) if len(node.ops) == 1 else None)
            else:
                self.visit(comp)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        targets = self._resolve(f.value) if isinstance(f, ast.Attribute) and f.attr == "get" else None
        if targets:
            self._use(targets, "lookup", _const_key(node.args[0]) if node.args else None)
        else:
            self.visit(f)
        self.visit(node.args)
        self.visit(node.keywords)

    def visit_Name(self, node: ast.Name) -> None:
        self._use(self._lookup(node.id), "whole")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        targets = self._resolve(node)
        if targets is None:
            self.visit(node.value)
        else:
            self._use(targets, "whole")


def _uses_of(root: Path, package: str, module: str, nodes: list[ast.AST]) -> tuple:
    w = _Walker(root, package, _module(root, package, module))
    for n in nodes:
        w.visit(n)
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign,
                              ast.AugAssign, ast.Expr)):
            # a top-level if/try that imports a name: what it imports is the definition
            for sub in ast.walk(n):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    for raw in _import_bindings(sub, module, w.m.is_package, package).values():
                        w._use(_resolve_raw(root, package, raw), "whole")
    return tuple(w.uses)


# -------------------------------------------------------------- definitions

@dataclass(frozen=True)
class _Definition:
    canonical: str
    uses: tuple                         # (target, kind, key)
    registry: str | None = None         # 'dict' or 'names' for a registry
    header: str = ""                    # a registry's statement without its entries
    header_uses: tuple = ()
    entries: tuple = ()                 # (key, canonical of the value, uses of the value)


def _registry_literal(stmt: ast.stmt) -> tuple[str, ast.AST, str] | None:
    """(kind, literal, wrapper) when ``stmt`` assigns a registry literal to one name."""
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            return None
        value = stmt.value
    elif isinstance(stmt, ast.AnnAssign):
        if not isinstance(stmt.target, ast.Name) or stmt.value is None:
            return None
        value = stmt.value
    else:
        return None
    wrapper = ""
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id in ("frozenset", "set", "tuple") and len(value.args) == 1 and not value.keywords):
        wrapper, value = value.func.id, value.args[0]
    if isinstance(value, ast.Dict) and not wrapper:
        keys = [_const_key(k) for k in value.keys]
        if value.keys and all(k is not None for k in keys) and len(set(keys)) == len(keys):
            return "dict", value, wrapper
        return None
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        keys = [_const_key(e) for e in value.elts]
        if value.elts and all(k is not None for k in keys):
            return "names", value, wrapper
    return None


@lru_cache(maxsize=None)
def _definition(root: Path, package: str, module: str, name: str) -> _Definition:
    m = _module(root, package, module)
    stmts = m.preamble if name == PREAMBLE else m.defs[name]
    canonical = "\n".join(_dump(s) for s in stmts)
    uses = _uses_of(root, package, module, stmts)
    lit = _registry_literal(stmts[0]) if len(stmts) == 1 and name != PREAMBLE else None
    if lit is None:
        return _Definition(canonical, uses)
    kind, value, wrapper = lit
    stmt = stmts[0]
    annotation = stmt.annotation if isinstance(stmt, ast.AnnAssign) else None
    header = f"registry {kind} {wrapper} {type(value).__name__} ann={_dump(annotation) if annotation else ''}"
    header_uses = (_uses_of(root, package, module, [annotation])
                   if annotation is not None and not m.future_annotations else ())
    if kind == "dict":
        entries = tuple((k.value, _dump(v), _uses_of(root, package, module, [v]))
                        for k, v in zip(value.keys, value.values))
    else:
        entries = tuple((e.value, "present", ()) for e in value.elts)
    return _Definition(canonical, uses, kind, header, header_uses, entries)


def _qual(package: str, module: str, name: str) -> str:
    return ".".join(p for p in (package, module, name) if p)


def _resolve_qualname(root: Path, package: str, qualname: str) -> Target:
    """The target a dotted name ``package.module.name`` (or ``package.module``) means."""
    parts = qualname.split(".")
    if parts[0] != package:
        raise ValueError(f"{qualname!r} is not in package {package!r}")
    rest = parts[1:]
    for cut in range(len(rest), -1, -1):
        module = ".".join(rest[:cut])
        if _module(root, package, module) is None:
            continue
        names = rest[cut:]
        if not names:
            return ("module", module)
        if len(names) == 1:
            found = _resolve_attr(root, package, module, names[0])
            if found and found[0][0] == "def":
                return found[0]
        break
    raise ValueError(f"{qualname!r} is not a top-level definition of {package} (module.name; a method's "
                     f"class is the unit: name the class)")


def _label(package: str, t: Target, keys: frozenset | None = None) -> str:
    if t[0] == "preamble":
        return _qual(package, t[1], PREAMBLE)
    q = _qual(package, t[1], t[2])
    return q if keys is None else f"{q}[{','.join(sorted(keys))}]"


@lru_cache(maxsize=None)
def _closure(root: Path, package: str, qualname: str, only: tuple) -> tuple[tuple[str, str], ...]:
    """(label, canonical) of every definition ``qualname`` runs, sorted by label."""
    start = _resolve_qualname(root, package, qualname)
    restrict: dict[Target, frozenset] = {}
    for reg_name, keys in only:
        t = _resolve_qualname(root, package, reg_name)
        info = _definition(root, package, t[1], t[2]) if t[0] == "def" else None
        if info is None or info.registry is None:
            raise ValueError(f"only_keys: {reg_name!r} is not a registry (a module-level dict or tuple/set "
                             f"literal with string keys, assigned once)")
        if info.registry == "dict":
            unknown = set(keys) - {k for k, _, _ in info.entries}
            if unknown:
                raise ValueError(f"only_keys: {sorted(unknown)} not in {reg_name} (one of "
                                 f"{', '.join(k for k, _, _ in info.entries)}): wrong registry for these keys?")
        restrict[t] = restrict.get(t, frozenset()) | frozenset(keys)

    forced: set[Target] = set()
    static: dict[Target, set[str]] = {}
    while True:
        out: dict[str, str] = {}
        new_forced: set[Target] = set()
        new_static: dict[Target, set[str]] = {}
        seen: set[Target] = set()
        todo = [start]
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t[0] == "module":
                m = _module(root, package, t[1])
                for name in m.defs:
                    d = ("def", t[1], name)
                    todo.append(d)
                    if _definition(root, package, t[1], name).registry:
                        new_forced.add(d)
                continue
            if t[0] == "missing":
                out[_qual(package, t[1], t[2]) or package] = "<missing>"
                continue
            m = _module(root, package, t[1])
            if m.preamble and t[0] == "def":
                todo.append(("preamble", t[1]))
            info = _definition(root, package, t[1], PREAMBLE if t[0] == "preamble" else t[2])
            if info.registry and t in restrict and t not in forced:
                keys = restrict[t] | static.get(t, set())
                present = {k: (c, u) for k, c, u in info.entries}
                parts = [info.header] + [f"{k}={present[k][0] if k in present else '<absent>'}" for k in sorted(keys)]
                canonical = "\n".join(parts)
                uses = list(info.header_uses) + [x for k in sorted(keys) if k in present for x in present[k][1]]
                label = _label(package, t, frozenset(keys))
            else:
                canonical, uses, label = info.canonical, list(info.uses), _label(package, t)
            out[label] = canonical
            for u, kind, key in uses:
                if u == t:
                    continue
                if u[0] == "def":
                    reg = _definition(root, package, u[1], u[2]).registry
                    if reg and (kind == "whole" or (kind == "lookup" and reg != "dict")):
                        new_forced.add(u)
                    if reg and key is not None:
                        new_static.setdefault(u, set()).add(key)
                todo.append(u)
        grew = not new_forced <= forced or any(not ks <= static.get(t, set()) for t, ks in new_static.items())
        if not grew:
            return tuple(sorted(out.items()))
        forced |= new_forced
        for t, ks in new_static.items():
            static.setdefault(t, set()).update(ks)


def _args(root: Path | None, package: str | None, only_keys: Mapping[str, Iterable[str]] | None):
    root = ROOT if root is None else Path(root).resolve()
    package = package or root.name
    only = tuple(sorted((k, tuple(sorted(set(v)))) for k, v in (only_keys or {}).items()))
    for k, v in only:
        if any(not isinstance(x, str) for x in v):
            raise TypeError(f"only_keys[{k!r}] must hold strings (a set of keys), got {v!r}")
    return root, package, only


# ---------------------------------------------------------------------- API

def fingerprint(qualname: str, only_keys: Mapping[str, Iterable[str]] | None = None, *,
                root: Path | str | None = None, package: str | None = None) -> str:
    """Short SHA-256 (16 hex digits) of the code ``qualname`` runs (module docstring).

    ``qualname``: ``package.module.name`` of a top-level definition (a function, a
    class, a constant), e.g. ``"htcore.stages.train"``. ``only_keys``: registry
    qualname -> the keys this job uses (:func:`keys_for`); those registries are then
    hashed as those entries only, where the code only looks them up by key."""
    root, package, only = _args(root, package, only_keys)
    h = hashlib.sha256(qualname.encode())
    for label, canonical in _closure(root, package, qualname, only):
        h.update(b"\0" + label.encode() + b"\0" + canonical.encode())
    return h.hexdigest()[:16]


def explain(qualname: str, only_keys: Mapping[str, Iterable[str]] | None = None, *,
            root: Path | str | None = None, package: str | None = None) -> list[str]:
    """The definitions :func:`fingerprint` covers, sorted: ``module.name``; a registry
    restricted to keys shows them, ``htcore.models.ACTIVATIONS[tanh]``; a module's
    import-time statements show as ``module.<module>``."""
    root, package, only = _args(root, package, only_keys)
    return [label for label, _ in _closure(root, package, qualname, only)]


def keys_for(params: Mapping[str, Any], registry_params: Mapping[str, str] | None = None) -> dict[str, set[str]]:
    """``only_keys`` for a job from its run parameters: each registry of
    :data:`REGISTRY_PARAMS` restricted to the value of its parameter. A registry
    whose parameter is not in ``params`` (or is not a string) is left out, so it is
    hashed whole."""
    out: dict[str, set[str]] = {}
    for registry, param in (REGISTRY_PARAMS if registry_params is None else registry_params).items():
        value = params.get(param)
        if isinstance(value, str):
            out[registry] = {value}
    return out


def clear_caches() -> None:
    """Forget what was read (for a process that edits the package and hashes again)."""
    for f in (_module, _definition, _closure):
        f.cache_clear()
