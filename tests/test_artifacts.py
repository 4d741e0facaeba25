"""Artifacts on disk: written with the umask's mode, read back or refused with a
message naming the file and the remedy, and checked by ``python -m htcore check``
on a tiny study damaged in several ways."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from htcore import check, io
from htcore.collect import concat

from conftest import ROOT

RUN = "results/lr_sweep/train/optimizer~adam/lr~1000/seed~0"
EVAL = "results/lr_sweep/eval/optimizer~adam/lr~0.1/seed~0/eval.parquet"


# ------------------------------------------------------------------------ writers

@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_get_the_mode_the_umask_allows(tmp_path, mask):
    old = os.umask(mask)
    try:
        io.save_npz(tmp_path / "a.npz", {"x": np.arange(3)})
        io.write_table(tmp_path / "t.parquet", {"x": np.arange(3)})
        io.write_frame(tmp_path / "f.parquet", pd.DataFrame({"x": [1, 2]}))
    finally:
        os.umask(old)
    for name in ("a.npz", "t.parquet", "f.parquet"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


# ------------------------------------------------------------------------ readers

def damaged(tmp_path, name: str, how: str):
    """A good artifact ``name`` turned into random bytes or cut in half."""
    path = tmp_path / name
    if name.endswith(".npz"):
        io.save_npz(path, {"W": np.ones((2, 3, 4))})
    else:
        io.write_table(path, {"step": np.arange(50)})
    data = path.read_bytes()
    path.write_bytes(np.random.default_rng(0).bytes(len(data)) if how == "random" else data[: len(data) // 2])
    return path


@pytest.mark.parametrize("how", ["random", "truncated"])
@pytest.mark.parametrize("reader,name", [(io.load_npz, "w.npz"), (io.read_table, "t.parquet"),
                                         (io.read_frame, "t.parquet"), (lambda p: concat([p]), "t.parquet")])
def test_readers_name_the_file_and_the_remedy(tmp_path, reader, name, how):
    path = damaged(tmp_path, name, how)
    with pytest.raises(io.ArtifactError) as e:
        reader(str(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}: damaged or unreadable (") and "\n" not in msg
    assert msg.endswith("delete it and re-run 'snakemake -j 8 all' to rebuild it")
    assert "allow_pickle" not in msg


def test_a_missing_array_or_column_names_the_file(tmp_path):
    io.save_npz(tmp_path / "w.npz", {"W": np.ones(2)})
    with pytest.raises(io.ArtifactError, match=r"w\.npz: damaged or unreadable \(no array 'probe_steps'; has W\)"):
        io.load_npz(tmp_path / "w.npz")["probe_steps"]
    io.write_table(tmp_path / "t.parquet", {"step": np.arange(2)})
    with pytest.raises(io.ArtifactError, match=r"no column 'eigenvalue'"):
        io.read_table(tmp_path / "t.parquet")["eigenvalue"]


def test_a_job_reading_a_damaged_input_fails_with_one_line(tmp_path, monkeypatch):
    from htcore import cli

    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    bad = damaged(tmp_path, "w.npz", "truncated")
    outs = [a for name in ("esd", "table", "update-sv", "overlaps") for a in (f"--{name}", str(tmp_path / name))]
    with pytest.raises(SystemExit) as e:
        cli.main(["spectrum", "--spec", "{}", "--weights", str(bad), "--trace", str(tmp_path / "t.parquet"), *outs])
    assert str(e.value.code) == f"htcore spectrum: {bad}: damaged or unreadable ({_reason(bad)}); " \
                                "delete it and re-run 'snakemake -j 8 all' to rebuild it"
    assert not any((tmp_path / name).exists() for name in ("esd", "table", "update-sv", "overlaps"))


def _reason(path):
    with pytest.raises(io.ArtifactError) as e:
        io.load_npz(path)
    return e.value.reason


# ------------------------------------------------------------ python -m htcore check

@pytest.fixture(scope="module")
def study(root, tmp_path_factory):
    """A tiny study (one seed, adam at a small and a diverging lr) up to its tables."""
    work = tmp_path_factory.mktemp("study")
    cfg = yaml.safe_load((root / "tests/configs/tiny.yaml").read_text())
    cfg["experiments"]["lr_sweep"].update(grid={"optimizer": ["adam"], "lr": [0.1, 1000.0, 1.0e20]}, seeds=[0])
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "-d", str(work), "-j", "2",
                    "results/lr_sweep/table.parquet"], check=True, capture_output=True, timeout=600)
    return work


@pytest.fixture()
def copy(study, tmp_path, monkeypatch):
    work = tmp_path / "copy"
    shutil.copytree(study, work)
    monkeypatch.chdir(work)
    return work


def test_a_clean_study_passes(study):
    proc = subprocess.run([sys.executable, "-m", "htcore", "check"], cwd=study, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "none damaged" in proc.stdout
    t = pd.read_parquet(study / "results/lr_sweep/table.parquet")
    assert t["diverged"].any()  # the NaN of a diverged run is not damage


def random_bytes(path):
    path.write_bytes(np.random.default_rng(1).bytes(path.stat().st_size))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def npz_edit(edit):
    def damage(path):
        z = dict(io.load_npz(path))
        edit(z)
        io.save_npz(path, z)
    return damage


def table_edit(edit):
    def damage(path):
        t = pd.read_parquet(path)
        io.write_frame(path, edit(t))
    return damage


def nan_at(name, index):
    def edit(z):
        z[name] = z[name].astype(float)
        z[name][index] = np.nan
    return edit


DAMAGE = {
    "weights: random bytes": (f"{RUN}/weights.npz", random_bytes, "not an .npz (zip) archive"),
    "weights: truncated": (f"{RUN}/weights.npz", truncate, "BadZipFile"),
    "weights: W of the wrong shape": (f"{RUN}/weights.npz", npz_edit(lambda z: z.update(W=z["W"][:, :, :7])),
                                      "W snapshots are (30, 7), the seed's W0 (30, 20)"),
    "weights: one probe step short": (f"{RUN}/weights.npz", npz_edit(lambda z: z.update(W=z["W"][:1])),
                                      "W has shape (1, 30, 20), expected (2, h, d) for 2 probe steps"),
    "weights: NaN before divergence": (f"{RUN}/weights.npz", npz_edit(nan_at("W", (0, 0, 0))),
                                       "non-finite weights before the run diverged"),
    "data: NaN": ("results/lr_sweep/data/seed~0.npz", npz_edit(nan_at("X", (0, 0))), "non-finite values in X"),
    "data: array missing": ("results/lr_sweep/data/seed~0.npz", npz_edit(lambda z: z.pop("W0")), "no array W0"),
    "eval: truncated": (EVAL, truncate, "ArrowInvalid"),
    # probes 0 and 3; step 0 is the seed's initial run's, so the run's own table has step 3 only
    "eval: a row written twice": (EVAL, table_edit(lambda t: pd.concat([t, t])), "steps differ from the run's probe steps"),
    "esd: random bytes": (f"{RUN.replace('train', 'spectrum')}/esd.parquet", random_bytes, "ArrowInvalid"),
    "trace: column missing": (f"{RUN}/trace.parquet", table_edit(lambda t: t.drop(columns="student_loss")),
                              "no column student_loss"),
    "table: truncated": ("results/lr_sweep/table.parquet", truncate, "ArrowInvalid"),
    "table: rows duplicated": ("results/lr_sweep/table.parquet", table_edit(lambda t: pd.concat([t, t.iloc[:1]])),
                               "3 rows of optimizer~adam/lr~0.1/seed~0, its table"),
}


#: the run job that keeps a step file (htcore.memo): its manifest goes too
MANIFEST = {RUN: "results/lr_sweep/runs/optimizer~adam/lr~1000/seed~0.json",
            RUN.replace("train", "spectrum"): "results/lr_sweep/runs/optimizer~adam/lr~1000/seed~0.json",
            EVAL.rsplit("/", 1)[0]: "results/lr_sweep/runs/optimizer~adam/lr~0.1/seed~0.json"}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_check_lists_a_damaged_artifact_and_how_to_rebuild_it(copy, capsys, case):
    name, damage, why = DAMAGE[case]
    damage(copy / name)
    assert check.main("results") == 1
    out = capsys.readouterr().out
    assert f"1 damaged\n  {name}: " in out and why in out.splitlines()[1], out
    rm = " ".join(shlex.quote(p) for p in [name, MANIFEST.get(name.rsplit("/", 1)[0])] if p)
    assert f"  rm {rm}\n  snakemake -j 8 all\n" in out, out


@pytest.mark.parametrize("name", [f"{RUN}/weights.npz", EVAL])
def test_the_printed_commands_rebuild_a_damaged_step_file(study, copy, capsys, name):
    # a run's step files are kept by its run job (htcore.memo), not by Snakemake
    random_bytes(copy / name)
    assert check.main("results") == 1
    rm = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  rm "))
    subprocess.run(rm, shell=True, check=True)
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(copy), "-j", "2",
                    "results/lr_sweep/table.parquet"], check=True, capture_output=True, timeout=600)
    assert check.main("results") == 0
    for table in ("table", "esd"):
        pd.testing.assert_frame_equal(pd.read_parquet(study / f"results/lr_sweep/{table}.parquet"),
                                      pd.read_parquet(copy / f"results/lr_sweep/{table}.parquet"), check_exact=True)


def test_check_command_on_several_damaged_files(copy):
    random_bytes(copy / RUN / "weights.npz")
    truncate(copy / EVAL)
    proc = subprocess.run([sys.executable, "-m", "htcore", "check", "results/"], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("2 damaged")
    assert [ln.split(":")[0].strip() for ln in lines[1:3]] == [EVAL, f"{RUN}/weights.npz"]
    assert lines[-1] == "  snakemake -j 8 all"
