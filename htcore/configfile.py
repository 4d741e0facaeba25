"""Reading config files and validating them against the schema, with one-line messages.

Its one job: turn what the user wrote into a checked mapping, or into one
:class:`ConfigError` whose message names the key (or file, line and column) and says
what is wrong. What the mapping means (experiments, runs, ids) is htcore.config's.

* :func:`load_config_file` reads one YAML/JSON config file the way Snakemake does,
  but rejects what Snakemake lets through silently: a key written twice in one
  mapping (YAML keeps the last; the error names both lines) and, for syntax errors,
  says file, line and column. :func:`read_config_files` does so for every config
  file of the workflow before Snakemake's ``configfile:`` merges them (Snakemake
  itself reads each ``--configfile`` before the Snakefile runs: what it cannot parse
  gets Snakemake's own message).
* :func:`validate` checks a config dict against the JSON schema (:func:`full_schema`:
  workflow/schemas/config.schema.yaml plus the parameter definitions of
  htcore.params); all errors become one :class:`ConfigError` whose message names the
  offending key. Numbers must be finite, integers must be written as integers; a
  look-alike non-ASCII character is named, with the word it imitates
  (:func:`_non_ascii_hint`, which htcore.config uses for its own messages too).
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from typing import Any, Iterable, Mapping

from htcore import params as P


class ConfigError(ValueError):
    """A configuration problem; the message names the key and says what is wrong."""


# ---------------------------------------------------------------------- validation

def _path_text(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


#: Text that YAML 1.1 (PyYAML, Snakemake) reads as a string although it means a
#: number: exponent notation without a dot or without the exponent's sign.
_EXPONENT_TEXT = re.compile(r"^\s*([+-]?)(\d*)\.?(\d*)[eE]([+-]?)(\d+)\s*$")


def _text_hint(text: str, wanted: str) -> str:
    """Why a string is not the number it looks like, and how to write it."""
    m = _EXPONENT_TEXT.match(text)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac, esign, exp = m.groups()
        fixed = f"{sign}{whole or '0'}.{frac or '0'}e{esign or '+'}{exp}"
        if wanted == "integer":
            return f" (YAML reads {text} as text; write the integer in full, e.g. {int(float(fixed))})" \
                if float(fixed).is_integer() and abs(float(fixed)) < 1e18 else f" (YAML reads {text} as text)"
        return f" (YAML reads {text} as text: exponent notation needs a dot and a sign, write {fixed})"
    try:
        float(text)
    except ValueError:
        return ""
    return " (it is quoted text: remove the quotes)"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _type_problem(instance: Any, wanted: Any) -> str:
    """What is wrong with ``instance`` for a ``type`` keyword of ``wanted``."""
    names = wanted if isinstance(wanted, list) else [wanted]
    want = " or ".join(f"{_article(n)} {n}" for n in names)
    if isinstance(instance, float) and not math.isfinite(instance):
        return f"{instance!r} is not allowed: numbers must be finite (no .nan, .inf, -.inf)"
    if isinstance(instance, float) and "integer" in names:
        if instance.is_integer():
            return f"{instance!r} is not an integer (write {int(instance)}, without the dot)"
        return f"{instance!r} is not an integer"
    if isinstance(instance, str):
        return f"{instance!r} is not {want}{_text_hint(instance, names[0])}"
    if isinstance(instance, bool):
        return f"{instance!r} is a boolean, not {want}"
    return f"{instance!r} is not {want}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _non_ascii_hint(text: Any, candidates: Iterable[Any] = ()) -> str:
    """For text holding non-ASCII characters (a Cyrillic "а" in "аdam"): which one,
    and the candidate it imitates when exactly one fits; else ``""``."""
    if not isinstance(text, str):
        return ""
    odd = [c for c in text if ord(c) > 127]
    if not odd:
        return ""
    c = odd[0]
    hint = f"; it contains non-ASCII character U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})"
    if len(odd) > 1:
        hint += f" and {len(odd) - 1} more"
    fits = [w for w in dict.fromkeys(candidates) if isinstance(w, str) and _looks_like(text, w)]
    return hint + (f"; did you mean {fits[0]!r}?" if len(fits) == 1 else "")


def _looks_like(text: str, word: str) -> bool:
    """Whether ``text`` is ``word`` with some characters swapped for non-ASCII ones
    (invisible ones, e.g. a zero-width space or a combining accent, dropped)."""
    text = "".join(c for c in text if ord(c) < 128 or unicodedata.category(c) not in ("Cf", "Mn", "Zs"))
    return len(text) == len(word) and all(a == b or ord(a) > 127 for a, b in zip(text, word))


def _enum_values(schema: Mapping[str, Any]) -> list[Any]:
    """The ``enum`` values of a schema and of its ``oneOf`` branches."""
    values = list(schema.get("enum", []))
    for sub in schema.get("oneOf", []):
        values += sub.get("enum", [])
    return values


def _describe(err) -> str:
    """One line naming the key and what is wrong with it, from a jsonschema error."""
    where = _path_text(err.absolute_path)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(err.schema.get("properties", {}))
        key = f"{where}.{extra[0]}" if err.absolute_path else extra[0]
        hint = _non_ascii_hint(extra[0], err.schema.get("properties", {}))
        return f"{key}: unknown key{hint} (allowed here: {allowed})"
    if err.validator == "propertyNames":
        return f"{where}: bad name {err.instance!r} (lower case letters, digits, _)"
    if err.validator == "type":
        return f"{where}: {_type_problem(err.instance, err.validator_value)}"
    if isinstance(err.instance, float) and not math.isfinite(err.instance):
        return f"{where}: {_type_problem(err.instance, 'number')}"
    if err.validator == "minItems" and err.instance == []:
        return f"{where}: must not be empty"
    if err.validator == "required":
        return f"{where}: {err.message}"
    if err.validator == "oneOf":
        problem = f"{err.instance!r} is not valid"
        for sub in err.context or ():
            if sub.validator == "type" and sub.validator_value == "integer" and isinstance(err.instance, (float, str)):
                problem = _type_problem(err.instance, "integer")
                break
        hint = _non_ascii_hint(err.instance, _enum_values(err.schema))
        return f"{where}: {problem}; {_one_line(err.schema.get('description', 'see the schema'))}{hint}"
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        why = err.schema.get("description")
        return f"{where}: {err.message}" + (f"; {_one_line(why)}" if why else "")
    if err.validator == "enum":
        return f"{where}: {_one_line(err.message)}{_non_ascii_hint(err.instance, err.validator_value)}"
    return f"{where}: {_one_line(err.message)}"


def _is_integer(checker, instance: Any) -> bool:
    # JSON Schema counts 20.0 as an integer; a float reaching an int parameter
    # crashes jobs or renames paths, so only real integers pass.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker, instance: Any) -> bool:
    # NaN and infinities pass every bound (NaN compares false): exclude them here.
    if isinstance(instance, bool):
        return False
    if isinstance(instance, float):
        return math.isfinite(instance)
    return isinstance(instance, int)


def _validator(schema: Mapping[str, Any]):
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


def full_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The config schema (workflow/schemas/config.schema.yaml) with the parameter
    definitions generated from htcore.params added to its ``$defs``."""
    return {**schema, "$defs": {**schema.get("$defs", {}), **P.schema_defs()}}


def validate(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Validate ``config`` against ``schema``; raise ConfigError naming the key."""
    import jsonschema

    if not isinstance(config, Mapping):
        raise ConfigError(f"<top level>: the config must be a mapping of keys, not {type(config).__name__}")
    errors = sorted(_validator(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        # best_match descends into oneOf branches; report the deepest useful error.
        raise ConfigError(_describe(best))



# --------------------------------------------------------------------- config files

def read_config_files(default: str, given: Iterable[Any], schema: Mapping[str, Any]) -> None:
    """Read the workflow's config files as :func:`load_config_file` does, before
    Snakemake's ``configfile:`` merges them: ``default`` (the Snakefile's
    ``configfile:``, relative to the working directory; it may be missing when files
    are ``given``) and the ``given`` ones (``--configfile``: ``workflow.configfiles``).

    Besides what load_config_file refuses, a top-level key the schema does not allow
    is refused here, naming the file: ``configfile:`` itself reads some keys
    (``pathvars``) and fails with a traceback on a malformed one.

    Snakemake reads every ``--configfile`` before the Snakefile runs (its command line,
    snakemake.settings.types.ConfigSettings): one that it cannot parse, or that does
    not exist, stops Snakemake before this is called, with Snakemake's own message."""
    given = [str(p) for p in given]
    paths = [default] if os.path.exists(default) else []
    if not paths and not given:
        raise ConfigError(f"{default}: not found in {os.getcwd()} (write one there, or give --configfile FILE)")
    allowed = list(schema.get("properties", {}))
    for path in dict.fromkeys(paths + given):
        for key in load_config_file(path):
            if key not in allowed:
                raise ConfigError(f"{key}: unknown key in {path}{_non_ascii_hint(key, allowed)} "
                                  f"(allowed here: {', '.join(allowed)})")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read one YAML (or JSON) config file, refusing what YAML accepts silently.

    A syntax error names file, line and column; a key written twice in one mapping
    (YAML keeps the last one, e.g. a second ``lr_sweep:`` block) names the key and
    both lines. Returns the parsed mapping."""
    import yaml

    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        problem = e.problem or e.context or "cannot parse"
        cm = e.context_mark
        if e.context and e.problem and cm is not None:
            problem += f" ({e.context} at line {cm.line + 1}, column {cm.column + 1})"
        raise ConfigError(f"{at}: YAML syntax error: {_one_line(problem)}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML error: {_one_line(e)}") from None
    if node is None:
        raise ConfigError(f"{path}: the config file is empty")
    _check_duplicate_keys(node, [], path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise ConfigError(f"{at}: {_one_line(getattr(e, 'problem', None) or e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys, not {type(data).__name__}")
    return data


def _check_duplicate_keys(node: Any, where: list, path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else None
            if k is not None:
                line = key.start_mark.line + 1
                if k in seen:
                    raise ConfigError(
                        f"{_path_text(where + [k])}: written twice in {path} (lines {seen[k]} and {line}); "
                        f"YAML would keep only the second silently: merge them or rename one")
                seen[k] = line
            _check_duplicate_keys(value, where + [k if k is not None else "?"], path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, where + [i], path)

