"""Datasets: the registry, artifact fetching/verification, and the built-in loaders.

Importing this package registers every built-in dataset (``mnist``, ``digits``).
"""

from learnbench.datasets import digits, mnist  # noqa: F401  (register the built-ins)
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
