"""Per-function code fingerprints (htcore.fingerprint): what they follow, what they
ignore, and registries restricted to the keys a run uses.

Each test edits a copy of the code (a small synthetic package ``pkg`` written here, or
a copy of htcore/) and compares fingerprints before and after."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from htcore import fingerprint as fp

from helpers import ROOT

PKG = {
    "__init__.py": "",
    "util.py": '''
        """Helpers two modules away from training."""
        FACTOR = 2


        def two_away(x):
            """Scale by FACTOR."""
            return x * FACTOR


        def unused():
            return 0
        ''',
    "helpers.py": '''
        from pkg.util import two_away


        def helper(x):
            return two_away(x) + 1
        ''',
    "rel.py": '''
        from .util import FACTOR


        def f():
            return FACTOR
        ''',
    "models.py": '''
        """Registries."""
        import numpy as np

        SCALE = 3.0
        OPTS = ("gd", "adam")
        ODD = frozenset({"tanh"})


        def _relu(u):
            return np.maximum(u, 0.0)


        def _relu_prime(u):
            return (u > 0) * 1.0


        def _tanh_prime(u):
            return 1.0 - np.tanh(u) ** 2


        ACTS = {"tanh": np.tanh, "relu": _relu}
        DERIVS: dict = {"tanh": _tanh_prime, "relu": _relu_prime}


        def check_act(name):
            """``name`` if known."""
            if name not in ACTS:
                raise ValueError(f"unknown {name!r} (one of {', '.join(ACTS)})")
            return name


        def act_names():
            return sorted(ACTS)


        class Model:
            def __init__(self, act):
                self.act = ACTS[check_act(act)]

            def forward(self, x):
                return self.act(x) * SCALE
        ''',
    "data.py": '''
        from pkg.models import SCALE  # noqa: F401  (re-exported)


        def rng(seed):
            return seed + 1


        def test_set(seed):
            return rng(seed) * 10
        ''',
    "train.py": '''
        """Training."""
        import pkg.helpers as h
        from pkg import models
        from pkg.data import rng as _rng


        def train(p, seed):
            """Train one run."""
            m = models.Model(p["act"])
            d = models.DERIVS[p["act"]]
            if p["opt"] not in models.OPTS:
                raise ValueError(p["opt"])
            return m.forward(h.helper(_rng(seed))) + d(1.0)


        def local_user():
            from pkg import util as u

            return u.two_away(1)


        def odd_user(p):
            return p["act"] in models.ODD


        def relu_user():
            return models.ACTS["relu"](1.0)


        def lister():
            return models.act_names()
        ''',
    "evaluate.py": '''
        from pkg import data as data_mod
        from pkg import models
        from pkg.data import SCALE


        def train():
            return 5


        def evaluate(p, seed, train):
            xs = data_mod.test_set(seed)
            return models.ACTS[p["act"]](xs) * SCALE + train


        def nested(x):
            def inner():
                train = 1
                return train

            return inner() + train()
        ''',
}

TANH = {"pkg.models.ACTS": {"tanh"}, "pkg.models.DERIVS": {"tanh"}, "pkg.models.OPTS": {"gd"}}


@pytest.fixture()
def pkg(tmp_path):
    root = tmp_path / "pkg"
    root.mkdir()
    for name, text in PKG.items():
        (root / name).write_text(textwrap.dedent(text).lstrip())
    fp.clear_caches()
    yield root
    fp.clear_caches()


@pytest.fixture()
def real(tmp_path):
    """A copy of htcore/ to edit."""
    root = tmp_path / "htcore"
    shutil.copytree(ROOT / "htcore", root, ignore=shutil.ignore_patterns("__pycache__"))
    fp.clear_caches()
    yield root
    fp.clear_caches()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    fp.clear_caches()


def prints(root: Path, names, only_keys=None) -> dict[str, str]:
    pre = root.name
    return {n: fp.fingerprint(f"{pre}.{n}", only_keys, root=root) for n in names}


# ------------------------------------------------------------ (1) formatting

def test_docstrings_comments_and_formatting_change_nothing(pkg):
    names = ("train.train", "train.local_user", "evaluate.evaluate", "models.Model")
    before = prints(pkg, names)
    edit(pkg / "train.py", '"""Train one run."""', '"""Train one run, reworded."""\n    # a comment')
    edit(pkg / "train.py", "return m.forward(h.helper(_rng(seed))) + d(1.0)",
         "return (m.forward(h.helper(_rng(seed)))  # trailing comment\n            + d(1.0))")
    edit(pkg / "models.py", '"""``name`` if known."""', '"""The name, if it is known."""')
    edit(pkg / "models.py", "    def forward(self, x):", '    def forward(self, x):\n        """New docstring."""')
    edit(pkg / "util.py", '"""Scale by FACTOR."""', "# just a comment")
    edit(pkg / "util.py", "FACTOR = 2", "FACTOR = 2  # why two")
    assert prints(pkg, names) == before
    edit(pkg / "train.py", "+ d(1.0))", "- d(1.0))")  # the same spot, as code: it counts
    after = prints(pkg, names)
    assert after["train.train"] != before["train.train"]
    assert {n: after[n] for n in names[1:]} == {n: before[n] for n in names[1:]}


def test_docstrings_and_comments_change_nothing_in_htcore(real):
    names = ("stages.train", "stages.evaluate", "stages.spectrum", "evaluate.evaluate_snapshot")
    before = prints(real, names)
    edit(real / "train.py", '"""Training the two-layer student', '"""Training (reworded) the two-layer student')
    edit(real / "models.py", "#: sigma' by name, written by hand (NumPy).", "#: sigma', by hand")
    edit(real / "data.py", '"""The generator of one named random stream of ``seed``."""',
         '"""One named random stream."""')
    edit(real / "evaluate.py", "    B = teacher_matrix(data)\n", "    B = teacher_matrix(data)  # (d, k)\n")
    assert prints(real, names) == before


def test_cache_is_kept_until_cleared(pkg):
    before = fp.fingerprint("pkg.util.two_away", root=pkg)
    path = pkg / "util.py"
    path.write_text(path.read_text().replace("FACTOR = 2", "FACTOR = 7"))
    assert fp.fingerprint("pkg.util.two_away", root=pkg) == before  # parsed once per process
    fp.clear_caches()
    assert fp.fingerprint("pkg.util.two_away", root=pkg) != before


# -------------------------------------------------- (2), (3) what a change reaches

def test_a_helper_two_modules_away_reaches_train_not_evaluate(pkg):
    before = prints(pkg, ("train.train", "evaluate.evaluate", "data.test_set"))
    edit(pkg / "util.py", "FACTOR = 2", "FACTOR = 3")  # train -> helpers.helper -> util.two_away -> FACTOR
    after = prints(pkg, ("train.train", "evaluate.evaluate", "data.test_set"))
    assert after["train.train"] != before["train.train"]
    assert after["evaluate.evaluate"] == before["evaluate.evaluate"]
    assert after["data.test_set"] == before["data.test_set"]


def test_a_method_of_a_class_constructed_by_name_counts(pkg):
    before = prints(pkg, ("train.train", "train.local_user"))
    edit(pkg / "models.py", "return self.act(x) * SCALE", "return self.act(x) / SCALE")
    after = prints(pkg, ("train.train", "train.local_user"))
    assert after["train.train"] != before["train.train"]
    assert after["train.local_user"] == before["train.local_user"]


def test_evaluation_only_code_does_not_reach_train(pkg):
    before = prints(pkg, ("train.train", "evaluate.evaluate"))
    edit(pkg / "data.py", "return rng(seed) * 10", "return rng(seed) * 20")
    after = prints(pkg, ("train.train", "evaluate.evaluate"))
    assert after["train.train"] == before["train.train"]
    assert after["evaluate.evaluate"] != before["evaluate.evaluate"]
    edit(pkg / "data.py", "return seed + 1", "return seed + 2")  # rng: used by both
    again = prints(pkg, ("train.train", "evaluate.evaluate"))
    assert again["train.train"] != after["train.train"] and again["evaluate.evaluate"] != after["evaluate.evaluate"]


def test_htcore_edits_reach_exactly_the_stages_that_run_them(real):
    names = ("stages.train", "stages.evaluate", "stages.spectrum", "stages.data")
    before = prints(real, names)
    # used only by the evaluation: the test set, the features
    edit(real / "data.py", 'X, y = labelled_set(seed, "_test", n_test, d,',
         'X, y = labelled_set(seed, "_test", int(n_test), d,')
    edit(real / "evaluate.py", "    s = math.sqrt(d) if scaling == \"spec\" else float(d)",
         "    s = math.sqrt(d) if scaling != \"authors\" else float(d)")
    after = prints(real, names)
    assert after["stages.evaluate"] != before["stages.evaluate"]
    assert {n: after[n] for n in names if n != "stages.evaluate"} == \
        {n: before[n] for n in names if n != "stages.evaluate"}
    # training only: the learning-rate schedule
    edit(real / "train.py", 'if p["lr_schedule"] == "step":', 'if p["lr_schedule"] in ("step",):')
    again = prints(real, names)
    assert again["stages.train"] != after["stages.train"]
    assert {n: again[n] for n in names if n != "stages.train"} == \
        {n: after[n] for n in names if n != "stages.train"}


# ----------------------------------------------------------- (4) registries

def test_adding_a_registry_entry_keeps_fingerprints_restricted_to_other_keys(pkg):
    restricted, whole = fp.fingerprint("pkg.train.train", TANH, root=pkg), fp.fingerprint("pkg.train.train", root=pkg)
    edit(pkg / "models.py", '"relu": _relu}', '"relu": _relu, "sine": np.sin}')
    edit(pkg / "models.py", '"relu": _relu_prime}', '"relu": _relu_prime, "sine": np.cos}')
    edit(pkg / "models.py", 'OPTS = ("gd", "adam")', 'OPTS = ("gd", "adam", "sign_gd")')
    assert fp.fingerprint("pkg.train.train", TANH, root=pkg) == restricted
    assert fp.fingerprint("pkg.train.train", root=pkg) != whole  # hashed whole: every entry counts


def test_editing_the_entry_a_run_uses_changes_its_fingerprint(pkg):
    relu = {"pkg.models.ACTS": {"relu"}, "pkg.models.DERIVS": {"relu"}, "pkg.models.OPTS": {"gd"}}
    t0, r0 = fp.fingerprint("pkg.train.train", TANH, root=pkg), fp.fingerprint("pkg.train.train", relu, root=pkg)
    edit(pkg / "models.py", "return (u > 0) * 1.0", "return (u >= 0) * 1.0")  # DERIVS["relu"]'s function
    t1, r1 = fp.fingerprint("pkg.train.train", TANH, root=pkg), fp.fingerprint("pkg.train.train", relu, root=pkg)
    assert t1 == t0 and r1 != r0
    edit(pkg / "models.py", '{"tanh": np.tanh,', '{"tanh": np.sin,')  # the tanh entry itself
    assert fp.fingerprint("pkg.train.train", TANH, root=pkg) != t1
    assert fp.fingerprint("pkg.train.train", relu, root=pkg) == r1


def test_restricted_registries_follow_only_the_chosen_entries(pkg):
    got = fp.explain("pkg.train.train", TANH, root=pkg)
    assert {"pkg.models.ACTS[tanh]", "pkg.models.DERIVS[tanh]", "pkg.models.OPTS[gd]",
            "pkg.models._tanh_prime", "pkg.models.check_act", "pkg.models.Model", "pkg.models.SCALE"} <= set(got)
    assert not {"pkg.models._relu", "pkg.models._relu_prime", "pkg.models.ACTS"} & set(got)
    whole = fp.explain("pkg.train.train", root=pkg)
    assert {"pkg.models.ACTS", "pkg.models._relu", "pkg.models._relu_prime"} <= set(whole)


def test_a_registry_used_as_a_whole_is_hashed_whole_even_with_keys(pkg):
    before = fp.fingerprint("pkg.train.lister", TANH, root=pkg)
    assert "pkg.models.ACTS" in fp.explain("pkg.train.lister", TANH, root=pkg)  # sorted(ACTS): all keys
    edit(pkg / "models.py", '"relu": _relu}', '"relu": _relu, "sine": np.sin}')
    assert fp.fingerprint("pkg.train.lister", TANH, root=pkg) != before


def test_a_constant_key_is_always_included(pkg):
    got = fp.explain("pkg.train.relu_user", TANH, root=pkg)
    assert "pkg.models.ACTS[relu,tanh]" in got and "pkg.models._relu" in got


def test_a_name_registry_restricted_to_a_key_tracks_its_membership(pkg):
    keys = {"pkg.models.ODD": {"relu"}}
    before = fp.fingerprint("pkg.train.odd_user", keys, root=pkg)
    edit(pkg / "models.py", 'ODD = frozenset({"tanh"})', 'ODD = frozenset({"tanh", "erf"})')
    assert fp.fingerprint("pkg.train.odd_user", keys, root=pkg) == before  # relu still not odd
    edit(pkg / "models.py", '"tanh", "erf"})', '"tanh", "erf", "relu"})')
    assert fp.fingerprint("pkg.train.odd_user", keys, root=pkg) != before  # now it is: the answer changed


def test_only_keys_are_checked(pkg):
    with pytest.raises(ValueError, match="not in pkg.models.ACTS"):
        fp.fingerprint("pkg.train.train", {"pkg.models.ACTS": {"sigmoid"}}, root=pkg)
    with pytest.raises(ValueError, match="not a registry"):
        fp.fingerprint("pkg.train.train", {"pkg.models.SCALE": {"x"}}, root=pkg)
    with pytest.raises(ValueError, match="not a top-level definition"):
        fp.fingerprint("pkg.train.nope", root=pkg)


def test_keys_for_reads_the_registries_parameters():
    keys = fp.keys_for({"activation": "relu", "teacher_link": "he2", "optimizer": "adam", "lr": 0.1})
    assert keys["htcore.models.ACTIVATIONS"] == {"relu"} and keys["htcore.models.ODD_ACTIVATIONS"] == {"relu"}
    assert keys["htcore.models.LINKS"] == {"he2"} and keys["htcore.models.OPTIMIZERS"] == {"adam"}
    assert "htcore.models.TEACHER_KINDS" not in keys  # not given: hashed whole


def test_adding_an_activation_and_a_link_to_htcore_retrains_nothing(real):
    params = {"activation": "tanh", "teacher_link": "softplus", "teacher_kind": "single_index",
              "optimizer": "adam"}
    keys = fp.keys_for(params)
    names = ("stages.train", "stages.evaluate", "stages.data", "evaluate.evaluate_snapshot")
    before, whole = prints(real, names, keys), prints(real, names)
    models = real / "models.py"
    edit(models, '"tanh": np.tanh, "relu": _np_relu, "erf": _erf, "gelu": _np_gelu,',
         '"tanh": np.tanh, "relu": _np_relu, "erf": _erf, "gelu": _np_gelu, "sine": np.sin,')
    edit(models, '"gelu": _np_gelu_prime,', '"gelu": _np_gelu_prime, "sine": _np_sine_prime,')
    edit(models, "def _np_tanh_prime(u):", "def _np_sine_prime(u):\n    return np.cos(u)\n\n\ndef _np_tanh_prime(u):")
    edit(models, '"tanh": np.tanh, "he2": he2,', '"tanh": np.tanh, "he2": he2, "he3": he3,')
    edit(models, "def he2(z", "def he3(z: np.ndarray) -> np.ndarray:\n    return z ** 3 - 3 * z\n\n\ndef he2(z")
    # the training's torch version of the new activation
    edit(real / "train.py", 'TORCH_ACTIVATIONS = {"tanh": _torch_tanh,', 'TORCH_ACTIVATIONS = {"sine": _torch_sine, "tanh": _torch_tanh,')
    edit(real / "train.py", "def _torch_relu(torch):", "def _torch_sine(torch):\n    return torch.sin, torch.cos\n\n\ndef _torch_relu(torch):")
    assert prints(real, names, keys) == before
    after_whole = prints(real, names)
    assert after_whole["stages.train"] != whole["stages.train"]
    assert after_whole["stages.evaluate"] != whole["stages.evaluate"]
    # the entries the run uses still count: tanh's sigma' (train), softplus (data, evaluation)
    edit(models, "    t = np.tanh(u)\n    return 1.0 - t * t", "    t = np.tanh(u)\n    return 1 - t * t")
    edit(models, "return np.logaddexp(0.0, z)", "return np.logaddexp(0, z)")
    after = prints(real, names, keys)
    assert all(after[n] != before[n] for n in names)
    assert fp.fingerprint("htcore.stages.spectrum", keys, root=real) == fp.fingerprint("htcore.stages.spectrum",
                                                                                      root=real)


def test_import_time_statements_join_their_modules_definitions(pkg):
    before = fp.fingerprint("pkg.util.two_away", root=pkg)
    edit(pkg / "util.py", "FACTOR = 2", 'FACTOR = 2\nif __name__ == "__main__":\n    print(FACTOR)')
    assert fp.fingerprint("pkg.util.two_away", root=pkg) == before  # never runs on import
    edit(pkg / "util.py", "FACTOR = 2\n", "FACTOR = 2\nprint(FACTOR)\n")
    assert fp.fingerprint("pkg.util.two_away", root=pkg) != before
    assert "pkg.util.<module>" in fp.explain("pkg.util.two_away", root=pkg)
    assert "pkg.util.<module>" in fp.explain("pkg.rel.f", root=pkg)  # uses util.FACTOR: util is imported
    assert not [x for x in fp.explain("pkg.data.test_set", root=pkg) if x.startswith("pkg.util.")]


# -------------------------------------------- (5) how references are followed

def test_attribute_access_local_imports_and_aliases_are_followed(pkg):
    assert fp.explain("pkg.train.local_user", root=pkg) == [
        "pkg.train.local_user", "pkg.util.FACTOR", "pkg.util.two_away"]  # `from pkg import util as u` in the body
    got = set(fp.explain("pkg.train.train", root=pkg))
    # import pkg.helpers as h; h.helper -> from pkg.util import two_away; from pkg.data import rng as _rng
    assert {"pkg.helpers.helper", "pkg.util.two_away", "pkg.util.FACTOR", "pkg.data.rng", "pkg.models.Model"} <= got
    assert not {"pkg.util.unused", "pkg.data.test_set", "pkg.models.act_names"} & got
    assert fp.explain("pkg.rel.f", root=pkg) == ["pkg.rel.f", "pkg.util.FACTOR"]  # from .util import FACTOR


def test_reexports_resolve_to_the_defining_module(pkg):
    got = fp.explain("pkg.evaluate.evaluate", root=pkg)
    assert "pkg.models.SCALE" in got and "pkg.data.SCALE" not in got
    before = fp.fingerprint("pkg.evaluate.evaluate", root=pkg)
    edit(pkg / "models.py", "SCALE = 3.0", "SCALE = 4.0")
    assert fp.fingerprint("pkg.evaluate.evaluate", root=pkg) != before


def test_local_names_shadow_module_names_only_in_their_own_scope(pkg):
    # a parameter named like a module-level function is not that function
    assert "pkg.evaluate.train" not in fp.explain("pkg.evaluate.evaluate", root=pkg)
    # a nested function's local does not hide the module-level name from the outer one
    assert "pkg.evaluate.train" in fp.explain("pkg.evaluate.nested", root=pkg)
    before = fp.fingerprint("pkg.evaluate.nested", root=pkg)
    edit(pkg / "evaluate.py", "return 5", "return 6")
    assert fp.fingerprint("pkg.evaluate.nested", root=pkg) != before


# ------------------------------------------------- (6) the real stage functions

def test_explain_train_stage_on_htcore():
    got = set(fp.explain("htcore.stages.train"))
    assert {"htcore.stages.train", "htcore.stages._keys", "htcore.train.train", "htcore.train._Optimizer",
            "htcore.train.loss_and_grads", "htcore.train.resolve_device", "htcore.models.check_activation",
            "htcore.models.check_optimizer", "htcore.models.ACTIVATIONS", "htcore.models.OPTIMIZERS",
            "htcore.data.rng", "htcore.io.load_npz", "htcore.io.write_table"} <= got
    assert not {"htcore.data.test_set", "htcore.data.generate", "htcore.stages.data",
                "htcore.stages.evaluate", "htcore.models.LINKS"} & got
    assert not [x for x in got if x.startswith(("htcore.evaluate.", "htcore.baselines.", "htcore.spectra."))]


def test_explain_evaluate_and_spectrum_stages_on_htcore():
    ev = set(fp.explain("htcore.stages.evaluate"))
    assert {"htcore.data.test_set", "htcore.evaluate.evaluate_snapshot", "htcore.evaluate.feature_esd",
            "htcore.baselines.loss_baselines", "htcore.models.LINKS", "htcore.stages.teacher"} <= ev
    assert not [x for x in ev if x.startswith("htcore.train.")]
    assert "htcore.data.generate" not in ev and "htcore.stages.data" not in ev
    sp = set(fp.explain("htcore.stages.spectrum"))
    assert {"htcore.spectra.esd", "htcore.updates.update_pairs", "htcore.stages._long"} <= sp
    assert not [x for x in sp if x.startswith(("htcore.train.", "htcore.evaluate.", "htcore.models.",
                                                 "htcore.data."))]


def test_adding_an_optimizer_to_htcore_retrains_nothing(real):
    """A new optimizer is a name in models.OPTIMIZERS and an update in
    train.OPTIMIZER_STEPS: the fingerprint of every existing run's training stays; an
    edit of the update a run uses changes it."""
    keys = {o: fp.keys_for({"activation": "tanh", "optimizer": o}) for o in ("gd", "adam")}
    before = {o: fp.fingerprint("htcore.stages.train", k, root=real) for o, k in keys.items()}
    edit(real / "models.py", 'OPTIMIZERS = ("gd", "adam", "sign_gd", "momentum")',
         'OPTIMIZERS = ("gd", "adam", "sign_gd", "momentum", "lion")')
    edit(real / "train.py", '"momentum": _gd_step}', '"momentum": _gd_step, "lion": _lion_step}')
    edit(real / "train.py", "def _adam_step(", "def _lion_step(opt, w, g, lr):\n    return w - lr * opt.xp.sign(g)\n\n\n"
         "def _adam_step(")
    assert {o: fp.fingerprint("htcore.stages.train", k, root=real) for o, k in keys.items()} == before
    edit(real / "train.py", "    bc1 = 1 - b1**opt.t\n", "    bc1 = 1.0 - b1**opt.t\n")
    after = {o: fp.fingerprint("htcore.stages.train", k, root=real) for o, k in keys.items()}
    assert after["gd"] == before["gd"] and after["adam"] != before["adam"]
