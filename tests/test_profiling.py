"""Profiling: op classes, the profiled window's schema, learner options, roofline inputs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from learnbench.errors import LearnbenchError
from learnbench.harness import roofline
from learnbench.harness.profiling import OP_CLASSES, flop_counter, op_class, profile_steps
from learnbench.learners import make_learner

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

PHASE_KEYS = {"batch_size", "warmup", "steps", "step_ms_median", "step_ms_p95",
              "profiled_step_ms_median", "profiler_overhead", "flops_per_step",
              "achieved_tflops", "top_ops", "time_by_class_ms", "trace"}
OP_KEYS = {"name", "op_class", "calls", "total_ms", "mean_us", "share"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aten::convolution", "convolution"),
        ("aten::mkldnn_convolution", "convolution"),
        ("aten::convolution_backward", "convolution"),
        ("aten::_conv_depthwise2d", "convolution"),
        ("void implicit_convolve_sgemm<float, float, 128, 5, 5, 3, 3, 3, 1, false>(...)",
         "convolution"),
        ("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize128x128",
         "convolution"),
        ("sm80_xmma_dgrad_implicit_gemm_indexed_tf32f32_tf32f32_f32_nhwckrsc_nchw", "convolution"),
        ("void cudnn::winograd_nonfused::winogradForwardData4x4<float, float>(...)", "convolution"),
        ("void at::native::conv_depthwise2d_forward_kernel<3, float, int>(...)", "convolution"),
        ("aten::addmm", "gemm"),
        ("aten::mm", "gemm"),
        ("aten::matmul", "gemm"),
        ("sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize128x128x32_warpgroupsize1x1x1", "gemm"),
        ("ampere_sgemm_128x64_nn", "gemm"),
        ("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_64x64_16x6_tn_align4>(...)", "gemm"),
        ("void splitKreduce_kernel<32, 16, int, float, float, float>(...)", "gemm"),
        ("aten::relu", "elementwise"),
        ("aten::threshold_backward", "elementwise"),
        ("aten::add_", "elementwise"),
        ("aten::_foreach_addcdiv_", "elementwise"),
        ("void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)"
         "::launch_clamp_scalar(...)>", "elementwise"),
        ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<...>", "elementwise"),
        ("Memcpy HtoD (Pageable -> Device)", "memory"),
        ("Memset (Device)", "memory"),
        ("aten::copy_", "memory"),
        ("aten::fill_", "memory"),
        ("aten::cat", "memory"),
        ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, "
         "std::array<char*, 1ul> >(int, at::native::FillFunctor<float>, std::array<char*, 1ul>)",
         "memory"),
        ("void at::native::(anonymous namespace)::CatArrayBatchedCopy<float, unsigned int, 4>",
         "memory"),
        ("aten::max_pool2d_with_indices", "other"),
        ("aten::native_batch_norm", "other"),
        ("void cudnn::bn_fw_tr_1C11_kernel_NCHW<float, float, int, 512, true, 1, true>(...)",
         "other"),
        ("aten::nll_loss_forward", "other"),
        ("Optimizer.step#Adam.step", "other"),
    ],
)
def test_op_class_of_aten_and_kernel_names(name: str, expected: str) -> None:
    assert op_class(name) == expected


@pytest.fixture(scope="module")
def digits_lenet():
    """A LeNet-5 fitted one epoch on 8x8 digits (fast on CPU), with training rows."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X[:300] / 16.0).astype(np.float32)
    y = y[:300]
    est = make_learner("lenet5", max_epochs=1, batch_size=32, predict_batch_size=64, device="cpu",
                       random_state=0).fit(X, y)
    return est, X, y


def test_profile_steps_on_cpu_returns_the_schema(digits_lenet, tmp_path: Path) -> None:
    est, X, y = digits_lenet
    fns = est.profiling_steps(X, y)
    assert set(fns) == {"train", "infer"}
    trace_dir = tmp_path / "traces"
    out = profile_steps(fns, "cpu", warmup=1, steps=3, trace_dir=trace_dir, name="cell")
    assert out["max_memory_allocated_mb"] is None
    for phase, P in out["phases"].items():
        assert set(P) == PHASE_KEYS, phase
        assert P["batch_size"] == (32 if phase == "train" else 64)
        assert (P["warmup"], P["steps"]) == (1, 3)
        assert 0 < P["step_ms_median"] <= P["step_ms_p95"]
        assert P["profiled_step_ms_median"] > 0
        assert P["profiler_overhead"] == pytest.approx(
            P["profiled_step_ms_median"] / P["step_ms_median"], rel=1e-2)
        assert 0 < len(P["top_ops"]) <= 10
        for op in P["top_ops"]:
            assert set(op) == OP_KEYS and op["op_class"] in OP_CLASSES
            assert op["calls"] >= 1 and op["total_ms"] > 0 and op["mean_us"] > 0
        shares = [op["share"] for op in P["top_ops"]]
        assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-3
        assert set(P["time_by_class_ms"]) == set(OP_CLASSES)
        assert P["time_by_class_ms"]["convolution"] > 0
        # FLOPs are FlopCounterMode's count of one step (LeNet has no grouped convs, so the
        # fixed conv-backward formula agrees with torch's own)
        counter = FlopCounterMode(display=False)
        with counter:
            fns[phase].eager()
        assert P["flops_per_step"] == counter.get_total_flops() > 0
        assert P["achieved_tflops"] == pytest.approx(
            P["flops_per_step"] / (P["step_ms_median"] / 1e3) / 1e12, rel=1e-3)
        # the gzipped Chrome trace, named relative to the run directory
        assert P["trace"] == f"traces/cell-{phase}.json.gz"
        trace = json.loads(gzip.decompress((tmp_path / P["trace"]).read_bytes()))
        assert trace["traceEvents"]
        assert out["trace_bytes"][phase] == (tmp_path / P["trace"]).stat().st_size
    # a training step does three times the forward FLOPs (forward + two backward matmuls)
    per_row = {ph: P["flops_per_step"] / P["batch_size"] for ph, P in out["phases"].items()}
    assert per_row["train"] == pytest.approx(3 * per_row["infer"], rel=0.05)


@pytest.mark.parametrize("groups", [1, 16])
def test_training_flops_of_a_conv_are_three_times_its_forward(groups: int) -> None:
    conv = nn.Conv2d(16, 16, 3, padding=1, groups=groups)
    x = torch.randn(4, 16, 10, 10, requires_grad=True)
    forward, step = FlopCounterMode(display=False), flop_counter()
    with forward:
        conv(x)
    with step:
        conv(x).sum().backward()
    # torch's formula counts a grouped conv's weight gradient `groups` times too high
    assert step.get_total_flops() == 3 * forward.get_total_flops()


def test_profile_without_trace_dir_writes_none(digits_lenet) -> None:
    est, X, y = digits_lenet
    out = profile_steps({"infer": est.profiling_steps(X, y)["infer"]}, "cpu", warmup=0, steps=1)
    assert out["phases"]["infer"]["trace"] is None and list(out["phases"]) == ["infer"]


def test_profiling_steps_leave_the_fitted_model_unchanged(digits_lenet) -> None:
    est, X, y = digits_lenet
    before = est.predict_proba(X)
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    fns = est.profiling_steps(X, y, batch_size=16)
    assert fns["train"].batch_size == fns["infer"].batch_size == 16
    for _ in range(3):
        fns["train"]()
        fns["infer"]()
    after = est.module_.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    np.testing.assert_array_equal(before, est.predict_proba(X))


def test_learners_with_their_own_loss_get_their_own_steps() -> None:
    """The siamese net's step is its pair loss (two embeddings per anchor), not a softmax."""
    import copy

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    est = make_learner("siamese_contrastive", max_epochs=1, device="cpu", random_state=0,
                       input_shape=(1, 8, 8))
    est.fit(X[:120], y[:120])
    before = copy.deepcopy(est.module_.state_dict())
    steps = est.profiling_steps(X[:50], y[:50])
    assert set(steps) == {"train", "infer"}
    trained = steps["train"].module
    start = copy.deepcopy(trained.state_dict())
    steps["train"]()
    steps["infer"]()
    assert any(not torch.equal(start[k], v) for k, v in trained.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in est.module_.state_dict().items())


def test_amp_bf16_fits_and_predicts_on_cpu(digits_lenet) -> None:
    _, X, y = digits_lenet
    est = make_learner("lenet5", max_epochs=1, batch_size=32, device="cpu", random_state=0,
                       amp="bf16").fit(X, y)
    assert est.get_params()["amp"] == "bf16"
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 10) and np.allclose(proba.sum(axis=1), 1)
    fns = est.profiling_steps(X, y)
    counter = FlopCounterMode(display=False)
    with counter:
        fns["train"]()
    assert counter.get_total_flops() > 0


@pytest.mark.slow
def test_compile_fits_predicts_and_pickles(digits_lenet) -> None:
    import pickle

    if not hasattr(torch, "compile"):
        pytest.skip("torch.compile unavailable")
    _, X, y = digits_lenet
    est = make_learner("lenet5", max_epochs=1, batch_size=64, device="cpu", random_state=0,
                       compile=True)
    try:
        est.fit(X[:128], y[:128])
    except Exception as exc:  # no C compiler / inductor backend on this machine
        if "compile" in type(exc).__module__ or "Inductor" in type(exc).__name__:
            pytest.skip(f"torch.compile cannot build here: {type(exc).__name__}")
        raise
    pred = est.predict(X[:64])
    clone = pickle.loads(pickle.dumps(est))
    assert "_compiled_module" not in clone.__dict__
    assert type(clone.module_).__name__ == "LeNet5"
    np.testing.assert_array_equal(pred, clone.predict(X[:64]))


def test_options_off_give_the_same_model_as_before(digits_lenet) -> None:
    _, X, y = digits_lenet
    plain = make_learner("lenet5", max_epochs=1, batch_size=32, device="cpu", random_state=0)
    explicit = make_learner("lenet5", max_epochs=1, batch_size=32, device="cpu", random_state=0,
                            amp=None, compile=False, cudnn_benchmark=True)  # CPU: no effect
    np.testing.assert_array_equal(plain.fit(X, y).predict_proba(X),
                                  explicit.fit(X, y).predict_proba(X))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"amp": "fp16"}, "The 'amp' parameter of LeNet5Classifier must be None or a str among "
                          "{'bf16'}. Got 'fp16' instead."),
        ({"compile": "yes"}, "The 'compile' parameter of LeNet5Classifier must be an instance "
                             "of 'bool' or an instance of 'numpy.bool'. Got 'yes' instead."),
        ({"cudnn_benchmark": 1}, "The 'cudnn_benchmark' parameter of LeNet5Classifier must be "
                                 "an instance of 'bool' or an instance of 'numpy.bool'. Got 1 "
                                 "instead."),
    ],
)
def test_invalid_options_are_one_line_errors(digits_lenet, params: dict, expected: str) -> None:
    _, X, y = digits_lenet
    with pytest.raises(LearnbenchError) as err:
        make_learner("lenet5", max_epochs=1, device="cpu", **params).fit(X, y)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_depthwise_conv_has_lower_intensity_than_pointwise() -> None:
    from learnbench.learners.mobilenet import DepthwiseSeparable

    block = DepthwiseSeparable(64, 128)
    found = roofline.layer_intensity(block, torch.zeros(32, 64, 14, 14))
    kinds = {layer["kind"]: layer for layer in found["layers"]}
    assert set(kinds) == {"depthwise conv", "pointwise conv"}
    dw, pw = kinds["depthwise conv"], kinds["pointwise conv"]
    # depthwise 3x3: 2 * 9 * 64 * 14 * 14 FLOPs per sample; pointwise: 2 * 64 * 128 * 14 * 14
    assert dw["flops"] == 32 * 2 * 9 * 64 * 14 * 14 and pw["flops"] == 32 * 2 * 64 * 128 * 14 * 14
    assert dw["bytes"] == 4 * (64 * 9 + 2 * 32 * 64 * 14 * 14)  # weights + input + output
    assert dw["intensity"] < 5 < pw["intensity"]
    assert found["flops"] == dw["flops"] + pw["flops"]
    assert 0 < found["intensity"] < pw["intensity"]


def test_layer_kinds() -> None:
    assert roofline.layer_kind(nn.Conv2d(3, 8, 3)) == "conv"
    assert roofline.layer_kind(nn.Conv2d(8, 8, 3, groups=8)) == "depthwise conv"
    assert roofline.layer_kind(nn.Conv2d(8, 16, 1)) == "pointwise conv"
    assert roofline.layer_kind(nn.Linear(4, 2)) == "linear"
    assert roofline.layer_kind(nn.ReLU()) == "other"


@pytest.mark.parametrize(
    ("name", "source", "fp32", "bf16"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM5", 67.0, 989.4),
        ("NVIDIA H100 PCIe", "H100 PCIe", 51.0, 756.0),
        ("NVIDIA H200", "H200 SXM", 67.0, 989.4),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM", 19.5, 312.0),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB", 19.5, 312.0),
        ("NVIDIA L4", "L4 datasheet", 30.3, 121.0),
        ("NVIDIA L40S", "L40S", 91.6, 362.05),
        ("NVIDIA A10", "A10 datasheet", 31.2, 125.0),
        ("Tesla V100-SXM2-16GB", "V100 SXM2", 15.7, None),
        ("NVIDIA GeForce RTX 4090", "RTX 4090", 82.6, 165.2),
    ],
)
def test_peak_table_lookup(name: str, source: str, fp32: float, bf16: float | None) -> None:
    peak = roofline.peak_for(name)
    assert peak["peak_tflops"] == fp32 and source in peak["peak_source"]
    assert peak["peak_bandwidth_gbs"] > 0
    assert roofline.peak_for(name, "bfloat16")["peak_tflops"] == bf16


def test_unknown_device_has_no_peak() -> None:
    assert roofline.peak_for("Some Future GPU") is None


def test_measured_roofs_on_cpu_are_positive_and_cached() -> None:
    tflops = roofline.measured_matmul_tflops("cpu", n=256)
    assert tflops > 0 and roofline.measured_matmul_tflops("cpu", n=256) == tflops
    assert roofline.measured_bandwidth_gbs("cpu", n=2**20) > 0


@pytest.mark.cuda
@cuda
def test_profile_steps_on_cuda(digits_lenet, tmp_path: Path) -> None:
    _, X, y = digits_lenet
    est = make_learner("lenet5", max_epochs=1, batch_size=32, device="cuda", random_state=0,
                       cudnn_benchmark=True).fit(X, y)
    out = profile_steps(est.profiling_steps(X, y), "cuda", warmup=2, steps=3,
                        trace_dir=tmp_path / "traces", name="cell")
    assert out["max_memory_allocated_mb"] > 0
    for P in out["phases"].values():
        assert set(P) == PHASE_KEYS and P["step_ms_median"] > 0 and P["top_ops"]
        assert sum(op["share"] for op in P["top_ops"]) <= 1 + 1e-3
    roof = roofline.roofline("cuda", "float32")
    assert roof["measured_matmul_tflops"] > 0 and roof["measured_bandwidth_gbs"] > 0


@pytest.mark.cuda
@cuda
def test_amp_bf16_on_cuda(digits_lenet) -> None:
    _, X, y = digits_lenet
    est = make_learner("lenet5", max_epochs=1, device="cuda", random_state=0, amp="bf16").fit(X, y)
    assert est.predict(X).shape == (len(X),)
