"""learnbench: compare deep and classical learners on real datasets, reproducibly.

Data flows one way: ``datasets`` -> ``learners`` -> ``harness`` -> ``records`` -> ``reporting``.
Each stage is usable alone from Python.
"""

__version__ = "0.1.0"
