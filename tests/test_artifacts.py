"""Artifacts on disk: written with the umask's mode, read back or refused with a
message naming the file and the remedy, and checked by ``python -m htcore check``
on a tiny study damaged and cut down in several ways: each damaged or missing file
is named, and the commands it prints restore the study to the clean one's tables."""

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
from htcore.data import generate

from helpers import ROOT, smk, write_config

DATA = "results/lr_sweep/data/seed~0.npz"
RUN = "results/lr_sweep/train/optimizer~adam/lr~1000/seed~0"
ESD = "results/lr_sweep/spectrum/optimizer~adam/lr~1000/seed~0/esd.parquet"
TAILS = "results/lr_sweep/tails/init~0/seed~0/tails.parquet"  # the seed's initial run: step 0 of every run
EVAL = "results/lr_sweep/eval/optimizer~adam/lr~0.1/seed~0/eval.parquet"
TABLE = "results/lr_sweep/table.parquet"


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
    assert msg.endswith(f"delete it and run 'snakemake -j 8 {path} && snakemake -j 8 all' to rebuild it "
                        "('python -m htcore check' lists every damaged file)")
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
    names = ("esd", "summary", "update-sv", "overlaps")  # htcore.stages.STAGES["spectrum"].outputs
    outs = [a for name in names for a in (f"--{name}", str(tmp_path / name))]
    with pytest.raises(SystemExit) as e:
        cli.main(["spectrum", "--spec", "{}", "--weights", str(bad), *outs])
    assert str(e.value.code) == f"htcore spectrum: {bad}: damaged or unreadable ({_reason(bad)}); " \
                                f"delete it and run 'snakemake -j 8 {bad} && snakemake -j 8 all' to rebuild it " \
                                "('python -m htcore check' lists every damaged file)"
    assert not any((tmp_path / name).exists() for name in names)


def _reason(path):
    with pytest.raises(io.ArtifactError) as e:
        io.load_npz(path)
    return e.value.reason


# ------------------------------------------------------------ python -m htcore check

@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny study (one seed, adam at a small, a large and a diverging lr), built
    whole (``snakemake all``): the clean study every scenario copies."""
    work = tmp_path_factory.mktemp("study")
    cfg = yaml.safe_load((ROOT / "tests/configs/tiny.yaml").read_text())
    cfg["experiments"]["lr_sweep"].update(grid={"optimizer": ["adam"], "lr": [0.1, 1000.0, 1.0e20]}, seeds=[0])
    write_config(work, cfg)
    smk(work, "-j", "2", "all")
    return work


@pytest.fixture(scope="module")
def artifacts(study):
    """The clean study's files as Snakemake lists them (asked once, for the scenarios
    that only change a file's content)."""
    return check.parse_summary(check.summary(study, ROOT / "Snakefile"))


@pytest.fixture()
def copy(study, tmp_path, monkeypatch):
    work = tmp_path / "copy"
    shutil.copytree(study, work)  # with the files' times and Snakemake's records
    monkeypatch.chdir(work)
    return work


def experiment_tables(work):
    """Every experiment table of a study, and the claims (relative paths)."""
    return sorted(str(p.relative_to(work)) for p in (work / "results").glob("*/*.parquet")) + ["results/claims.parquet"]


def assert_tables_as_clean(study, work):
    assert experiment_tables(work) == experiment_tables(study)
    for name in experiment_tables(study):
        pd.testing.assert_frame_equal(pd.read_parquet(study / name), pd.read_parquet(work / name), check_exact=True)


def printed_commands(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Restore them"))
    return [shlex.split(ln) for ln in lines[start + 1:] if ln.startswith("  ")]


def run_printed(work, commands):
    """Run the printed commands in ``work``: ``snakemake`` as the tests run it (this
    interpreter, the repository's Snakefile, two jobs at a time)."""
    for argv in commands:
        if argv[0] != "snakemake":
            subprocess.run(argv, cwd=work, check=True)
            continue
        args = argv[1:]
        if args[:1] == ["-s"]:
            assert args[1] == str(ROOT / "Snakefile")
            args = args[2:]
        smk(work, *["2" if prev == "-j" else a for prev, a in zip([None, *args], args)])


def random_bytes(path):
    path.write_bytes(np.random.default_rng(1).bytes(path.stat().st_size))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_clean_study_passes(study):
    proc = subprocess.run([sys.executable, "-m", "htcore", "check"], cwd=study, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checked: all present and sound" in proc.stdout.splitlines()[0]
    t = pd.read_parquet(study / TABLE)
    assert t["diverged"].any()  # the NaN of a diverged run is not damage


def test_check_knows_every_file_of_the_study_from_snakemake(study, artifacts):
    on_disk = {str(p.relative_to(study)) for p in (study / "results").rglob("*")
               if p.is_file() and p.relative_to(study / "results").parts[0] not in ("logs", "benchmarks")}
    assert {a.path for a in artifacts} == on_disk
    # each file gets the check of its rule's output (htcore.stages.STAGES names them)
    named = {(a.rule, a.output): os.path.basename(a.path) for a in artifacts}
    assert None not in {o for _, o in named}
    assert {k: v for k, v in named.items() if k != ("data", "out") and k[0] != "figure"} == {
        ("train", "weights"): "weights.npz", ("train", "trace"): "trace.parquet",
        ("spectrum", "esd"): "esd.parquet", ("spectrum", "summary"): "summary.parquet",
        ("spectrum", "update_sv"): "update_sv.parquet", ("spectrum", "overlaps"): "overlaps.parquet",
        ("tails", "table"): "tails.parquet", ("evaluate", "out"): "eval.parquet",
        ("evaluate", "feature_esd"): "feature_esd.parquet", ("collect", "table"): "table.parquet",
        ("collect", "esd_table"): "esd.parquet", ("claims", "out"): "claims.parquet",
        ("claims", "html"): "claims.html"}
    assert named["data", "out"] == "seed~0.npz"
    assert named["figure", "png"].endswith(".png") and named["figure", "pdf"].endswith(".pdf")
    assert all((r, o) in check.CHECKS for r, o in named)


KINDS = {"data": DATA, "weights": f"{RUN}/weights.npz", "spectrum esd": ESD, "tails": TAILS, "eval": EVAL,
         "experiment table": TABLE}


#: A deleted file is Snakemake's to rebuild (check only names it): two kinds, the first
#: file of the study and one in the middle, show the printed commands do that; every
#: kind is damaged, which check alone detects.
RESTORE = [(kind, "damaged") for kind in KINDS] + [("data", "deleted"), ("weights", "deleted")]


@pytest.mark.slow
@pytest.mark.parametrize("kind, how", RESTORE)
def test_the_printed_commands_restore_the_study(study, artifacts, copy, capsys, kind, how):
    """Damage or delete one file, run the commands check prints, and get the clean
    study back. (The first check reuses the clean study's list of files from Snakemake,
    which deleting or damaging one file does not change, to save a Snakemake run per
    case; the CLI test below asks Snakemake; the last check here does too.)"""
    name = KINDS[kind]
    if how == "deleted":
        (copy / name).unlink()
    else:
        (random_bytes if kind in ("data", "spectrum esd", "experiment table") else truncate)(copy / name)
    assert check.print_report(check.check("results", artifacts)) == 1
    out = capsys.readouterr().out
    listed = [ln for ln in out.splitlines() if ln.startswith("  results/")]
    assert len(listed) == 1, out
    assert listed[0].startswith(f"  {name}: damaged (") if how == "damaged" else listed[0] == f"  {name}: missing"
    commands = printed_commands(out)
    # never a good file deleted: only the damaged one
    assert [c for c in commands if c[0] == "rm"] == ([["rm", "-f", name]] if how == "damaged" else [])
    assert commands[-1][-3:] == ["-j", "8", "all"]
    assert name in commands[-2]  # named: Snakemake rebuilds it even though what is made from it exists

    run_printed(copy, commands)
    assert (copy / name).exists()
    assert check.main("results") == 0, capsys.readouterr().out
    assert_tables_as_clean(study, copy)


def npz_edit(edit):
    def damage(path):
        z = dict(io.load_npz(path))
        edit(z)
        io.save_npz(path, z)
    return damage


def table_edit(edit):
    """A stray edit of a table that keeps its metadata (the writing job's spec)."""
    def damage(path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        new = pa.Table.from_pandas(edit(t.to_pandas()), preserve_index=False)
        pq.write_table(new.replace_schema_metadata(t.schema.metadata), path)
    return damage


def nan_at(name, index):
    def edit(z):
        z[name] = z[name].astype(float)
        z[name][index] = np.nan
    return edit


def set_column(column, value):
    def edit(t):
        t[column] = value
        return t
    return edit


DAMAGE = {
    "weights: random bytes": (f"{RUN}/weights.npz", random_bytes, "not an .npz (zip) archive"),
    "weights: truncated": (f"{RUN}/weights.npz", truncate, "BadZipFile"),
    "weights: W of the wrong shape": (f"{RUN}/weights.npz", npz_edit(lambda z: z.update(W=z["W"][:, :, :7])),
                                      "W snapshots are (30, 7), its data's W0 (30, 20)"),
    "weights: one probe step short": (f"{RUN}/weights.npz", npz_edit(lambda z: z.update(W=z["W"][:1])),
                                      "W has shape (1, 30, 20), expected (2, h, d) for 2 probe steps"),
    "weights: NaN before divergence": (f"{RUN}/weights.npz", npz_edit(nan_at("W", (0, 0, 0))),
                                       "non-finite weights before the run diverged"),
    "data: NaN": (DATA, npz_edit(nan_at("X", (0, 0))), "non-finite values in X"),
    "data: array missing": (DATA, npz_edit(lambda z: z.pop("W0")), "no array W0"),
    "data: teacher missing": (DATA, npz_edit(lambda z: z.pop("beta")), "no array beta or B (the teacher)"),
    "data: y of another length": (DATA, npz_edit(lambda z: z.update(y=z["y"][:-1])),
                                  "y has shape (59,), expected (60,)"),
    "trace: column missing": (f"{RUN}/trace.parquet", table_edit(lambda t: t.drop(columns="student_loss")),
                              "no column student_loss"),
    "esd: NaN before divergence": (ESD, table_edit(set_column("eigenvalue", np.nan)),
                                   "non-finite eigenvalue before the run diverged"),
    "esd: a snapshot short": (ESD, table_edit(lambda t: t.iloc[1:]), "19 rows, expected 20 (1 probe steps x 20)"),
    "tails: a label no writer gives": (TAILS, table_edit(set_column("shape_label", "banana")),
                                       "shape_label banana is none of htcore.shape.LABELS"),
    "tails: a step its ESD lacks": (TAILS, table_edit(set_column("step", 7)), "steps [7] differ from its ESD's [0]"),
    # probes 0 and 3; step 0 is the seed's initial run's, so the run's own table has step 3 only
    "eval: a row written twice": (EVAL, table_edit(lambda t: pd.concat([t, t])), "2 rows, expected 1"),
    "eval: truncated": (EVAL, truncate, "ArrowInvalid"),
    "table: rows duplicated": (TABLE, table_edit(lambda t: pd.concat([t, t.iloc[:1]])),
                               "3 rows of optimizer~adam/lr~0.1/seed~0, its table"),
    "table: column missing": (TABLE, table_edit(lambda t: t.drop(columns="test_loss")), "no column test_loss"),
    "figure: cut short": ("results/lr_sweep/figures/losses.png", truncate, "not a whole PNG image"),
    "claims: a verdict no claim gives": ("results/claims.parquet", table_edit(set_column("verdict", "maybe")),
                                         "verdict maybe is none of htcore.claims.VERDICTS"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_check_names_a_damaged_artifact_and_why(copy, artifacts, case):
    name, damage, why = DAMAGE[case]
    damage(copy / name)
    report = check.check("results", artifacts)
    assert list(report.damaged) == [name] and not report.missing, report.damaged
    assert why in report.damaged[name]
    assert report.commands() == [f"rm -f {shlex.quote(name)}",
                                 f"snakemake -s {ROOT / 'Snakefile'} -j 8 {shlex.quote(name)}",
                                 f"snakemake -s {ROOT / 'Snakefile'} -j 8 all"]


@pytest.mark.parametrize("k", [1, 3])
def test_a_healthy_data_file_passes_with_one_or_more_teacher_directions(tmp_path, k):
    teacher = {"kind": "multi_index", "k": k, "link": "softplus"}
    z = generate(0, 20, 30, 60, None, 0.3, teacher)
    assert ("B" in z) == (k > 1)  # htcore.data: B (d, k) for k > 1, no beta then
    io.save_npz(tmp_path / "seed~0.npz", z)
    assert check.check_file(tmp_path / "seed~0.npz", "data", "out") is None
    if k > 1:
        io.save_npz(tmp_path / "bad.npz", {**z, "B": z["B"] * 2})
        assert check.check_file(tmp_path / "bad.npz", "data", "out") == "the teacher's directions are not orthonormal"
        io.save_npz(tmp_path / "both.npz", {**z, "beta": z["B"][:, 0]})
        assert check.check_file(tmp_path / "both.npz", "data", "out") == "both beta and B"


def test_check_command_on_damaged_and_missing_files(copy):
    random_bytes(copy / RUN / "weights.npz")
    (copy / TAILS).unlink()
    proc = subprocess.run([sys.executable, "-m", "htcore", "check", "results/"], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("checked: 1 damaged, 1 missing")
    assert lines[1:3] == [f"  {TAILS}: missing", f"  {RUN}/weights.npz: damaged (not an .npz (zip) archive: "
                          + lines[2].split("archive: ", 1)[1]]
    smk_ = f"snakemake -s {ROOT / 'Snakefile'} -j 8"
    assert lines[-3:] == [f"  rm -f {shlex.quote(RUN + '/weights.npz')}",
                          f"  {smk_} {shlex.quote(TAILS)} {shlex.quote(RUN + '/weights.npz')}",
                          f"  {smk_} all"]


def test_check_from_elsewhere_says_where_to_run_the_commands(copy, tmp_path, monkeypatch, artifacts, capsys):
    (copy / EVAL).unlink()
    monkeypatch.chdir(tmp_path)
    assert check.print_report(check.check(copy / "results", artifacts)) == 1
    out = capsys.readouterr().out
    assert f" in {copy}" in out.splitlines()[0]
    assert printed_commands(out)[0] == ["cd", str(copy)]


def test_a_study_never_run_is_all_missing_and_left_to_snakemake_all(study, tmp_path, capsys):
    shutil.copy(study / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "results").mkdir()
    report = check.check(tmp_path / "results")
    assert not report.damaged and len(report.missing) == len(report.artifacts) > 20
    assert report.commands() == [f"snakemake -s {ROOT / 'Snakefile'} -j 8 all"]


def test_a_study_snakemake_cannot_read_exits_2(tmp_path, capsys):
    (tmp_path / "results").mkdir()  # no config.yaml
    assert check.main(str(tmp_path / "results")) == 2
    assert "'snakemake --detailed-summary' failed" in capsys.readouterr().err
    assert check.main(str(tmp_path / "nowhere")) == 2
