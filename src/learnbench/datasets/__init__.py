"""Datasets: the registry, artifact fetching/verification, and the built-in loaders.

Importing this package registers every built-in dataset: ``mnist``, ``fashion_mnist``,
``orl``, ``imdb``, ``letter``, ``adult``, ``yeast`` (all in the local mirror), ``cifar10``
(download only) and ``digits`` (bundled with scikit-learn).

Adding a dataset is one module here: a ``DatasetSpec`` subclass decorated with ``@register``
that declares its artifacts, card facts and ``parameters`` and implements ``_parse`` (see
:mod:`learnbench.datasets.base`). Every module of this package is imported here (found by
``pkgutil``, as benchopt finds its datasets by convention), so no list names it.
"""

import importlib
import pkgutil

from learnbench.datasets.artifacts import Artifact, fetch, safe_extract, verify_all
from learnbench.datasets.base import (
    Dataset,
    DatasetSpec,
    ParamSpec,
    Parsed,
    UnknownParamError,
    dataset_names,
    get_dataset_spec,
    load_dataset,
    register,
)

__all__ = [
    "Artifact",
    "Dataset",
    "DatasetSpec",
    "ParamSpec",
    "Parsed",
    "UnknownParamError",
    "dataset_names",
    "fetch",
    "get_dataset_spec",
    "load_dataset",
    "register",
    "safe_extract",
    "verify_all",
]

for _module in pkgutil.iter_modules(__path__):  # register the built-ins, by convention
    importlib.import_module(f"{__name__}.{_module.name}")
