"""Metric sinks: metrics.jsonl always; TensorBoard, Weights & Biases, MLflow when asked and installed.

A backend is a factory ``(run_folder, config_dict) -> Sink``; a sink has ``log(step, metrics)`` and
``close()``; a ``package`` attribute on the factory names the module it imports, so that a run can check it is
installed before it starts. Add a backend by adding an entry to ``BACKENDS``.

Where each backend writes: TensorBoard to ``RUN/tensorboard``; Weights & Biases to ``RUN/wandb`` (offline with
``WANDB_MODE=offline``, then ``wandb sync``); MLflow to its tracking URI, ``RUN/mlruns`` unless
``MLFLOW_TRACKING_URI`` names a server or store.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol


class Sink(Protocol):
    """Receives one dict of metrics per logged step."""

    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """Appends one JSON object per logged step to ``metrics.jsonl``, flushed at once."""

    def __init__(self, path: Path, keep_until: int | None = None) -> None:
        """Open ``path``; with ``keep_until`` (a resume), drop lines logged after that step first."""
        if keep_until is not None and path.is_file():
            kept = [line for line in path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= keep_until]
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            tmp.replace(path)
        self._handle = open(path, "a", encoding="utf-8")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._handle.write(json.dumps({"step": step, **metrics}) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class _TensorBoard:
    package = "tensorboard"  # torch.utils.tensorboard needs it

    def __init__(self, run: Path, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(run / "tensorboard"))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._writer.close()


class _Wandb:
    package = "wandb"

    def __init__(self, run: Path, config: dict[str, Any]) -> None:
        import wandb

        self._run = wandb.init(project="fcmatch", name=run.name, dir=str(run), config=config)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._run.log(metrics, step=step)

    def close(self) -> None:
        self._run.finish()


class _Mlflow:
    package = "mlflow"

    def __init__(self, run: Path, config: dict[str, Any]) -> None:
        import mlflow

        self._mlflow = mlflow
        if not os.environ.get("MLFLOW_TRACKING_URI"):  # keep the run's records in its folder, not in ./mlruns
            mlflow.set_tracking_uri((run / "mlruns").resolve().as_uri())
        mlflow.start_run(run_name=run.name)
        mlflow.log_params({k: str(v) for k, v in config.items()})

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._mlflow.log_metrics(metrics, step=step)

    def close(self) -> None:
        self._mlflow.end_run()


BACKENDS: dict[str, Callable[[Path, dict[str, Any]], Sink]] = {
    "tensorboard": _TensorBoard,
    "wandb": _Wandb,
    "mlflow": _Mlflow,
}


def missing_packages(names: list[str]) -> list[str]:
    """The packages that the named backends need and that are not installed, found without importing them."""
    needed = [getattr(BACKENDS[name], "package", None) for name in names if name in BACKENDS]
    return [module for module in needed if module and importlib.util.find_spec(module) is None]


def open_sinks(run: Path, config: dict[str, Any], names: list[str], keep_until: int | None) -> list[Sink]:
    """metrics.jsonl plus the named backends.

    Raises:
        RuntimeError: a named backend's package is not installed (the message says which to install).
    """
    sinks: list[Sink] = [JsonlSink(run / "metrics.jsonl", keep_until)]
    for name in names:
        try:
            sinks.append(BACKENDS[name](run, config))
        except ImportError as err:
            raise RuntimeError(f"report_to: {name} needs its package ({err.name}); pip install {err.name}") from None
    return sinks
