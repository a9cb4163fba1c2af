"""gcForest (Zhou & Feng, *Deep Forest*, IJCAI 2017; extended version arXiv:1702.08835).

Section and figure numbers in these docstrings refer to the extended arXiv text (v4,
"Deep Forest"), the copy transcribed in ``baselines/published/gcforest_zhou_feng_2017.csv``:
Section 3.1 / Figure 2 cascade forest, Section 3.2 / Figure 4 multi-grained scanning,
Section 3.3 / Figure 5 overall procedure and Table 1 hyper-parameters, Section 4.1 settings.

- :class:`MultiGrainedScanner`: the scanning transformer, usable alone;
- :class:`CascadeForestClassifier`: the cascade alone (registry ``gcforest_cascade``);
- :class:`GCForestClassifier`: scanning + cascade (registry ``gcforest``).

Nothing here imports torch.
"""

from learnbench.learners.gcforest.cascade import CascadeForestClassifier
from learnbench.learners.gcforest.estimator import GCForestClassifier
from learnbench.learners.gcforest.scanning import MultiGrainedScanner, default_window_sizes, extract_windows

__all__ = [
    "CascadeForestClassifier",
    "GCForestClassifier",
    "MultiGrainedScanner",
    "default_window_sizes",
    "extract_windows",
]
