"""ORL (AT&T) faces: 40 subjects x 10 grey-level 92x112 PGM images, read from the zip."""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from learnbench.datasets.artifacts import Artifact, fetch
from learnbench.datasets.base import DatasetSpec, ParamSpec, Parsed, register, to_unit_float
from learnbench.errors import CorruptArtifactError
from learnbench.validation import Integral, Interval, Options

N_SUBJECTS = 40
PER_SUBJECT = 10
HEIGHT, WIDTH = 112, 92
DOWNSCALES = (1, 2, 4)  # the factors that divide both 112 and 92

# A binary PGM header: magic, width, height, maxval, each after whitespace or '#' comments.
_SEP = rb"(?:\s|#[^\n]*\n)+"
_PGM_HEADER = re.compile(rb"\A(P\d)" + _SEP + rb"(\d+)" + _SEP + rb"(\d+)" + _SEP + rb"(\d+)\s")


def parse_pgm(data: bytes) -> np.ndarray:
    """A binary 8-bit PGM (P5) as a ``(height, width)`` uint8 array; ValueError says what's wrong.

    Hand-written (PIL reads PGM too) because the format is four header fields, and PIL's
    error for a bad header ("cannot identify image file") does not say which field is wrong.
    """
    head = _PGM_HEADER.match(data[:512])
    if head is None:
        raise ValueError(f"bad PGM header {data[:16]!r}: expected 'P5 <width> <height> <maxval>'")
    magic, width, height, maxval = head[1], int(head[2]), int(head[3]), int(head[4])
    if magic != b"P5":
        raise ValueError(f"bad PGM header: magic {magic.decode()!r}, expected 'P5' (binary grey)")
    if not 0 < maxval < 256:
        raise ValueError(f"bad PGM header: maxval {maxval}, expected 1..255 (8-bit)")
    raster = data[head.end() :]
    if len(raster) != width * height:
        raise ValueError(
            f"PGM raster has {len(raster)} bytes, expected {width}x{height} = {width * height}"
        )
    pixels = np.frombuffer(raster, dtype=np.uint8).reshape(height, width)
    if maxval != 255:
        pixels = np.round(pixels.astype(np.float64) * (255 / maxval)).astype(np.uint8)
    return pixels


def downscale_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Shrink a uint8 image by an integer factor with PIL's antialiased bilinear resize.

    This is what ``torchvision.transforms.Resize(size, antialias=True)`` does to a PIL image.
    """
    if factor == 1:
        return image
    from PIL import Image

    h, w = image.shape
    small = Image.fromarray(image).resize(
        (w // factor, h // factor), Image.Resampling.BILINEAR
    )
    return np.asarray(small, dtype=np.uint8)


def split_per_subject(
    labels: np.ndarray, train_per_subject: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each subject, ``train_per_subject`` of its images (chosen by ``seed``) for training.

    Returns sorted (train_index, test_index) into ``labels``.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for subject in np.unique(labels):
        chosen = rng.permutation(np.flatnonzero(labels == subject))
        train.append(chosen[:train_per_subject])
        test.append(chosen[train_per_subject:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@register
class ORL(DatasetSpec):
    """The ORL / AT&T face database with the gcForest paper's k-images-per-subject protocol."""

    name = "orl"
    seeded_split = True
    modality = "image"
    description = (
        "ORL (AT&T) faces: 400 grey-level 92x112 images of 40 subjects, 10 each, taken at "
        "different times with varying lighting, expression and details (glasses), against a "
        "dark background (Olivetti Research Laboratory, 1992-1994)."
    )
    citation = (
        "Samaria, F. & Harter, A. (1994). Parameterisation of a stochastic model for human "
        "face identification. Proceedings of the 2nd IEEE Workshop on Applications of "
        "Computer Vision. The Database of Faces, AT&T Laboratories Cambridge (Olivetti "
        "Research Laboratory)."
    )
    license = (
        "Free for research; credit AT&T Laboratories Cambridge and the Olivetti Research "
        "Laboratory, and cite Samaria & Harter (1994)."
    )
    protocol = (
        "per subject, k of its 10 images (load param train_per_subject, default 5; the gcForest "
        "paper, Zhou & Feng 2017, reports k = 5, 7, 9) drawn at random by the seed for "
        "training, the other 10-k for testing; results are reported per k, averaged over "
        "seeds. Pixels /255; native 112x92, or downscaled by 2 or 4 (PIL antialiased bilinear)."
    )
    sizes = "400 images: 40k train / 40(10-k) test (k=5: 200 / 200)"
    classes = tuple(f"s{s}" for s in range(1, N_SUBJECTS + 1))
    image_shape = (1, HEIGHT, WIDTH)
    parameters = {
        "train_per_subject": ParamSpec(
            default=5,
            constraints=[Interval(Integral, 1, PER_SUBJECT - 1, closed="both")],
            help="training images per subject, 1..9 (paper: 5, 7, 9)",
        ),
        "downscale": ParamSpec(
            default=1,
            constraints=[Options(Integral, set(DOWNSCALES))],
            help=(
                "shrink factor 1, 2 or 4 (112x92, 56x46, 28x23) with PIL's antialiased "
                "bilinear resize, as torchvision Resize does, for CNN learners"
            ),
        ),
    }
    artifacts = (
        Artifact(
            filename="orl/att_faces.zip",
            url="https://www.cl.cam.ac.uk/research/dtg/attarchive/pub/data/att_faces.zip",
            sha256="087853d2aeef17dbf16a4a8e47b7bc295cd3c19d9ecf71baa0760d4137de9f4a",
        ),
    )

    def _parse(self, seed: int, *, train_per_subject: int, downscale: int) -> Parsed:
        """k images per subject for training, chosen by ``seed``; X flattened float32 in [0, 1]."""
        arrays, hit = self.cached_arrays(lambda: self._read(downscale), downscale=downscale)
        images, labels = arrays["images"], arrays["labels"]
        n, h, w = images.shape
        train, test = split_per_subject(labels, train_per_subject, seed)
        return Parsed.take(
            to_unit_float(images.reshape(n, h * w)), labels, train, test,
            cache_hit=hit,
            protocol=(
                f"{train_per_subject} random images per subject for training, "
                f"{PER_SUBJECT - train_per_subject} for testing (gcForest protocol), "
                f"{h}x{w} pixels, seed={seed}"
            ),
            image_shape=(1, h, w),
            meta={
                "seed": seed,
                "train_per_subject": train_per_subject,
                "downscale": downscale,
                "train_index": train,
                "test_index": test,
            },
        )

    def _read(self, downscale: int) -> dict[str, np.ndarray]:
        """All 400 images in subject-major order (index = 10*(s-1) + (m-1)) and their labels."""
        path = fetch(self.artifacts[0])
        images = []
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                for subject in range(1, N_SUBJECTS + 1):
                    for m in range(1, PER_SUBJECT + 1):
                        member = f"att_faces/s{subject}/{m}.pgm"
                        if member not in names:
                            raise CorruptArtifactError(f"{path}: member {member} is missing")
                        image = _read_member(path, zf, member)
                        images.append(downscale_image(image, downscale))
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
            raise CorruptArtifactError(
                f"{path}: not a readable zip archive, truncated or corrupt "
                f"({type(exc).__name__}: {exc})"
            ) from None
        labels = np.repeat(np.arange(N_SUBJECTS, dtype=np.int64), PER_SUBJECT)
        return {"images": np.stack(images), "labels": labels}


def _read_member(path: Path, zf: zipfile.ZipFile, member: str) -> np.ndarray:
    """One 92x112 face; a bad member is a one-line error naming the zip and the member."""
    try:
        data = zf.read(member)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise CorruptArtifactError(
            f"{path}: member {member} cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    try:
        image = parse_pgm(data)
    except ValueError as exc:
        raise CorruptArtifactError(f"{path}: member {member}: {exc}") from None
    if image.shape != (HEIGHT, WIDTH):
        raise CorruptArtifactError(
            f"{path}: member {member} is {image.shape[1]}x{image.shape[0]}, "
            f"expected {WIDTH}x{HEIGHT}"
        )
    return image
