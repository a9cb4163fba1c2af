"""Find, download and verify dataset artifacts: cache -> mirrors -> canonical URL.

Modelled on torchvision's download utilities (``check_integrity``, ``download_url``,
``extract_archive``) but with our own rules: SHA-256 instead of MD5, several accepted
hashes per file (a mirror may re-compress a ``.gz``), read-only mirror directories, an
offline switch, atomic writes, and one-line errors naming every place looked in.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from tqdm import tqdm

from learnbench import config
from learnbench.datasets.base import dataset_names, get_dataset_spec
from learnbench.errors import ArtifactNotFoundError, ChecksumError, CorruptArtifactError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60
_USER_AGENT = "learnbench (+https://pypi.org/project/learnbench)"


@dataclass(frozen=True)
class Artifact:
    """One downloadable file and the hashes that make a copy of it acceptable.

    ``filename`` is relative to a mirror root (and to ``<cache>/artifacts``). A copy is
    valid when its SHA-256 is ``sha256`` or one of ``alt_sha256``, or, when
    ``content_sha256`` is set, when its gunzip-decompressed bytes hash to it (so a
    re-compressed ``.gz`` of the same content is accepted). ``parsed=False`` marks a
    documentation file (a UCI ``.names``): verified by ``learnbench datasets verify`` but
    not read by the loader, so it neither keys the parsed cache nor counts as a source file.
    """

    filename: str
    url: str
    sha256: str
    alt_sha256: tuple[str, ...] = ()
    content_sha256: str | None = None
    parsed: bool = True

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every accepted archive hash, the preferred one first."""
        return (self.sha256, *self.alt_sha256)


# --------------------------------------------------------------------------- hashing

# (path, device, inode, size, mtime_ns, kind) -> hex digest. Keyed on the stat so that a
# replaced or rewritten file is hashed again, while repeated loads in one process are free.
_HASH_MEMO: dict[tuple[Any, ...], str] = {}


def _stat_key(path: Path, kind: str) -> tuple[Any, ...]:
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, kind)


def _hash_stream(read: Any) -> str:
    h = hashlib.sha256()
    while chunk := read(_CHUNK):
        h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, memoized per (path, inode, size, mtime) in this process."""
    key = _stat_key(path, "file")
    if key not in _HASH_MEMO:
        with open(path, "rb") as f:
            _HASH_MEMO[key] = _hash_stream(f.read)
    return _HASH_MEMO[key]


def gunzip_sha256(path: Path) -> str | None:
    """SHA-256 of a ``.gz`` file's decompressed content; None if it does not decompress."""
    key = _stat_key(path, "gunzip")
    if key not in _HASH_MEMO:
        try:
            with gzip.open(path, "rb") as f:
                _HASH_MEMO[key] = _hash_stream(f.read)
        except (OSError, EOFError, zlib.error):
            return None
    return _HASH_MEMO[key]


def check(artifact: Artifact, path: Path) -> str | None:
    """None if ``path`` is a valid copy of ``artifact``, else why not (one short phrase)."""
    actual = file_sha256(path)
    if actual in artifact.accepted:
        return None
    if artifact.content_sha256 is not None:
        content = gunzip_sha256(path)
        if content == artifact.content_sha256:
            return None
        return (
            f"checksum mismatch (sha256 {actual}; decompressed content "
            f"{content or 'unreadable'}, expected {artifact.content_sha256})"
        )
    return f"checksum mismatch (sha256 {actual}, expected {' or '.join(artifact.accepted)})"


def _expected(artifact: Artifact) -> str:
    parts = list(artifact.accepted)
    if artifact.content_sha256:
        parts.append(f"decompressed content {artifact.content_sha256}")
    return " or ".join(parts)


# --------------------------------------------------------------------------- lookup


def cache_path(artifact: Artifact) -> Path:
    """Where a downloaded copy of ``artifact`` lives: ``<cache>/artifacts/<filename>``."""
    return config.cache_dir() / "artifacts" / PurePosixPath(artifact.filename)


def _search_local(artifact: Artifact, *, delete_bad: bool) -> tuple[Path | None, list[str], bool]:
    """Look in the cache, then each mirror.

    Returns (a valid copy or None, why each place failed, whether a bad copy was seen).
    """
    notes: list[str] = []
    saw_bad = False
    cached = cache_path(artifact)
    if cached.is_file():
        why = check(artifact, cached)
        if why is None:
            return cached, notes, saw_bad
        saw_bad = True
        if delete_bad:
            cached.unlink(missing_ok=True)
            log.warning("deleted bad cached copy %s: %s", cached, why)
            notes.append(f"cache {cached}: {why}, deleted")
        else:
            notes.append(f"cache {cached}: {why}")
    else:
        notes.append(f"cache {cached}: missing")

    mirrors = config.mirror_dirs()
    if not mirrors:
        notes.append(f"mirrors: ${config.MIRROR_ENV} not set")
    for mirror in mirrors:
        candidate = mirror / PurePosixPath(artifact.filename)
        if not candidate.is_file():
            notes.append(f"mirror {candidate}: missing")
            continue
        why = check(artifact, candidate)
        if why is None:
            return candidate, notes, saw_bad
        saw_bad = True
        log.warning("skipping bad mirror copy %s: %s", candidate, why)
        notes.append(f"mirror {candidate}: {why}")
    return None, notes, saw_bad


def fetch(artifact: Artifact) -> Path:
    """A verified local copy of ``artifact``: from the cache, a mirror (used in place), or its URL.

    Raises ``ChecksumError`` if a download arrives with the wrong hash and
    ``ArtifactNotFoundError`` (one line, every place tried) if no valid copy is found.
    """
    found, notes, _ = _search_local(artifact, delete_bad=True)
    if found is not None:
        return found
    if config.offline():
        notes.append(f"{artifact.url}: not tried (${config.OFFLINE_ENV} is set)")
    else:
        try:
            return _download(artifact)
        except _DownloadFailed as exc:
            notes.append(f"{artifact.url}: {exc}")
    raise ArtifactNotFoundError(
        f"no valid copy of {artifact.filename}; looked in: {'; '.join(notes)}; "
        f"set {config.MIRROR_ENV} to a directory holding {artifact.filename}"
    )


# --------------------------------------------------------------------------- download


class _DownloadFailed(Exception):
    """A download that did not complete (network error, HTTP error, truncated body)."""


def _download(artifact: Artifact) -> Path:
    """Download to a temp file beside the cache entry, verify, then ``os.replace`` into place."""
    dest = cache_path(artifact)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream_url(artifact, out)
        why = check(artifact, tmp)
        if why is not None:
            raise ChecksumError(
                f"{artifact.filename} (downloaded from {artifact.url})",
                _expected(artifact),
                file_sha256(tmp),
            )
        memo = {kind: _HASH_MEMO.get(_stat_key(tmp, kind)) for kind in ("file", "gunzip")}
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for kind, digest in memo.items():  # same bytes, new path: keep the hashes just computed
        if digest is not None:
            _HASH_MEMO[_stat_key(dest, kind)] = digest
    return dest


def _stream_url(artifact: Artifact, out: Any) -> None:
    request = urllib.request.Request(artifact.url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as resp:
            length_header = resp.headers.get("Content-Length")
            expected = int(length_header) if length_header and length_header.isdigit() else None
            received = 0
            with tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=PurePosixPath(artifact.filename).name,
                disable=None,  # no bar when stderr is not a terminal (tests, CI logs)
            ) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise _DownloadFailed(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _DownloadFailed(f"download failed ({exc.reason})") from None
    except http.client.IncompleteRead as exc:
        raise _DownloadFailed(
            f"download truncated (connection closed after {len(exc.partial)} more bytes)"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _DownloadFailed(f"download failed ({type(exc).__name__}: {exc})") from None
    # urllib's read() returns b"" on a short body instead of raising, so compare ourselves.
    if expected is not None and received != expected:
        raise _DownloadFailed(
            f"download truncated (received {received} of {expected} bytes announced "
            "by Content-Length)"
        )


# --------------------------------------------------------------------------- decompress


def gunzip_to(artifact: Artifact, dest_dir: Path) -> Path:
    """Decompress a ``.gz`` artifact into ``dest_dir`` (name without ``.gz``), atomically.

    An existing output whose hash is ``artifact.content_sha256`` is reused without
    fetching; otherwise the artifact is fetched, decompressed to a temp file while being
    hashed, checked against ``content_sha256`` (when set) and renamed into place.
    """
    name = PurePosixPath(artifact.filename).name
    out = dest_dir / (name[:-3] if name.endswith(".gz") else name)
    if (
        artifact.content_sha256 is not None
        and out.is_file()
        and file_sha256(out) == artifact.content_sha256
    ):
        return out
    src = fetch(artifact)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{out.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as f_out, gzip.open(src, "rb") as f_in:
            while chunk := f_in.read(_CHUNK):
                h.update(chunk)
                f_out.write(chunk)
        if artifact.content_sha256 is not None and h.hexdigest() != artifact.content_sha256:
            raise ChecksumError(f"{src} (decompressed)", artifact.content_sha256, h.hexdigest())
        os.replace(tmp, out)
    except (OSError, EOFError, zlib.error) as exc:
        tmp.unlink(missing_ok=True)
        raise CorruptArtifactError(f"cannot decompress {src}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _HASH_MEMO[_stat_key(out, "file")] = h.hexdigest()
    return out


# --------------------------------------------------------------------------- extract


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def _check_member(archive: Path, root: Path, name: str, link: str | None, hard: bool) -> None:
    """Refuse a member whose path (or link target) is absolute or resolves outside ``root``."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or os.path.isabs(name) or PureWindowsPath(name).drive:
        raise CorruptArtifactError(f"unsafe member in {archive}: {name!r} is an absolute path")
    target = Path(os.path.normpath(root / posix))
    if not _inside(root, target):
        raise CorruptArtifactError(f"unsafe member in {archive}: {name!r} escapes the destination")
    if link is not None:
        lpath = PurePosixPath(link.replace("\\", "/"))
        base = root if hard else target.parent  # hard links are relative to the archive root
        resolved = Path(os.path.normpath(base / lpath))
        if lpath.is_absolute() or not _inside(root, resolved):
            raise CorruptArtifactError(
                f"unsafe member in {archive}: {name!r} links to {link!r} outside the destination"
            )


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract a ``.tar``/``.tar.gz``/``.zip`` into ``dest`` (which must not exist yet).

    Every member is checked first: absolute paths, ``..`` escapes and links pointing
    outside ``dest`` raise ``CorruptArtifactError`` naming the archive and the member.
    Extraction goes to a temp dir beside ``dest`` that is renamed into place, so an
    interrupted run never leaves a half-written ``dest``. Returns ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise FileExistsError(f"extraction target {dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    root = tmp.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(archive, root, info.filename, None, False)
                zf.extractall(root)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _extract_tar(archive, tf, root)
        else:
            raise CorruptArtifactError(f"{archive} is not a tar or zip archive")
        try:
            tmp.rename(dest)
        except OSError:
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp)  # another process finished the same extraction first
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CorruptArtifactError(f"cannot extract {archive}: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _extract_tar(archive: Path, tf: tarfile.TarFile, root: Path) -> None:
    for m in tf.getmembers():
        link = m.linkname if (m.issym() or m.islnk()) else None
        _check_member(archive, root, m.name, link, m.islnk())
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: also drops devices, modes
        try:
            tf.extractall(root, filter="data")
        except tarfile.FilterError as exc:
            name = exc.tarinfo.name if exc.tarinfo is not None else "?"
            raise CorruptArtifactError(f"unsafe member in {archive}: {name!r} ({exc})") from None
    else:  # our member checks above are the only guard here
        tf.extractall(root)


# --------------------------------------------------------------------------- verify


def verify_all(names: Iterable[str] | None = None) -> list[dict[str, str]]:
    """Check every artifact of the named (default: all registered) datasets, without downloading.

    One dict per artifact: ``dataset``, ``filename``, ``status`` ("ok", "missing" or
    "bad"), ``location`` (the valid copy's path, or "") and ``message`` (why each place
    failed). Datasets without artifacts (bundled data) produce no rows. Nothing is deleted.
    """
    rows: list[dict[str, str]] = []
    for name in dataset_names() if names is None else names:
        spec = get_dataset_spec(name)
        for artifact in spec.artifacts:
            found, notes, saw_bad = _search_local(artifact, delete_bad=False)
            if found is not None:
                status, message = "ok", ""
            else:
                status, message = ("bad" if saw_bad else "missing"), "; ".join(notes)
            rows.append(
                {
                    "dataset": spec.name,
                    "filename": artifact.filename,
                    "status": status,
                    "location": str(found) if found is not None else "",
                    "message": message,
                }
            )
    return rows
