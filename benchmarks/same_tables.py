"""Are a refactor's tables the same? Run the study at two commits and compare tables.

    python benchmarks/same_tables.py REV_A REV_B [--config shrunk|tiny] [--jobs 2] [--work DIR]

Each commit is checked out into its own worktree (under --work) and runs the shipped
config shrunk as the tests shrink it (tests/helpers.shrink) or tests/configs/tiny.yaml,
with its own htcore (PYTHONPATH) and BLAS pinned by the jobs themselves. Then every
experiment table (results/<experiment>/*.parquet) and results/claims.parquet of the
two runs are compared with pandas' assert_frame_equal(check_exact=True). Prints one
line per table and the count; exit status 1 if any table differs or is missing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import shrink  # noqa: E402


def run_study(rev: str, work: Path, config: str, jobs: int) -> Path:
    tree = work / f"tree-{rev}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev], check=True)
    out = work / f"study-{rev}"
    out.mkdir(parents=True, exist_ok=True)
    cfg = (shrink(yaml.safe_load((tree / "config.yaml").read_text())) if config == "shrunk"
           else yaml.safe_load((tree / "tests/configs/tiny.yaml").read_text()))
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(tree / "Snakefile"), "-d", str(out), "-j", str(jobs),
                    "all", "-q"], check=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
    print(f"{rev}: {config} study in {time.time() - t0:.0f} s", flush=True)
    return out / "results"


def tables(results: Path) -> dict[str, Path]:
    found = {p.relative_to(results).as_posix(): p for p in results.glob("*/*.parquet")}
    if (results / "claims.parquet").exists():
        found["claims.parquet"] = results / "claims.parquet"
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev_a")
    ap.add_argument("rev_b")
    ap.add_argument("--config", choices=("shrunk", "tiny"), default="shrunk")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="folder for the worktrees and studies (default: a temp dir)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="same-tables-"))
    a, b = (tables(run_study(r, work, args.config, args.jobs)) for r in (args.rev_a, args.rev_b))
    bad = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"MISSING in {'A' if name not in a else 'B'}: {name}")
            bad += 1
            continue
        try:
            pd.testing.assert_frame_equal(pd.read_parquet(a[name]), pd.read_parquet(b[name]), check_exact=True)
            print(f"identical: {name}")
        except AssertionError as e:
            print(f"DIFFERS: {name}: {str(e).splitlines()[0]}")
            bad += 1
    print(f"{len(set(a) | set(b)) - bad} of {len(set(a) | set(b))} tables identical ({args.config}; {args.rev_a} vs "
          f"{args.rev_b}; work in {work})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
