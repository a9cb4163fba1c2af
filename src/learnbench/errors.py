"""Exceptions the CLI turns into one-line messages (``learnbench: error: ...``)."""

from __future__ import annotations


class LearnbenchError(Exception):
    """Base class: a user-facing error whose message is one line naming what and where."""


class UnknownNameError(LearnbenchError, KeyError):
    """An unknown dataset, learner or suite name; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ChecksumError(LearnbenchError):
    """An artifact whose SHA-256 matches none of the accepted hashes."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}")


class ArtifactNotFoundError(LearnbenchError):
    """No valid copy of an artifact in the cache, the mirrors or at its URL."""


class CorruptArtifactError(LearnbenchError):
    """An artifact (or a member of it) that cannot be parsed: truncated, bad header, bad row."""


class SuiteError(LearnbenchError):
    """A malformed suite file; the message names the file and the key."""
