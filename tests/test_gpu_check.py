"""benchmarks/gpu_check.sh, the prepared check for a lent GPU machine: it parses, writes into
one output folder, runs ``pytest -m cuda``, its embedded Python compiles, and the learners and
datasets it selects exist in the suites it runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from learnbench.cli import select_cells
from learnbench.harness.suite import load_suite

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")


def _text() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def _heredocs(text: str) -> list[str]:
    """The Python blocks written with ``<<'PY'`` ... ``PY``."""
    return re.findall(r"<<'PY'[^\n]*\n(.*?)\n\s*PY\n", text, flags=re.S)


def _array(text: str, name: str) -> list[str]:
    body = re.search(rf"^{name}=\((.*?)\)", text, flags=re.S | re.M)
    assert body, name
    return body.group(1).split()


@needs_bash
def test_script_parses_and_names_its_output_and_the_cuda_tests() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    text = _text()
    assert 'OUT=${OUT:-$REPO/gpu-check-out}' in text
    assert "pytest -m cuda" in text and "timeout" in text
    for part in ("results/smoke-gpu", "results/reference-gpu", "reports/reference-gpu",
                 "SUMMARY.md", "logs"):
        assert part in text, part


@needs_bash
def test_help_prints_the_header_and_starts_nothing(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True,
                            timeout=30, env={"PATH": "/usr/bin:/bin", "OUT": str(tmp_path / "o")})
    assert result.returncode == 0 and "gpu-check-out" in result.stdout
    assert not (tmp_path / "o").exists()


def test_embedded_python_compiles() -> None:
    blocks = _heredocs(_text())
    assert len(blocks) >= 6  # prepare, preflight, three stand-ins, probe, summary
    for i, block in enumerate(blocks):
        compile(block, f"{SCRIPT.name}[heredoc {i}]", "exec")


def test_selected_learners_and_datasets_exist_in_the_suites() -> None:
    text = _text()
    smoke = _array(text, "SMOKE_LEARNERS")
    nightly = _array(text, "NIGHTLY_LEARNERS")
    # select_cells raises on a learner or dataset the suite does not have
    sub = select_cells(load_suite("smoke"), smoke + ["bert_mlm"],
                       ["digits", "mnist", "orl-k5", "imdb-text"], "cuda")
    assert {c.learner for c in sub.cells} == set(smoke) | {"bert_mlm"}
    sub = select_cells(load_suite("nightly"), nightly, ["digits", "mnist", "fashion_mnist"], "cuda")
    assert {c.learner for c in sub.cells} == set(nightly)
    assert {c.device for c in sub.cells} == {"cuda"}
    # without a mirror only digits is there: LeNet-5's three seeds
    digits = select_cells(load_suite("nightly"), nightly, ["digits"], "cuda")
    assert [(c.learner, c.seed) for c in digits.cells] == [("lenet5", s) for s in (0, 1, 2)]
