"""Cache of parsed (and featurised) datasets: one ``.npz`` per dataset, artifacts and params.

Parsing is the slow part of a load (100,000 IMDB reviews plus a TF-IDF fit take ~20 s;
reading the arrays back takes well under a second), so each loader builds its arrays once
and keeps them in ``<cache>/parsed/<name>-<key>.npz``. ``key`` hashes the dataset name, the
loader's ``version`` (bumped when its parsing changes), the artifacts' accepted hashes and
the pipeline's parameters, so a new artifact or another parameter never reuses a stale
entry. Entries are written to a temp file and ``os.replace``d into place, so a crash never
leaves a half-written entry under the final name; an entry that fails to read (truncated,
bad CRC) is deleted and rebuilt. Only plain arrays are stored (``allow_pickle=False``):
strings go in as UTF-8 bytes plus offsets, sparse matrices as their CSR parts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from learnbench import config

log = logging.getLogger(__name__)

FORMAT = 1  # bump to invalidate every entry (a change of this module's layout)

Arrays = dict[str, np.ndarray]


def parsed_dir() -> Path:
    """``<cache>/parsed``: where the ``.npz`` entries live."""
    return config.cache_dir() / "parsed"


def cache_key(
    name: str, artifacts: Iterable[Any], params: Mapping[str, Any], version: int = 1
) -> str:
    """A short hex key for (dataset, loader version, artifact hashes, pipeline params)."""
    payload = {
        "format": FORMAT,
        "dataset": name,
        "version": version,
        "artifacts": [[a.filename, *a.accepted, a.content_sha256] for a in artifacts],
        "params": dict(params),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_path(name: str, key: str) -> Path:
    return parsed_dir() / f"{name}-{key}.npz"


def load_or_build(name: str, key: str, build: Callable[[], Arrays]) -> tuple[Arrays, bool]:
    """The arrays cached under (name, key), building and storing them on a miss.

    Returns ``(arrays, hit)``. A build that raises stores nothing. A failed write (disk
    full, read-only cache) is logged and the freshly built arrays are returned anyway.
    """
    path = entry_path(name, key)
    if path.is_file():
        try:
            return read_npz(path), True
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("discarding unreadable parsed-data cache %s: %s", path, exc)
            path.unlink(missing_ok=True)
    arrays = build()
    try:
        write_npz_atomic(path, arrays)
    except OSError as exc:
        log.warning("could not write parsed-data cache %s: %s", path, exc)
    return arrays, False


def read_npz(path: Path) -> Arrays:
    """Every array of an ``.npz``, read eagerly so a damaged member fails here (CRC check)."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to a temp file beside ``path``, then ``os.replace`` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # uncompressed: loading is the hot path, disk is cheap
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- packing


def pack_strings(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as (UTF-8 bytes as uint8, int64 offsets of length n+1).

    A fixed-width ``<U`` array would pad every review to the longest (14k chars x 4 bytes).
    """
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def unpack_strings(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The inverse of :func:`pack_strings`: a 1-D object array of ``str``."""
    buf = data.tobytes()
    bounds = offsets.tolist()
    out = np.empty(len(bounds) - 1, dtype=object)
    out[:] = [buf[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def pack_csr(prefix: str, matrix: sp.csr_matrix) -> Arrays:
    """A CSR matrix as four arrays ``<prefix>_data/_indices/_indptr/_shape``."""
    m = sp.csr_matrix(matrix)
    return {
        f"{prefix}_data": m.data,
        f"{prefix}_indices": m.indices,
        f"{prefix}_indptr": m.indptr,
        f"{prefix}_shape": np.asarray(m.shape, dtype=np.int64),
    }


def unpack_csr(arrays: Mapping[str, np.ndarray], prefix: str) -> sp.csr_matrix:
    """The inverse of :func:`pack_csr`."""
    shape = tuple(int(n) for n in arrays[f"{prefix}_shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
        shape=shape,
    )
