"""What each file holds is declared once, beside its writer (htcore.io.Schema), and
``htcore check`` checks the files against those same declarations (check.SCHEMAS).
Every stage is run here on tiny inputs (two runs: a one- and a three-direction
teacher) and each file it writes is compared with its declaration: the names in
order, the teacher that is one of two, and the dtypes the declaration fixes. A writer
that writes anything else fails its own write (Schema.ordered / Schema.frame) or
this comparison; a check that asks for a column no writer declares fails here too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from htcore import check, collect, data, stages
from htcore.io import Schema, load_npz, read_table
from htcore.params import DEFAULTS

#: The tiny runs: the teacher's directions k -> their ids.
RUNS = {1: "k~1/seed~0", 3: "k~3/seed~0"}
#: The per-run files, by (rule, output name): the file name each run writes.
PER_RUN = {("data", "out"): "data.npz", ("train", "weights"): "weights.npz", ("train", "trace"): "trace.parquet",
           ("spectrum", "esd"): "esd.parquet", ("spectrum", "summary"): "summary.parquet",
           ("spectrum", "update_sv"): "update_sv.parquet", ("spectrum", "overlaps"): "overlaps.parquet",
           ("tails", "table"): "tails.parquet", ("evaluate", "out"): "eval.parquet",
           ("evaluate", "feature_esd"): "feature_esd.parquet", ("surgery", "out"): "surgery.parquet"}


def params(k: int) -> dict:
    """Every parameter of a tiny run (d 20, h 30, n 60, Adam at lr 1, probes 0, 1, 3)."""
    p = dict(DEFAULTS, d=20, h=30, n=60, n_test=20, steps=3, probe_steps=[0, 1, 3], batch_size=60,
             optimizer="adam", lr=1.0, reg_lambda=0.01)
    if k > 1:
        p.update(teacher_kind="multi_index", teacher_k=k)
    return p


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every per-run file of the two runs: {k: {(rule, output): path}}."""
    out = {}
    for k, run in RUNS.items():
        d = tmp_path_factory.mktemp(f"k{k}")
        f = {key: str(d / name) for key, name in PER_RUN.items()}
        p = params(k)
        keys = {"experiment": "x", "seed": 0, "train_id": run, "eval_id": run, "params": p}
        stages.data({"seed": 0, "params": p}, f["data", "out"])
        stages.train({**keys, "device": "cpu"}, f["data", "out"], f["train", "weights"], f["train", "trace"])
        stages.spectrum({**keys, "skip_steps": [], "updates_top_k": 3}, f["train", "weights"],
                        *(f["spectrum", o] for o in ("esd", "summary", "update_sv", "overlaps")))
        stages.tails({**keys, "h": 30, "d": 20, "tails": {"min_tail": 5, "bootstrap": False, "n_boot": 20}},
                     f["spectrum", "esd"], f["tails", "table"])
        stages.evaluate({**keys, "skip_steps": [], "features": True}, f["data", "out"], f["train", "weights"],
                        f["evaluate", "out"], f["evaluate", "feature_esd"])
        stages.surgery(keys, f["data", "out"], f["train", "weights"], f["surgery", "out"])
        out[k] = f
    return out


def follows(path: str, schema: Schema) -> None:
    """The file at ``path`` holds exactly the declared names, in order, with the
    declared dtypes (one of ``one_of`` first)."""
    if path.endswith(".npz"):
        values = load_npz(path)
    else:
        values = read_table(path)
        assert pq.ParquetFile(path).schema_arrow.names == list(values)
    assert list(values) == [n for n in schema.one_of if n in values] + list(schema.names)
    for name, dtype in schema.dtypes.items():
        if name in values:
            got, want = values[name].dtype, np.dtype(dtype)
            assert got == want or (want.kind == "U" and got.kind in "UO"), f"{name}: {got}, declared {want}"


@pytest.mark.parametrize("k", list(RUNS))
@pytest.mark.parametrize("key", list(PER_RUN))
def test_each_file_a_stage_writes_follows_its_declaration(written, key, k):
    declared = stages.eval_schema(k) if key == ("evaluate", "out") else check.SCHEMAS[key]
    follows(written[k][key], declared)
    if written[k][key].endswith(".parquet"):
        assert len(read_table(written[k][key])["step"]) > 0  # columns of values, not empty ones


def test_the_data_file_holds_one_teacher(written):
    assert "beta" in load_npz(written[1]["data", "out"]) and "B" in load_npz(written[3]["data", "out"])
    assert data.DATA_FILE.one_of == ("beta", "B")


def test_the_experiment_tables_follow_their_declarations(written):
    """collect's tables from the two runs (no shared step 0): the experiment table's
    columns are its declaration's (every parameter, the metrics of k = 3), and the
    long tables hold their per-run declaration's columns in order."""
    runs = [{"eval_id": run, "train_id": run, "seed": 0, "init_eval_id": None, "init_train_id": None,
             "params": params(k)} for k, run in RUNS.items()]
    files = {key: [written[k][key] for k in RUNS] for key in PER_RUN}
    table = collect.table(runs, files["evaluate", "out"], files["spectrum", "summary"], files["tails", "table"],
                          files["train", "trace"])
    declared = collect.table_schema(sorted(DEFAULTS), k=3)
    assert sorted(table.columns) == sorted(declared.names) and len(set(table.columns)) == len(table.columns)
    assert set(check.SCHEMAS["collect", "table"].names) <= set(table.columns)
    assert len(table) == 2 * 3
    for frame, schema in ((collect.esd(runs, files["spectrum", "esd"]), stages.ESD),
                          (collect.feature_esd(runs, files["evaluate", "feature_esd"]), stages.FEATURE_ESD),
                          (collect.concat(files["spectrum", "update_sv"]), stages.UPDATE_SV),
                          (collect.concat(files["spectrum", "overlaps"]), stages.OVERLAPS),
                          (collect.concat(files["surgery", "out"]), stages.SURGERY)):
        assert list(frame.columns) == list(schema.names) and len(frame) > 0
        assert schema.frame(frame) is frame


@pytest.mark.parametrize("key", list(PER_RUN))
def test_check_asks_for_each_declared_column_and_array(written, key, tmp_path):
    """A sound file passes check; without any one declared column or array it is
    damaged, and check names it."""
    import pyarrow as pa

    path = written[3][key]
    assert check.check_file(path, *key) is None
    name = check.SCHEMAS[key].names[-1]
    bad = tmp_path / path.rsplit("/", 1)[1]
    if path.endswith(".npz"):
        np.savez(bad, **{n: v for n, v in load_npz(path).items() if n != name})
        assert check.check_file(bad, *key) == f"no array {name}"
    else:
        t = pq.read_table(path)
        pq.write_table(pa.Table.from_arrays([t.column(c) for c in t.column_names if c != name],
                                            names=[c for c in t.column_names if c != name],
                                            metadata=t.schema.metadata), bad)
        assert check.check_file(bad, *key) == f"no column {name}"


def test_every_table_and_npz_check_knows_has_a_declaration():
    files = {key for key in check.CHECKS if key[0] not in ("figure",) and key != ("claims", "html")}
    assert files == set(check.SCHEMAS)


def test_a_writer_cannot_write_other_columns_than_declared():
    s = Schema(("a", "b"), {"a": np.int64}) + ("c",)
    assert list(s.ordered({"c": [1], "b": [2], "a": np.array([3])})) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="missing c"):
        s.ordered({"a": np.array([1]), "b": [2]})
    with pytest.raises(ValueError, match="not declared d"):
        s.ordered({"a": np.array([1]), "b": [2], "c": [3], "d": [4]})
    with pytest.raises(ValueError, match="a is float64, declared int64"):
        s.ordered({"a": np.array([1.0]), "b": [2], "c": [3]})
    teacher = Schema(("X",), one_of=("beta", "B"))
    assert list(teacher.ordered({"X": 1, "B": 2})) == ["B", "X"]
    with pytest.raises(ValueError, match="exactly one of beta, B"):
        teacher.ordered({"X": 1, "B": 2, "beta": 3})
    frame = pd.DataFrame({"c": [1], "a": [2], "b": [3]})
    assert list(s.frame(frame).columns) == ["a", "b", "c"] and s.frame(frame, keep_order=True) is frame
    with pytest.raises(ValueError, match="missing c"):
        s.frame(frame[["a", "b"]])
