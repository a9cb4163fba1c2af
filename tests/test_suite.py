"""Suite files: expansion into cells, stable cell ids, and one-line errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnbench.errors import SuiteError, UnknownNameError
from learnbench.harness.suite import Cell, load_suite, suite_names

MINIMAL = """
[suite]
seeds = [0, 1]

[[datasets]]
name = "digits"

[[learners]]
name = "knn"

[[learners]]
name = "logreg"
params = { C = 0.5 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_expands_cross_product_with_seeds(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, MINIMAL))
    assert suite.name == "s"
    assert [(c.learner, c.seed) for c in suite.cells] == [
        ("knn", 0), ("knn", 1), ("logreg", 0), ("logreg", 1)]
    assert suite.cells[2].params == {"C": 0.5}
    assert len({c.cell_id for c in suite.cells}) == 4


def test_cell_id_depends_on_config_but_not_timeout() -> None:
    a = Cell("digits", "knn", "knn", {}, 0, "cpu")
    assert a.cell_id == Cell("digits", "knn", "knn", {}, 0, "cpu", timeout=5).cell_id
    assert a.cell_id != Cell("digits", "knn", "knn", {"n_neighbors": 5}, 0, "cpu").cell_id
    assert a.cell_id.startswith("digits-knn-s0-cpu-")


def test_learner_restricted_to_datasets(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "knn"', 'name = "knn"\ndatasets = ["mnist"]').replace(
        '[[datasets]]\nname = "digits"',
        '[[datasets]]\nname = "digits"\n\n[[datasets]]\nname = "mnist"\nsubsample_train = 100'
        '\nsubsample_unlabelled = 7')
    cells = load_suite(write(tmp_path, text)).cells
    assert {(c.dataset, c.learner) for c in cells} == {
        ("mnist", "knn"), ("digits", "logreg"), ("mnist", "logreg")}
    assert all(c.dataset_params == {"subsample_train": 100, "subsample_unlabelled": 7}
               for c in cells if c.dataset == "mnist")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("seeds = [0, 1]", "seeds = [0, 1]\nsedes = 3"), "unknown key 'sedes'"),
        (MINIMAL.replace("seeds = [0, 1]", 'seeds = "0"'), "key 'suite.seeds' must be list"),
        (MINIMAL.replace('name = "knn"', 'name = "knm"'), "key 'learners[0].name': unknown learner"),
        (MINIMAL.replace('name = "digits"', 'name = "digitz"'), "unknown dataset 'digitz'"),
        (MINIMAL.replace("params = { C = 0.5 }", "params = 3"), "key 'learners[1].params'"),
        (MINIMAL + "\n[[learners]]\nname = \"knn\"\n", "duplicate cells"),
        ("[suite\nseeds = [0]", "not valid TOML"),
    ],
)
def test_malformed_suite_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_unknown_suite_name_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as err:
        load_suite("no-such-suite")
    assert "smoke" in str(err.value) and "ci" in str(err.value)


@pytest.mark.parametrize("name", ["smoke", "ci", "paper"])
def test_shipped_tiers_load(name: str) -> None:
    assert name in suite_names()
    suite = load_suite(name)
    assert suite.cells and {c.dataset for c in suite.cells} >= {"mnist"}


PROFILED = MINIMAL.replace("seeds = [0, 1]", "seeds = [0]\nprofile = { steps = 4 }").replace(
    'params = { C = 0.5 }', 'params = { C = 0.5 }\nprofile = false')


def test_profile_is_off_by_default_and_keeps_cell_ids(tmp_path: Path) -> None:
    plain = load_suite(write(tmp_path, MINIMAL)).cells
    assert all(c.profile == {} and "profile" not in c.config for c in plain)
    assert plain[0].cell_id == Cell("digits", "knn", "knn", {}, 0, "cpu").cell_id


def test_profile_suite_default_and_learner_override(tmp_path: Path) -> None:
    text = (PROFILED + '\n[[learners]]\nname = "lenet5"\nprofile = { warmup = 1, trace = false }\n'
            + '\n[[learners]]\nname = "cnn"\n')
    cells = {c.learner: c for c in load_suite(write(tmp_path, text)).cells}
    # the suite-wide setting reaches deep learners only: classical cells keep their ids
    assert cells["cnn"].profile == {"warmup": 3, "steps": 4, "trace": True}
    assert cells["cnn"].config["profile"] == cells["cnn"].profile
    assert cells["knn"].profile == {} and cells["knn"].cell_id == Cell(
        "digits", "knn", "knn", {}, 0, "cpu").cell_id
    assert cells["logreg"].profile == {} and "profile" not in cells["logreg"].config
    assert cells["lenet5"].profile == {"warmup": 1, "steps": 4, "trace": False}
    # a learner's own profile key applies whatever its family
    on = load_suite(write(tmp_path, MINIMAL.replace('name = "knn"', 'name = "knn"\nprofile = true'))).cells
    assert on[0].profile == {"warmup": 3, "steps": 10, "trace": True}
    assert on[0].cell_id != Cell("digits", "knn", "knn", {}, 0, "cpu").cell_id


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("profile = { step = 3 }", "unknown key 'step' in suite.profile"),
        ("profile = { steps = 0 }", "key 'suite.profile.steps' must be at least 1"),
        ("profile = { warmup = -1 }", "key 'suite.profile.warmup' must be at least 0"),
        ('profile = { steps = "10" }', "key 'suite.profile.steps' must be int"),
        ("profile = { trace = 1 }", "key 'suite.profile.trace' must be bool"),
        ('profile = "on"', "key 'suite.profile' must be bool/dict"),
    ],
)
def test_malformed_profile_names_the_key(tmp_path: Path, profile: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL.replace("seeds = [0, 1]", profile))
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert str(path) in str(err.value) and expected in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_learner_profile_names_the_learner(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('name = "knn"', 'name = "knn"\nprofile = { steps = 0 }'))
    with pytest.raises(SuiteError, match=r"key 'learners\[0\]\.profile\.steps' must be at least 1"):
        load_suite(path)


def test_dataset_learners_and_learner_latency(tmp_path: Path) -> None:
    head = "seeds = [0]\nlatency = { batch1_samples = 3, bulk_batch_size = 64 }"
    text = MINIMAL.replace("seeds = [0, 1]", head).replace('[[datasets]]\nname = "digits"', (
        '[[datasets]]\nname = "digits"\n\n[[datasets]]\nname = "imdb"\nlabel = "imdb-text"\n'
        'learners = ["knn"]\nparams = { representation = "text" }')).replace(
        'name = "knn"', 'name = "knn"\nlatency = { bulk_batch_size = 8 }')
    cells = load_suite(write(tmp_path, text)).cells
    assert {(c.dataset_label, c.learner) for c in cells} == {
        ("digits", "knn"), ("digits", "logreg"), ("imdb-text", "knn")}
    knn, logreg = (next(c for c in cells if c.learner == n) for n in ("knn", "logreg"))
    assert knn.latency["bulk_batch_size"] == 8 and knn.latency["batch1_samples"] == 3
    assert logreg.latency["bulk_batch_size"] == 64
    bad = text.replace('learners = ["knn"]', 'learners = ["knnn"]')
    with pytest.raises(SuiteError, match=r"datasets\[1\].learners': \['knnn'\] not among"):
        load_suite(write(tmp_path, bad))
