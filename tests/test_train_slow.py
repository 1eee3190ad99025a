"""Slow training checks (``pytest -m slow``): torchrun through the CLI, and the real SmolLM2 on the demo data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fcmatch.train import TrainConfig, sft

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "fcmatch" / "resources" / "demo" / "train.jsonl"


def _records(path: Path) -> Path:
    from conftest import write_jsonl

    pairs = [("rain", "drought"), ("money", "debt"), ("sun", "cold"), ("food", "hunger")]
    return write_jsonl(path, [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]}
                              for a, b in pairs])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_torchrun_two_processes_through_the_cli(tiny_model_dir, tmp_path):
    data = _records(tmp_path / "d.jsonl")
    common = ["--model", str(tiny_model_dir), "--train-file", str(data), "--max-steps", "3", "--lora-dropout", "0",
              "--progress", "false", "--num-threads", "1", "--lr", "0.01"]
    torchrun = str(Path(sys.executable).parent / "torchrun")
    subprocess.run([torchrun, "--nproc_per_node", "2", "-m", "fcmatch.cli", "train", *common, "--batch-size", "1",
                    "--output-dir", str(tmp_path / "two")], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    one = sft(TrainConfig(model=str(tiny_model_dir), train_file=str(data), max_steps=3, lora_dropout=0.0, progress=False,
                          num_threads=1, lr=0.01, batch_size=2, output_dir=str(tmp_path / "one")))
    expected = load_file(one / "adapter" / "adapter_model.safetensors")
    got = load_file(tmp_path / "two" / "adapter" / "adapter_model.safetensors")
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["world_size"] == 2


@pytest.mark.slow
def test_real_model_loss_falls_on_demo_data(tmp_path):
    if not DEMO.is_file():
        pytest.skip("demo data absent")
    run = sft(TrainConfig(train_file=str(DEMO), output_dir=str(tmp_path / "run"), max_steps=6, batch_size=4, lr=1e-3,
                          warmup_steps=1, save_every=0, progress=False))
    losses = [json.loads(x)["loss"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-2:]) < sum(losses[:2])
    assert json.loads((run / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m-instruct"
