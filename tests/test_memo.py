"""htcore.memo: a step of a run is skipped only when its files are there, unchanged,
for the same key; anything else recomputes it."""

from __future__ import annotations

import json

import pytest

from htcore import memo


@pytest.fixture()
def outputs(tmp_path):
    return {"a": str(tmp_path / "step" / "a.txt"), "b": str(tmp_path / "step" / "b.txt")}


def writer(outputs, calls, text="x"):
    def compute():
        calls.append(1)
        for p in outputs.values():
            with open(p, "w") as f:
                f.write(text)
    return compute


def test_a_step_computes_once_per_key(outputs):
    calls = []
    assert memo.step("s", "k1", outputs, writer(outputs, calls)) is True
    assert memo.step("s", "k1", outputs, writer(outputs, calls)) is False
    assert len(calls) == 1
    assert memo.step("s", "k2", outputs, writer(outputs, calls)) is True  # a new key recomputes
    assert memo.step("s", "k2", outputs, writer(outputs, calls)) is False
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["edit", "delete", "stamp"])
def test_a_changed_or_missing_file_is_recomputed(outputs, damage):
    calls = []
    memo.step("s", "k", outputs, writer(outputs, calls))
    stamp = memo._stamp(outputs)
    if damage == "edit":  # same size, other bytes
        with open(outputs["b"], "w") as f:
            f.write("y")
    elif damage == "delete":
        import os

        os.remove(outputs["a"])
    else:
        stamp.write_text("{not json")
    assert memo.is_done("k", outputs) is False
    assert memo.step("s", "k", outputs, writer(outputs, calls)) is True and len(calls) == 2
    assert json.loads(stamp.read_text())["key"] == "k"


def test_a_failing_step_leaves_no_stamp(outputs):
    calls = []
    memo.step("s", "k", outputs, writer(outputs, calls))

    def fails():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        memo.step("s", "k2", outputs, fails)
    assert not memo._stamp(outputs).exists()  # the old stamp is gone: nothing reused next time
    assert memo.is_done("k", outputs) is False


def test_recompute_ignores_every_stamp(outputs, monkeypatch):
    calls = []
    memo.step("s", "k", outputs, writer(outputs, calls))
    monkeypatch.setenv("HTCORE_RECOMPUTE", "1")
    assert memo.step("s", "k", outputs, writer(outputs, calls)) is True and len(calls) == 2


def test_keys_follow_every_part():
    assert memo.key("train", {"lr": 1.0}, "code") == memo.key("train", {"lr": 1.0}, "code")
    assert memo.key("train", {"lr": 1.0}, "code") != memo.key("train", {"lr": 1.5}, "code")
    assert memo.key("train", {"lr": 1.0}, "code") != memo.key("train", {"lr": 1.0}, "code2")


def test_a_steps_files_share_one_directory(tmp_path):
    with pytest.raises(ValueError, match="one directory"):
        memo.step("s", "k", {"a": str(tmp_path / "x" / "a"), "b": str(tmp_path / "y" / "b")}, lambda: None)
