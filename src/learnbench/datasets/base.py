"""The dataset contract: a registered ``DatasetSpec`` loads into a ``Dataset`` of arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from learnbench.errors import UnknownNameError

Modality = Literal["image", "text", "tabular"]


@dataclass
class Dataset:
    """A loaded train/test split, ready for a scikit-learn-style learner.

    Images are flattened to ``(n, C*H*W)`` float32 in [0, 1] so every learner sees a 2-D
    array; ``image_shape`` = ``(C, H, W)`` lets CNN learners reshape. Labels are int64 in
    ``0..len(classes)-1``.
    """

    name: str
    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    classes: list[str]
    modality: Modality
    citation: str
    protocol: str = ""
    image_shape: tuple[int, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


class DatasetSpec:
    """One dataset: its artifacts, card facts, and how to load it.

    Subclasses set the class attributes and implement :meth:`load`. Adding a dataset is one
    module with one subclass decorated by :func:`register`.
    """

    name: ClassVar[str]
    modality: ClassVar[Modality]
    description: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    license: ClassVar[str] = ""
    protocol: ClassVar[str] = ""
    artifacts: ClassVar[tuple] = ()  # tuple[Artifact, ...]; empty for bundled data
    # Card facts (optional): class names, "N train / M test" in words, the (C, H, W) of
    # image sets, and the load() parameters as {name: "default; what it does"}.
    classes: ClassVar[tuple[str, ...]] = ()
    sizes: ClassVar[str] = ""
    image_shape: ClassVar[tuple[int, ...] | None] = None
    load_params: ClassVar[dict[str, str]] = {}

    def load(self, seed: int = 0, **params: Any) -> Dataset:
        """Return the dataset's train/test split.

        ``seed`` picks seeded splits where the protocol has one.
        """
        raise NotImplementedError

    def card(self) -> dict[str, Any]:
        """Facts for ``learnbench datasets info`` and the report's dataset table."""
        return {
            "name": self.name,
            "modality": self.modality,
            "description": self.description,
            "protocol": self.protocol,
            "license": self.license,
            "citation": self.citation,
            "artifacts": [a.filename for a in self.artifacts],
            "sizes": self.sizes,
            "n_classes": len(self.classes) or None,
            "classes": list(self.classes),
            "image_shape": self.image_shape,
            "load_params": dict(self.load_params),
            "urls": [a.url for a in self.artifacts],
        }


_REGISTRY: dict[str, type[DatasetSpec]] = {}


def register(cls: type[DatasetSpec]) -> type[DatasetSpec]:
    """Class decorator adding a ``DatasetSpec`` subclass to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def dataset_names() -> list[str]:
    return sorted(_REGISTRY)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec registered under ``name``; ``UnknownNameError`` lists the valid names."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownNameError("dataset", name, dataset_names()) from None


def load_dataset(name: str, seed: int = 0, **params: Any) -> Dataset:
    """Load a registered dataset by name."""
    return get_dataset_spec(name).load(seed=seed, **params)


LoaderFn = Callable[..., Dataset]
