"""The dataset contract: a registered ``DatasetSpec`` loads into a ``Dataset`` of arrays.

Modelled on torchvision's dataset classes: a dataset is data (class attributes: artifacts,
card facts, a parameter schema) over one shared flow, :meth:`DatasetSpec.load`, which checks
the parameters, runs the dataset's own :meth:`DatasetSpec._parse` (whose slow part the
parsed-array cache keeps, see :meth:`DatasetSpec.cached_arrays`) and assembles the
``Dataset``. Adding a dataset is one module with one ``@register``-ed subclass that sets the
class attributes and implements ``_parse``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from learnbench.datasets.parsed_cache import Arrays, cache_key, load_or_build
from learnbench.errors import LearnbenchError, UnknownNameError
from learnbench.validation import Integral, Interval, check_params

Modality = Literal["image", "text", "tabular"]

SEED_CONSTRAINTS: dict[str, list[Any]] = {"seed": [Interval(Integral, 0, None, closed="left")]}
"""What every dataset accepts as ``seed`` (numpy's and scikit-learn's seeds are >= 0)."""


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


@dataclass(frozen=True)
class ParamSpec:
    """One ``load()`` parameter of a dataset: its default, its allowed values, one line of help.

    ``constraints`` is a list in scikit-learn's constraint language (``Interval``,
    ``StrOptions``, ``"boolean"``, ``None``...; see :mod:`learnbench.validation`).
    """

    default: Any
    constraints: list[Any]
    help: str

    def describe(self) -> str:
        """The card's ``"default; what it does"`` line."""
        return f"{self.default!r}; {self.help}"


@dataclass
class Parsed:
    """What a spec's ``_parse`` returns; :meth:`DatasetSpec.load` makes the ``Dataset`` of it.

    ``meta`` holds the dataset's own extras; ``load`` adds ``source_files`` (when the spec has
    artifacts) and ``cache_hit`` (when ``cache_hit`` is not None, i.e. the parsed cache was
    consulted). ``protocol``, ``image_shape`` and ``classes`` default to the class attributes;
    a load whose parameters change them (a downscale, a chosen ``k``) says so here.
    """

    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    cache_hit: bool | None = None
    protocol: str | None = None
    image_shape: tuple[int, ...] | None = None
    classes: Sequence[str] | None = None

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any], **fields: Any) -> Parsed:
        """A split stored as ``arrays["X_train"]``... (a parsed-cache entry); ``fields`` override."""
        split = {k: arrays[k] for k in ("X_train", "y_train", "X_test", "y_test")}
        return cls(**{**split, **fields})

    @classmethod
    def from_pixels(cls, arrays: Mapping[str, Any], **fields: Any) -> Parsed:
        """:meth:`from_arrays` for uint8 images: X_train and X_test become float32 in [0, 1]."""
        X = {k: to_unit_float(arrays[k]) for k in ("X_train", "X_test")}
        return cls.from_arrays(arrays, **{**X, **fields})

    @classmethod
    def take(
        cls, X: Any, y: np.ndarray, train: np.ndarray, test: np.ndarray, **fields: Any
    ) -> Parsed:
        """The rows ``train`` / ``test`` of one pool ``(X, y)``, for seeded splits."""
        return cls(X_train=X[train], y_train=y[train], X_test=X[test], y_test=y[test], **fields)


class UnknownParamError(LearnbenchError, TypeError):
    """A ``load()`` parameter the dataset does not declare; the message lists the valid ones.

    A ``TypeError`` too, as Python's own error for an unexpected keyword argument is.
    """

    def __init__(self, dataset: str, unknown: Sequence[str], valid: Sequence[str]) -> None:
        self.dataset, self.unknown, self.valid = dataset, list(unknown), list(valid)
        noun = "parameter" if len(unknown) == 1 else "parameters"
        super().__init__(
            f"dataset {dataset!r} has no {noun} {', '.join(repr(u) for u in unknown)}; "
            f"valid parameters: {', '.join(valid) or '(none)'}"
        )


def to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1] (exactly ``p / 255``), the convention of image sets."""
    X = pixels.astype(np.float32)
    X /= 255.0
    return X


class DatasetSpec:
    """One dataset: its artifacts, card facts, parameter schema, and how to parse it.

    A subclass sets the class attributes and implements :meth:`_parse`; :meth:`load` (not to
    be overridden) is the one flow every dataset shares. Adding a dataset is one module with
    one subclass decorated by :func:`register`.
    """

    #: True when the train/test split is drawn with the seed (digits, ORL, YEAST); False for
    #: a fixed, official split, where only learners and subsampling can make seeds differ.
    seeded_split: ClassVar[bool] = False
    name: ClassVar[str]
    modality: ClassVar[Modality]
    description: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    license: ClassVar[str] = ""
    protocol: ClassVar[str] = ""
    artifacts: ClassVar[tuple] = ()  # tuple[Artifact, ...]; empty for bundled data
    # The load() parameters besides ``seed``, each declared once: the schema load() checks,
    # the defaults _parse receives and the card's ``load_params`` lines all come from here.
    parameters: ClassVar[Mapping[str, ParamSpec]] = {}
    # Bump when _parse's cached output changes, so no stale parsed-cache entry is reused.
    cache_version: ClassVar[int] = 1
    # Card facts (optional): class names, "N train / M test" in words, the (C, H, W) of
    # image sets.
    classes: ClassVar[tuple[str, ...]] = ()
    sizes: ClassVar[str] = ""
    image_shape: ClassVar[tuple[int, ...] | None] = None

    # ----------------------------------------------------------------- the shared flow

    def load(self, seed: int = 0, **params: Any) -> Dataset:
        """Return the dataset's train/test split for ``seed`` and ``params``.

        ``seed`` picks seeded splits where the protocol has one (fixed splits ignore it) and
        must be an int >= 0 for every dataset. An undeclared parameter raises
        :class:`UnknownParamError`, a bad value ``InvalidParamError``, each one line.
        """
        check_params(SEED_CONSTRAINTS, {"seed": seed}, self.owner)
        parsed = self._parse(seed, **self.resolve_params(params))
        meta = dict(parsed.meta)
        if self.source_artifacts:
            meta["source_files"] = [a.filename for a in self.source_artifacts]
        if parsed.cache_hit is not None:
            meta["cache_hit"] = parsed.cache_hit
        return Dataset(
            name=self.name,
            X_train=parsed.X_train,
            y_train=parsed.y_train,
            X_test=parsed.X_test,
            y_test=parsed.y_test,
            classes=list(self.classes if parsed.classes is None else parsed.classes),
            modality=self.modality,
            citation=self.citation,
            protocol=self.protocol if parsed.protocol is None else parsed.protocol,
            image_shape=self.image_shape if parsed.image_shape is None else parsed.image_shape,
            meta=meta,
        )

    def _parse(self, seed: int, **params: Any) -> Parsed:
        """The split for ``seed`` and the declared ``params`` (every one, defaults filled in).

        Implemented by each dataset; the slow, deterministic part should go through
        :meth:`cached_arrays` so that a second load reads arrays instead of parsing.
        """
        raise NotImplementedError

    # ----------------------------------------------------------------- helpers for _parse

    @property
    def owner(self) -> str:
        """How errors name this dataset: ``dataset 'mnist'``."""
        return f"dataset {self.name!r}"

    @property
    def source_artifacts(self) -> tuple:
        """The artifacts ``_parse`` reads (not the documentation-only ones): they key the
        parsed cache and are listed in ``meta['source_files']``."""
        return tuple(a for a in self.artifacts if a.parsed)

    def resolve_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` checked against :attr:`parameters`, with every default filled in.

        Public so that callers (a suite parser) can check a dataset's parameters early.
        """
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise UnknownParamError(self.name, unknown, list(self.parameters))
        check_params(
            {k: list(p.constraints) for k, p in self.parameters.items()}, params, self.owner
        )
        return {k: params.get(k, p.default) for k, p in self.parameters.items()}

    def cached_arrays(self, build: Callable[[], Arrays], **key_params: Any) -> tuple[Arrays, bool]:
        """``build()``'s arrays, kept in the parsed cache; returns ``(arrays, cache_hit)``.

        The entry is keyed by this dataset's name, :attr:`cache_version`, the hashes of its
        :attr:`source_artifacts` and ``key_params`` (the parameters the arrays depend on).
        """
        key = cache_key(self.name, self.source_artifacts, key_params, version=self.cache_version)
        return load_or_build(self.name, key, build)

    # ----------------------------------------------------------------- card

    @property
    def load_params(self) -> dict[str, str]:
        """``{name: "default; what it does"}`` for the card, derived from :attr:`parameters`."""
        return {k: p.describe() for k, p in self.parameters.items()}

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
            "load_params": self.load_params,
            "urls": [a.url for a in self.artifacts],
        }


def check_spec(cls: type[DatasetSpec]) -> None:
    """Raise ``TypeError`` unless ``cls`` follows the contract (checked by :func:`register`).

    It must implement ``_parse`` and not ``load``, take exactly its declared parameters as
    ``_parse``'s keywords, declare valid defaults, and not write ``load_params`` by hand.
    """
    where = f"dataset spec {cls.__name__} ({cls.name!r})"
    if cls.load is not DatasetSpec.load:
        raise TypeError(f"{where} overrides load(); implement _parse() instead")
    if any("load_params" in vars(k) for k in cls.__mro__ if k is not DatasetSpec):
        raise TypeError(f"{where} sets load_params; declare `parameters` (ParamSpec) instead")
    if cls._parse is DatasetSpec._parse:
        raise TypeError(f"{where} does not implement _parse()")
    signature = inspect.signature(cls._parse)
    if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        taken = [n for n in signature.parameters if n not in ("self", "seed")]
        if sorted(taken) != sorted(cls.parameters):
            raise TypeError(
                f"{where}: _parse() takes {taken} but `parameters` declares {list(cls.parameters)}"
            )
    for name, param in cls.parameters.items():
        check_params({name: list(param.constraints)}, {name: param.default}, where)


_REGISTRY: dict[str, type[DatasetSpec]] = {}


def register(cls: type[DatasetSpec]) -> type[DatasetSpec]:
    """Class decorator adding a ``DatasetSpec`` subclass to the registry under ``cls.name``.

    The class is checked first (:func:`check_spec`), so a malformed one fails at import.
    """
    check_spec(cls)
    _REGISTRY[cls.name] = cls
    return cls


def dataset_names() -> list[str]:
    """The registered dataset names (plug-ins included, see :mod:`learnbench.plugins`), sorted."""
    from learnbench.plugins import load_plugins

    load_plugins()
    return sorted(_REGISTRY)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec registered under ``name``; ``UnknownNameError`` lists the valid names."""
    if name not in _REGISTRY:
        dataset_names()  # a plug-in may register it
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownNameError("dataset", name, dataset_names()) from None


def load_dataset(name: str, seed: int = 0, **params: Any) -> Dataset:
    """Load a registered dataset by name."""
    return get_dataset_spec(name).load(seed=seed, **params)


LoaderFn = Callable[..., Dataset]
