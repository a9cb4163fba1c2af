"""Read chosen members of a ``.tar.gz`` in one streaming pass, extracting nothing to disk."""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from learnbench.errors import CorruptArtifactError

_CHUNK = 1 << 20


def read_members(path: Path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, bytes)`` for each regular-file member whose name ``wanted`` accepts.

    Damage anywhere (a truncated stream, bad deflate data, a bad CRC, a bad header) raises a
    one-line ``CorruptArtifactError`` naming the archive and the last good member.
    ``tarfile`` silently ends the iteration at a damaged header, so the rest of the gzip
    stream is read through afterwards to have its CRC checked.
    """
    last = "(none)"
    try:
        with tarfile.open(path, mode="r:gz") as tf:
            for member in tf:
                if member.isfile() and wanted(member.name):
                    fileobj = tf.extractfile(member)
                    yield member.name, fileobj.read() if fileobj is not None else b""
                last = member.name
            while tf.fileobj.read(_CHUNK):  # type: ignore[union-attr]
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise CorruptArtifactError(
            f"{path}: truncated or corrupt tar.gz (after member {last}; "
            f"{type(exc).__name__}: {exc})"
        ) from None
