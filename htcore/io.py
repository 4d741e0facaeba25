"""File I/O at the edges: ``.npz`` arrays and Parquet tables.

Per-run tables are written with pyarrow directly (pandas costs ~0.4 s to import, paid
by every job); each table carries the writing stage's spec as Parquet key-value
metadata (``htcore.spec``) for provenance.

Writers go through a temporary file beside the target, renamed over it when whole;
the file gets the mode the umask allows (as ``open`` would give it), and a failed
write (disk full, ...) removes its temporary file. Readers turn any failure to parse
an artifact into one :class:`ArtifactError` that names the file and the way out, and
the mappings they return name the file when an expected array or column is missing.

What a file holds is declared once, beside the code that writes it, as a
:class:`Schema` (its columns or arrays, in the order written, and the dtypes its
writer fixes); the writer passes what it writes through it, and ``htcore check``
(:mod:`htcore.check`) checks the files against the same declarations.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

#: what to run after deleting a damaged artifact (from the directory holding results/):
#: name it as a target (Snakemake does not rebuild a missing intermediate file while what
#: depends on it exists and is newer), then `all` re-runs what depends on it
REBUILD = "snakemake -j 8 {path} && snakemake -j 8 all"


class ArtifactError(ValueError):
    """An artifact on disk cannot be read or lacks what it should hold."""

    def __init__(self, path: str | os.PathLike, reason: str, rebuild: str = REBUILD):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: damaged or unreadable ({reason}); "
                         f"delete it and run '{rebuild.format(path=self.path)}' to rebuild it "
                         "('python -m htcore check' lists every damaged file)")


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "no details"
    return f"{type(e).__name__}: {text[:200]}"


#: reader failures that are not damage: they propagate as they are (and name the file)
_PASS = (FileNotFoundError, PermissionError, IsADirectoryError)


def describe_os_error(e: OSError) -> str:
    """One line for an OSError: its text plus the errno's name (e.g. ENOSPC)."""
    import errno

    name = errno.errorcode.get(e.errno or 0)
    text = " ".join(str(e).split())
    return f"{text} ({name})" if name and name not in text else text


class Arrays(dict):
    """The arrays or columns of one artifact; a missing key raises ArtifactError."""

    def __init__(self, path: str | os.PathLike, items: Mapping[str, np.ndarray], what: str):
        super().__init__(items)
        self.path, self.what = str(path), what

    def __missing__(self, key: str):
        raise ArtifactError(self.path, f"no {self.what} {key!r}; has {', '.join(self) or 'none'}")


@dataclass(frozen=True)
class Schema:
    """What one file holds: its columns (a Parquet table) or arrays (an .npz).

    ``names`` in the order written; ``dtypes`` the NumPy dtype of each column or
    array whose dtype the writer fixes (a text column: ``str``); ``one_of`` names of
    which the file holds exactly one, written first (a data file's teacher, ``beta``
    or ``B``). ``a + b`` appends ``b``'s names (a Schema or a tuple) to ``a``'s.

    A writer passes what it writes through :meth:`ordered` (a dict of columns or
    arrays) or :meth:`frame` (a pandas DataFrame), so that it cannot write anything
    else; ``htcore check`` checks a file against the same declaration.
    """

    names: tuple[str, ...]
    dtypes: Mapping[str, Any] = field(default_factory=dict)
    one_of: tuple[str, ...] = ()

    def __add__(self, other: "Schema | tuple[str, ...]") -> "Schema":
        other = other if isinstance(other, Schema) else Schema(tuple(other))
        return Schema(self.names + other.names, {**self.dtypes, **other.dtypes}, self.one_of + other.one_of)

    def _expected(self, have: Iterable[str]) -> list[str]:
        """The declared names, in order, given the names at hand (which of ``one_of``)."""
        have = list(have)
        chosen = [n for n in self.one_of if n in have]
        if self.one_of and len(chosen) != 1:
            raise ValueError(f"exactly one of {', '.join(self.one_of)} expected, got {', '.join(chosen) or 'none'}")
        return chosen + list(self.names)

    def _same(self, have: Iterable[str]) -> list[str]:
        have = list(have)
        want = self._expected(have)
        missing = [n for n in want if n not in have]
        extra = [n for n in have if n not in want]
        if missing or extra or len(set(have)) != len(have):
            raise ValueError("not the declared names: "
                             + "; ".join(f"{what} {', '.join(names)}" for what, names in
                                         (("missing", missing), ("not declared", extra)) if names)
                             + ("; names repeated" if len(set(have)) != len(have) else ""))
        return want

    def ordered(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` (name -> column or array) in the declared order; ValueError if
        the names are not the declared ones, or a declared dtype is not the one at hand."""
        want = self._same(values)
        for name, dtype in self.dtypes.items():
            if name in values and not _same_dtype(np.asarray(values[name]), dtype):
                raise ValueError(f"{name} is {np.asarray(values[name]).dtype}, declared {np.dtype(dtype)}")
        return {n: values[n] for n in want}

    def frame(self, frame, keep_order: bool = False):
        """A DataFrame with the declared columns, in the declared order (``keep_order``:
        in its own order); ValueError if its columns are not the declared ones."""
        want = self._same(frame.columns)
        return frame if keep_order or list(frame.columns) == want else frame[want]


def _same_dtype(a: np.ndarray, dtype: Any) -> bool:
    want = np.dtype(dtype)
    return a.dtype == want or (want.kind == "U" and a.dtype.kind == "U")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def _atomic(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success give it the umask's mode and
    rename it to ``path``; on failure remove it (a full disk gets its space back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):  # name the output (pyarrow's messages do not)
            raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from e
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path``, atomically."""
    with _atomic(path) as tmp:
        tmp.write_text(text)


def save_npz(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write arrays to ``path`` (uncompressed npz), atomically."""
    with _atomic(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an npz file into memory (ArtifactError if it cannot)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        if head not in (b"PK\x03\x04", b"PK\x05\x06"):  # zip: a file, or an empty archive
            raise ArtifactError(path, f"not an .npz (zip) archive: starts with {head!r}")
        with np.load(path, allow_pickle=False) as z:
            return Arrays(path, {k: z[k] for k in z.files}, "array")
    except (ArtifactError, *_PASS):
        raise
    except Exception as e:  # noqa: BLE001 - zipfile, pickle, EOF, format errors
        raise ArtifactError(path, _reason(e)) from e


def write_table(path: str | os.PathLike, columns: Mapping[str, Any], meta: Mapping[str, str] | None = None) -> None:
    """Write a dict of equal-length columns (arrays or lists) as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: _column(v) for k, v in columns.items()})
    if meta:
        table = table.replace_schema_metadata({f"htcore.{k}": v for k, v in meta.items()})
    with _atomic(path) as tmp:
        pq.write_table(table, tmp)


def _column(v: Any):
    import pyarrow as pa

    if isinstance(v, np.ndarray):
        return pa.array(v)
    return pa.array(list(v))


def read_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a Parquet table into a dict of NumPy columns (ArtifactError if it cannot).

    Uses ``ParquetFile`` rather than ``pq.read_table``: the latter goes through
    ``pyarrow.dataset``, which imports pandas (~0.2 s per job)."""
    import pyarrow.parquet as pq

    try:
        t = pq.ParquetFile(path).read()
        cols = {name: t.column(name).to_numpy(zero_copy_only=False) for name in t.column_names}
    except _PASS:
        raise
    except Exception as e:  # noqa: BLE001 - ArrowInvalid, OSError, ...
        raise ArtifactError(path, _reason(e)) from e
    return Arrays(path, cols, "column")


def read_frame(path: str | os.PathLike):
    """Read a Parquet table as a pandas DataFrame (ArtifactError if it cannot)."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except _PASS:
        raise
    except Exception as e:  # noqa: BLE001 - ArrowInvalid, OSError, ...
        raise ArtifactError(path, _reason(e)) from e


def write_frame(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as Parquet (no index), atomically."""
    with _atomic(path) as tmp:
        frame.to_parquet(tmp, index=False)


def to_json(obj: Any) -> str:
    """Compact, key-sorted JSON (stable, so Snakemake sees unchanged params as equal)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, tuple):
        return list(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
