"""Metric sinks and early stopping: what reaches each backend, where it writes, and when a run stops."""

from __future__ import annotations

import json
import sys
import types

import pytest
from safetensors.torch import load_file

from fcmatch.train import ConfigError, TrainConfig, loop, reporting, sft
from fcmatch.train.reporting import open_sinks

RECORDS = [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]}
           for a, b in [("rain", "drought"), ("money", "debt"), ("sun", "cold"), ("food", "hunger")]]


class Recorder:
    """A backend that keeps what it is sent."""

    def __init__(self):
        self.logged, self.closed, self.opened = [], False, None

    def __call__(self, run, config):
        self.opened = (run, config)
        return self

    def log(self, step, metrics):
        self.logged.append({"step": step, **metrics})

    def close(self):
        self.closed = True


def test_early_stopping_stops_keeps_the_best_step_and_every_sink_sees_the_same_metrics(
        tiny_model_dir, tmp_path, monkeypatch):
    from conftest import write_jsonl

    data = write_jsonl(tmp_path / "train.jsonl", RECORDS)
    recorder = Recorder()
    monkeypatch.setitem(reporting.BACKENDS, "recorder", recorder)
    scripted = iter([3.0, 2.0, 2.5, 2.6, 0.5, 0.4])  # evaluations at steps 2, 4, 6, 8, ...
    monkeypatch.setattr(loop, "evaluate", lambda model, val, config: next(scripted))
    run = sft(TrainConfig(model=str(tiny_model_dir), train_file=str(data), val_file=str(data),
                          output_dir=str(tmp_path / "run"), batch_size=2, max_steps=20, lr=1e-2, lora_r=4,
                          eval_every=2, early_stopping_patience=2, save_every=5, report_to=["recorder"],
                          progress=False, num_threads=1))

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, 9))  # no better loss at 6 and 8: stop after step 8
    assert [m.get("val_loss") for m in lines if "val_loss" in m] == [3.0, 2.0, 2.5, 2.6]
    assert recorder.logged == lines and recorder.closed
    assert recorder.opened[0] == run and recorder.opened[1]["early_stopping_patience"] == 2
    assert json.loads((run / "best" / "best.json").read_text()) == {"step": 4, "val_loss": 2.0}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["steps"] == 8 and manifest["best_val_loss"] == 2.0
    # the step it stopped at is checkpointed (save_every=5 alone would not have), so --resume has it
    assert sorted(p.name for p in (run / "checkpoints").iterdir())[-1] == "step-000008"
    best = load_file(str(run / "best" / "trainable.safetensors"))
    exported = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    assert len(best) == len(exported) > 0
    for name, value in best.items():  # the adapter written is step 4's, not step 8's
        key = name.replace(".default", "")
        assert (exported[key] == value).all(), name


def test_a_backend_without_its_package_fails_before_anything_loads(monkeypatch, tmp_path):
    monkeypatch.setattr(reporting.BACKENDS["tensorboard"], "package", "no_such_module_fcmatch")
    with pytest.raises(ConfigError, match=r"report_to=\['tensorboard'\] needs no_such_module_fcmatch, not installed here: "
                       r"pip install no_such_module_fcmatch"):
        # the train file does not exist either: the package check comes first, before the data and the model
        sft(TrainConfig(train_file=str(tmp_path / "missing.jsonl"), output_dir=str(tmp_path / "run"),
                        report_to=["tensorboard"]))
    assert not (tmp_path / "run").exists()


@pytest.fixture
def fake_backends(monkeypatch):
    """Stand-ins for the tensorboard, wandb and mlflow modules that record every call."""
    calls = []

    def recording(name):
        return lambda *args, **kwargs: calls.append((name, args, kwargs)) or types.SimpleNamespace(
            log=recording("wandb.log"), finish=recording("wandb.finish"))

    tensorboard = types.ModuleType("torch.utils.tensorboard")

    class SummaryWriter:
        def __init__(self, log_dir):
            calls.append(("SummaryWriter", (log_dir,), {}))

        def add_scalar(self, key, value, step):
            calls.append(("add_scalar", (key, value, step), {}))

        def close(self):
            calls.append(("close", (), {}))

    tensorboard.SummaryWriter = SummaryWriter
    wandb = types.ModuleType("wandb")
    wandb.init = recording("wandb.init")
    mlflow = types.ModuleType("mlflow")
    for fn in ("set_tracking_uri", "start_run", "log_params", "log_metrics", "end_run"):
        setattr(mlflow, fn, recording(f"mlflow.{fn}"))
    for name, module in (("torch.utils.tensorboard", tensorboard), ("wandb", wandb), ("mlflow", mlflow)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return calls


def test_each_backend_gets_the_metrics_and_writes_under_the_run(tmp_path, fake_backends):
    sinks = open_sinks(tmp_path, {"lr": 0.01}, ["tensorboard", "wandb", "mlflow"], None)
    for sink in sinks:
        sink.log(3, {"loss": 1.5})
        sink.close()
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 3, "loss": 1.5}
    assert ("SummaryWriter", (str(tmp_path / "tensorboard"),), {}) in fake_backends
    assert ("add_scalar", ("loss", 1.5, 3), {}) in fake_backends
    assert ("wandb.init", (), {"project": "fcmatch", "name": tmp_path.name, "dir": str(tmp_path),
                               "config": {"lr": 0.01}}) in fake_backends
    assert ("wandb.log", ({"loss": 1.5},), {"step": 3}) in fake_backends
    assert ("mlflow.set_tracking_uri", ((tmp_path / "mlruns").resolve().as_uri(),), {}) in fake_backends
    assert ("mlflow.log_params", ({"lr": "0.01"},), {}) in fake_backends
    assert ("mlflow.log_metrics", ({"loss": 1.5},), {"step": 3}) in fake_backends
    assert [c[0] for c in fake_backends if c[0] in ("close", "wandb.finish", "mlflow.end_run")] == [
        "close", "wandb.finish", "mlflow.end_run"]


def test_mlflow_keeps_a_tracking_uri_the_user_set(tmp_path, fake_backends, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    open_sinks(tmp_path, {}, ["mlflow"], None)
    assert not [c for c in fake_backends if c[0] == "mlflow.set_tracking_uri"]
