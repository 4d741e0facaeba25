"""Code fingerprints: editing htcore re-runs exactly the stages whose code changed.

Snakemake does not track imported modules, so each rule passes ``code_hash(stage)``
through ``params:``. The fingerprint follows what the stage actually runs, read
from the source (:mod:`ast`), not from a hand-kept list:

1. the stage's function in htcore/stages.py (:data:`htcore.stages.STAGES`);
2. every top-level function, class or constant of htcore/stages.py that it uses,
   and what those use in turn;
3. every htcore module it imports (inside the function or at the top of
   stages.py), whole, and the htcore modules those import, transitively.

Each piece is hashed as its syntax tree without docstrings, so comments,
docstrings and formatting never re-run anything, while any change to code that a
stage runs does. Touching the spectrum's helpers in stages.py re-runs spectra, not
training; editing htcore/evaluate.py re-runs evaluations and never training.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).parent


@lru_cache(maxsize=None)
def _tree(module: str) -> ast.Module:
    return ast.parse((ROOT / f"{module}.py").read_text(), filename=f"htcore/{module}.py")


def _strip_docstrings(node: ast.AST) -> ast.AST:
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if (isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            n.body = body[1:] or [ast.Pass()]
    return node


def _canonical(node: ast.AST) -> str:
    """The node's syntax tree without docstrings, positions or comments."""
    return ast.dump(_strip_docstrings(ast.parse(ast.unparse(node))))


@lru_cache(maxsize=None)
def _module_canonical(module: str) -> str:
    """A whole module's canonical text, once per process (stages share modules)."""
    return _canonical(_tree(module))


def _htcore_imports(node: ast.AST) -> dict[str, str]:
    """Local name -> htcore module, for the htcore imports anywhere in ``node``."""
    out = {}
    for n in ast.walk(node):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "htcore":
            for a in n.names:
                if n.module == "htcore":  # from htcore import train as train_mod
                    out[a.asname or a.name] = a.name
                else:  # from htcore.shape import tail_summary
                    out[a.asname or a.name] = n.module.split(".", 1)[1]
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.name.startswith("htcore."):
                    out[a.asname or a.name] = a.name.split(".", 1)[1]
    return {k: v.split(".")[0] for k, v in out.items()}


def _top_level(module: str) -> dict[str, ast.AST]:
    """Name -> definition (function, class, assignment) at the top of a module."""
    defs: dict[str, ast.AST] = {}
    for node in _tree(module).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = node
    return defs


def _local_names(node: ast.AST) -> set[str]:
    """Names a function binds itself (its arguments, assignments): they shadow the
    module's top-level names of the same spelling."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set()
    a = node.args
    names = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    names |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


@lru_cache(maxsize=None)
def _module_closure(module: str) -> tuple[str, ...]:
    """``module`` and every htcore module it imports, transitively (sorted)."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen or not (ROOT / f"{m}.py").exists():
            continue
        seen.add(m)
        todo.extend(_htcore_imports(_tree(m)).values())
    return tuple(sorted(seen))


def stage_code(function_name: str, module: str = "stages") -> tuple[list[str], list[str]]:
    """What a stage function runs: the canonical source of the definitions of
    ``module`` it uses (itself first) and the htcore modules it imports."""
    defs = _top_level(module)
    module_imports = _htcore_imports(ast.Module(body=[n for n in _tree(module).body
                                                      if isinstance(n, (ast.Import, ast.ImportFrom))],
                                                type_ignores=[]))
    pieces, modules, seen, todo = [], set(), set(), [function_name]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        node = defs[name]
        pieces.append(_canonical(node))
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - _local_names(node)
        todo.extend(sorted(u for u in used if u in defs and u not in seen))
        modules.update(m for local, m in module_imports.items() if local in used)
        modules.update(_htcore_imports(node).values())
    closure = sorted({m for mod in modules for m in _module_closure(mod)})
    return pieces, closure


def clear_caches() -> None:
    """Forget what was read (for a process that edits htcore and hashes again)."""
    for f in (_tree, _module_canonical, _module_closure, code_hash):
        f.cache_clear()


@lru_cache(maxsize=None)
def code_hash(stage: str) -> str:
    """Short SHA-256 of what ``stage`` runs (see the module docstring)."""
    from htcore.stages import STAGES

    pieces, modules = stage_code(STAGES[stage].run.__name__)
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece.encode())
    for m in modules:
        h.update(m.encode())
        h.update(_module_canonical(m).encode())
    return h.hexdigest()[:16]
