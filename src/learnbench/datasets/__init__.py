"""Datasets: the registry, artifact fetching/verification, and the built-in loaders.

Importing this package registers every built-in dataset: ``mnist``, ``fashion_mnist``,
``orl``, ``imdb``, ``letter``, ``adult``, ``yeast`` (all in the local mirror), ``cifar10``
(download only) and ``digits`` (bundled with scikit-learn).
"""

from learnbench.datasets import (  # noqa: F401  (register the built-ins)
    adult,
    cifar10,
    digits,
    fashion_mnist,
    imdb,
    letter,
    mnist,
    orl,
    yeast,
)
from learnbench.datasets.artifacts import Artifact, fetch, safe_extract, verify_all
from learnbench.datasets.base import (
    Dataset,
    DatasetSpec,
    dataset_names,
    get_dataset_spec,
    load_dataset,
    register,
)

__all__ = [
    "Artifact",
    "Dataset",
    "DatasetSpec",
    "dataset_names",
    "fetch",
    "get_dataset_spec",
    "load_dataset",
    "register",
    "safe_extract",
    "verify_all",
]
