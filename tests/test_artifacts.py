"""fetch / verification / download / safe_extract / verify_all, on small synthetic files.

Downloads go to a loopback HTTP server (127.0.0.1, port 0) serving a temporary directory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from learnbench.datasets import artifacts
from learnbench.datasets.artifacts import Artifact, fetch, gunzip_to, safe_extract, verify_all
from learnbench.datasets.base import _REGISTRY, DatasetSpec
from learnbench.errors import ArtifactNotFoundError, ChecksumError, CorruptArtifactError

GOOD = b"learnbench synthetic artifact\n" * 100
BAD = b"this is not the file you are looking for\n" * 10


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.root``; ``/truncated.bin`` announces more bytes than it sends."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        if self.path == "/truncated.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[:100])
            self.close_connection = True
            return
        path = self.server.root / self.path.lstrip("/")  # type: ignore[attr-defined]
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    """A loopback HTTP server: ``server.root`` is served, ``server.hits`` lists the paths asked."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root = tmp_path / "served"  # type: ignore[attr-defined]
    httpd.root.mkdir()  # type: ignore[attr-defined]
    httpd.hits = []  # type: ignore[attr-defined]
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty cache in tmp_path/cache, no mirrors, downloads allowed, no proxies."""
    for var in ("LEARNBENCH_MIRROR", "LEARNBENCH_OFFLINE", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def served(server: ThreadingHTTPServer, name: str, data: bytes) -> Artifact:
    """Put ``data`` on the server as ``name``; return an artifact expecting ``GOOD``."""
    (server.root / name).write_bytes(data)  # type: ignore[attr-defined]
    return Artifact(f"synth/{name}", f"{server.url}/{name}", sha(GOOD))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- download


def test_download_lands_in_cache(server, online):
    art = served(server, "good.bin", GOOD)
    path = fetch(art)
    assert path == online / "artifacts" / "synth" / "good.bin"
    assert path.read_bytes() == GOOD
    assert server.hits == ["/good.bin"]
    assert files_under(online) == [path]  # no temp files left beside it


def test_cache_hit_neither_downloads_nor_rehashes(server, online, monkeypatch):
    art = served(server, "good.bin", GOOD)
    first = fetch(art)
    hashed = []
    real = artifacts._hash_stream
    monkeypatch.setattr(artifacts, "_hash_stream", lambda read: hashed.append(1) or real(read))
    assert fetch(art) == first
    assert fetch(art) == first
    assert server.hits == ["/good.bin"]
    assert hashed == []  # verification memoized per (path, size, mtime)


def test_corrupt_download_raises_checksum_error_and_leaves_nothing(server, online):
    art = served(server, "corrupt.bin", BAD)
    with pytest.raises(ChecksumError) as err:
        fetch(art)
    msg = str(err.value)
    assert "synth/corrupt.bin" in msg
    assert sha(GOOD) in msg and sha(BAD) in msg
    assert files_under(online) == []


def test_truncated_download_is_a_clear_error_and_leaves_nothing(server, online):
    art = Artifact("synth/truncated.bin", f"{server.url}/truncated.bin", sha(GOOD))
    with pytest.raises(ArtifactNotFoundError) as err:
        fetch(art)
    msg = str(err.value)
    assert "truncated" in msg and f"100 of {len(GOOD)} bytes" in msg
    assert "\n" not in msg
    assert server.hits == ["/truncated.bin"]
    assert files_under(online) == []


def test_http_error_is_reported(server, online):
    art = Artifact("synth/absent.bin", f"{server.url}/absent.bin", sha(GOOD))
    with pytest.raises(ArtifactNotFoundError, match="HTTP 404"):
        fetch(art)
    assert files_under(online) == []


def test_corrupt_cache_file_is_deleted_and_refetched(server, online, caplog):
    art = served(server, "good.bin", GOOD)
    cached = online / "artifacts" / "synth" / "good.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(BAD)
    with caplog.at_level(logging.WARNING, logger="learnbench.datasets.artifacts"):
        assert fetch(art) == cached
    assert cached.read_bytes() == GOOD
    assert server.hits == ["/good.bin"]
    assert str(cached) in caplog.text


def test_corrupt_cache_file_is_deleted_when_a_mirror_has_the_file(tmp_path, monkeypatch):
    cached = tmp_path / "cache" / "artifacts" / "synth" / "good.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(BAD)
    (tmp_path / "m" / "synth").mkdir(parents=True)
    (tmp_path / "m" / "synth" / "good.bin").write_bytes(GOOD)
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(tmp_path / "m"))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    art = Artifact("synth/good.bin", "http://unused/", sha(GOOD))
    assert fetch(art) == tmp_path / "m" / "synth" / "good.bin"
    assert not cached.exists()


def test_bad_mirror_file_is_skipped(server, online, tmp_path, monkeypatch, caplog):
    bad_mirror, good_mirror = tmp_path / "m1", tmp_path / "m2"
    for root, data in ((bad_mirror, BAD), (good_mirror, GOOD)):
        (root / "synth").mkdir(parents=True)
        (root / "synth" / "good.bin").write_bytes(data)
    monkeypatch.setenv("LEARNBENCH_MIRROR", f"{bad_mirror}{artifacts.os.pathsep}{good_mirror}")
    art = served(server, "good.bin", GOOD)
    with caplog.at_level(logging.WARNING, logger="learnbench.datasets.artifacts"):
        assert fetch(art) == good_mirror / "synth" / "good.bin"  # used in place
    assert str(bad_mirror / "synth" / "good.bin") in caplog.text
    assert (bad_mirror / "synth" / "good.bin").read_bytes() == BAD  # mirrors are never touched
    assert server.hits == [] and files_under(online) == []


def test_only_bad_mirror_falls_through_to_download(server, online, tmp_path, monkeypatch):
    (tmp_path / "m1" / "synth").mkdir(parents=True)
    (tmp_path / "m1" / "synth" / "good.bin").write_bytes(BAD)
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(tmp_path / "m1"))
    art = served(server, "good.bin", GOOD)
    assert fetch(art) == online / "artifacts" / "synth" / "good.bin"
    assert server.hits == ["/good.bin"]


def test_offline_without_mirror_names_file_places_and_env_var(server, empty_env):
    art = served(server, "good.bin", GOOD)
    with pytest.raises(ArtifactNotFoundError) as err:
        fetch(art)
    msg = str(err.value)
    assert "\n" not in msg
    assert "synth/good.bin" in msg
    assert str(empty_env / "artifacts" / "synth" / "good.bin") in msg  # the cache looked in
    assert art.url in msg and "LEARNBENCH_OFFLINE" in msg  # the URL, and why it was not tried
    assert "set LEARNBENCH_MIRROR to a directory holding synth/good.bin" in msg
    assert server.hits == []


# --------------------------------------------------------------------------- verification


def test_alt_and_content_hashes_are_accepted(tmp_path):
    content = bytes(range(256)) * 50
    official = gzip.compress(content, compresslevel=9, mtime=0)
    recompressed = gzip.compress(content, compresslevel=1, mtime=12345)
    other = gzip.compress(content[::-1], mtime=0)
    assert sha(official) != sha(recompressed)
    paths = {}
    for name, data in (("o.gz", official), ("r.gz", recompressed), ("x.gz", other)):
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)

    only_official = Artifact("o.gz", "http://unused/o.gz", sha(official))
    assert artifacts.check(only_official, paths["o.gz"]) is None
    assert artifacts.check(only_official, paths["r.gz"]) is not None

    alt = Artifact("o.gz", "http://unused/o.gz", "0" * 64, alt_sha256=(sha(recompressed),))
    assert artifacts.check(alt, paths["r.gz"]) is None

    by_content = Artifact("o.gz", "http://unused/o.gz", sha(official), content_sha256=sha(content))
    assert artifacts.check(by_content, paths["r.gz"]) is None
    why = artifacts.check(by_content, paths["x.gz"])
    assert why is not None and sha(content) in why


def test_gunzip_to_decompresses_atomically_and_reuses(tmp_path, monkeypatch):
    content = b"IDX-ish payload " * 1000
    mirror = tmp_path / "mirror"
    (mirror / "synth").mkdir(parents=True)
    (mirror / "synth" / "data-ubyte.gz").write_bytes(gzip.compress(content))
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    art = Artifact("synth/data-ubyte.gz", "http://unused/", "0" * 64, content_sha256=sha(content))
    out = gunzip_to(art, tmp_path / "raw")
    assert out == tmp_path / "raw" / "data-ubyte" and out.read_bytes() == content
    assert files_under(tmp_path / "raw") == [out]
    # A valid output is reused even when the source is gone.
    (mirror / "synth" / "data-ubyte.gz").unlink()
    assert gunzip_to(art, tmp_path / "raw") == out


def test_gunzip_to_rejects_a_corrupt_gzip(tmp_path, monkeypatch):
    broken = gzip.compress(b"x" * 10_000)[:-12]  # cut off the trailer and some data
    (tmp_path / "m" / "synth").mkdir(parents=True)
    (tmp_path / "m" / "synth" / "broken.gz").write_bytes(broken)
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(tmp_path / "m"))
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    art = Artifact("synth/broken.gz", "http://unused/", sha(broken))
    with pytest.raises(CorruptArtifactError, match="broken.gz"):
        gunzip_to(art, tmp_path / "raw")
    assert files_under(tmp_path / "raw") == []


# --------------------------------------------------------------------------- safe_extract


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tf.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def test_safe_extract_tar_and_zip(tmp_path):
    tar = _tar(tmp_path / "ok.tar.gz", [(_file("pkg/a.txt"), b"A"), (_file("pkg/sub/b.txt"), b"B")])
    out = safe_extract(tar, tmp_path / "out-tar")
    assert (out / "pkg" / "a.txt").read_bytes() == b"A"
    assert (out / "pkg" / "sub" / "b.txt").read_bytes() == b"B"

    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("faces/s1/1.pgm", b"P5")
    out = safe_extract(tmp_path / "ok.zip", tmp_path / "out-zip")
    assert (out / "faces" / "s1" / "1.pgm").read_bytes() == b"P5"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    "member",
    [
        (_file("ok.txt"), _file("../evil")),
        (_file("/abs/evil"),),
        (_symlink("link", "../../outside"),),
        (_symlink("link", "/etc/passwd"),),
    ],
    ids=["dotdot", "absolute", "symlink-escape", "symlink-absolute"],
)
def test_safe_extract_refuses_escaping_tar_members(tmp_path, member):
    archive = _tar(tmp_path / "evil.tar.gz", [(info, b"pwned") for info in member])
    dest = tmp_path / "work" / "dest"
    with pytest.raises(CorruptArtifactError) as err:
        safe_extract(archive, dest)
    assert str(archive) in str(err.value) and repr(member[-1].name) in str(err.value)
    assert not dest.exists()
    assert list((tmp_path / "work").iterdir()) == []  # temp dir removed too
    assert not (tmp_path / "evil").exists() and not (tmp_path / "work" / "evil").exists()


def test_safe_extract_refuses_escaping_zip_member(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../evil", b"pwned")
    with pytest.raises(CorruptArtifactError, match=r"evil\.zip.*'\.\./evil'"):
        safe_extract(tmp_path / "evil.zip", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_safe_extract_rejects_non_archive(tmp_path):
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(CorruptArtifactError, match="junk.tar.gz"):
        safe_extract(tmp_path / "junk.tar.gz", tmp_path / "dest")
    assert list(tmp_path.iterdir()) == [tmp_path / "junk.tar.gz"]


# --------------------------------------------------------------------------- verify_all


def test_verify_all_reports_ok_missing_bad_without_deleting(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "good.bin").write_bytes(GOOD)
    (mirror / "toy" / "bad.bin").write_bytes(BAD)
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))

    class Toy(DatasetSpec):
        name = "toy-verify"
        modality = "tabular"
        artifacts = tuple(
            Artifact(f"toy/{n}.bin", f"http://unused/{n}", sha(GOOD))
            for n in ("good", "bad", "gone")
        )

    monkeypatch.setitem(_REGISTRY, "toy-verify", Toy)
    rows = verify_all(["toy-verify"])
    status = {r["filename"]: (r["status"], r["location"]) for r in rows}
    assert status == {
        "toy/good.bin": ("ok", str(mirror / "toy" / "good.bin")),
        "toy/bad.bin": ("bad", ""),
        "toy/gone.bin": ("missing", ""),
    }
    assert all(r["dataset"] == "toy-verify" for r in rows)
    bad_row = next(r for r in rows if r["status"] == "bad")
    assert "checksum mismatch" in bad_row["message"] and sha(BAD) in bad_row["message"]
    assert (mirror / "toy" / "bad.bin").exists()
    assert "toy-verify" in {r["dataset"] for r in verify_all()}  # default: every dataset
