"""What a run was: package versions, git commit, data hash, seed, hardware, wall time, peak memory."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import torch

PACKAGES = ("fcmatch", "torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors", "tokenizers")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(where: Path | None = None) -> str | None:
    """HEAD of the git checkout holding this source file (None outside one), '+dirty' when modified."""
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def hardware() -> dict[str, Any]:
    """CPU, core counts, memory and accelerators of this machine."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss; Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(config: dict[str, Any], data_sha256: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The manifest dict; ``extra`` carries the run's measurements (wall time, tokens, peak memory)."""
    manifest = {
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": git_commit(),
        "data_sha256": data_sha256,
        "seed": config["seed"],
        "hardware": hardware(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "command": sys.argv,
    }
    if torch.cuda.is_available():
        manifest["peak_cuda_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return {**manifest, **extra}
