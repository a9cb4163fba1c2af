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
        '[[datasets]]\nname = "digits"\n\n[[datasets]]\nname = "mnist"\nsubsample_train = 100\nsubsample_unlabelled = 7')
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
