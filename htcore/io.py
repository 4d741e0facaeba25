"""File I/O at the edges: ``.npz`` arrays and Parquet tables.

Per-run tables are written with pyarrow directly (pandas costs ~0.4 s to import, paid
by every job); each table carries the writing stage's spec as Parquet key-value
metadata (``htcore.spec``) for provenance.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def _atomic_target(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return path, Path(tmp)


def save_npz(path: str | os.PathLike, arrays: Mapping[str, Any]) -> None:
    """Write arrays to ``path`` (uncompressed npz), atomically."""
    path, tmp = _atomic_target(path)
    with open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every array of an npz file into memory."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_table(path: str | os.PathLike, columns: Mapping[str, Any], meta: Mapping[str, str] | None = None) -> None:
    """Write a dict of equal-length columns (arrays or lists) as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: _column(v) for k, v in columns.items()})
    if meta:
        table = table.replace_schema_metadata({f"htcore.{k}": v for k, v in meta.items()})
    path, tmp = _atomic_target(path)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _column(v: Any):
    import pyarrow as pa

    if isinstance(v, np.ndarray):
        return pa.array(v)
    return pa.array(list(v))


def read_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a Parquet table into a dict of NumPy columns.

    Uses ``ParquetFile`` rather than ``pq.read_table``: the latter goes through
    ``pyarrow.dataset``, which imports pandas (~0.2 s per job)."""
    import pyarrow.parquet as pq

    t = pq.ParquetFile(path).read()
    return {name: t.column(name).to_numpy(zero_copy_only=False) for name in t.column_names}


def write_frame(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as Parquet (no index), atomically."""
    path, tmp = _atomic_target(path)
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
