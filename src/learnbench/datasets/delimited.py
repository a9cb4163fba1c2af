"""The UCI text tables: their artifacts, and their rows (comma- or whitespace-separated),
checked field by field.

Hand-written rather than ``pandas.read_csv`` because a malformed row must be a one-line
error naming the file and the line: pandas fills a short row with NaN without a word, and
its messages for other damage do not name the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from learnbench.datasets.artifacts import Artifact
from learnbench.errors import CorruptArtifactError

T = TypeVar("T")

Row = tuple[int, list[str]]  # (1-based line number, fields)

UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/"


def uci_artifact(folder: str, filename: str, sha256: str, *, parsed: bool = True) -> Artifact:
    """``uci/<filename>`` in the mirror, from ``<UCI_URL><folder>/<filename>``."""
    return Artifact(
        filename=f"uci/{filename}", url=f"{UCI_URL}{folder}/{filename}", sha256=sha256,
        parsed=parsed,
    )


def read_rows(path: Path, n_fields: int, sep: str | None = ",") -> list[Row]:
    """Every data row of ``path`` with its line number; ``sep=None`` splits on whitespace.

    Blank lines and lines starting with ``|`` (the UCI comment marker, e.g. the first line
    of ``adult.test``) are skipped; fields are stripped. A row with another number of
    fields raises ``CorruptArtifactError`` naming the file and the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptArtifactError(f"{path}: not UTF-8 text ({exc})") from None
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("|"):
            continue
        fields = stripped.split() if sep is None else [f.strip() for f in stripped.split(sep)]
        if len(fields) != n_fields:
            what = "whitespace-separated" if sep is None else f"{sep!r}-separated"
            raise CorruptArtifactError(
                f"{path} line {number}: expected {n_fields} {what} fields, got {len(fields)}"
            )
        rows.append((number, fields))
    return rows


def convert(path: Path, line: int, column: str, value: str, parse: Callable[[str], T]) -> T:
    """``parse(value)``; a ValueError becomes a one-line error naming file, line and column."""
    try:
        return parse(value)
    except ValueError:
        raise CorruptArtifactError(
            f"{path} line {line}: column {column!r} has unreadable value {value!r}"
        ) from None


def expect_rows(path: Path, rows: list[Row], n: int) -> None:
    """Raise ``CorruptArtifactError`` unless ``path`` held exactly ``n`` data rows."""
    if len(rows) != n:
        raise CorruptArtifactError(f"{path}: expected {n} data rows, got {len(rows)}")
