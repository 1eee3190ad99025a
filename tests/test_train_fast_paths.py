"""``fast_paths``: the CPU fast path (``fcmatch.train.cpu``) against the plain peft path on the same tiny model, what
config.yaml and manifest.json record of it, and that ``fast_paths: off`` changes nothing process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from safetensors.torch import load_file

from fcmatch.train import TrainConfig, sft
from fcmatch.train.cpu import kernels


@pytest.fixture(scope="module")
def head64_model_dir(tmp_path_factory):
    """The tiny Llama with SmolLM2's head size (64), so that packed rows can take the attention kernel."""
    from conftest import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny64"), hidden=128, heads=2, kv_heads=1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from conftest import write_jsonl

    pairs = [("rain", "drought"), ("money", "debt"), ("sun", "cold"), ("food", "hunger"), ("work", "poverty")]
    records = [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]} for a, b in pairs]
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", records)


def config(model_dir, data, out, **kw) -> TrainConfig:
    # no dropout: the fast path draws its positions from another stream than peft's nn.Dropout (the same law)
    base = dict(model=str(model_dir), train_file=str(data), output_dir=str(out), batch_size=3, max_steps=4, lr=1e-2,
                lora_r=4, lora_dropout=0.0, warmup_steps=1, save_every=0, eval_every=0, progress=False, num_threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def runs(head64_model_dir, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast-paths")
    return {mode: sft(config(head64_model_dir, data, folder / mode, fast_paths=mode)) for mode in ("auto", "off")}


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_auto_and_off_train_the_same_losses_and_adapter(runs):
    auto, off = (_metrics(runs[mode]) for mode in ("auto", "off"))
    assert len(auto) == len(off) == 4
    for fast, plain in zip(auto, off, strict=True):  # fp32 sums in another order: rounding apart, over 4 steps
        assert fast["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert auto[-1]["loss"] < auto[0]["loss"]
    fast, plain = (load_file(runs[mode] / "adapter" / "adapter_model.safetensors") for mode in ("auto", "off"))
    assert fast.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-3, atol=1e-4)


def test_config_and_manifest_record_the_choice_and_what_ran(runs):
    for mode in ("auto", "off"):
        assert yaml.safe_load((runs[mode] / "config.yaml").read_text())["fast_paths"] == mode
    auto = json.loads((runs["auto"] / "manifest.json").read_text())["fast_paths"]
    off = json.loads((runs["off"] / "manifest.json").read_text())
    assert {k: v for k, v in off["fast_paths"].items() if k != "environment"} == {"config": "off", "resolved": "off"}
    assert {"huge_pages", "cpu_allocator"} <= set(off)  # this process's state, whichever path ran
    assert auto["config"] == "auto" and auto["resolved"] == "cpu"
    assert set(auto["process"]) == {"malloc_tuned", "allocator", "huge_pages"}
    assert auto["process"]["malloc_tuned"] is sys.platform.startswith("linux")
    layers = auto["layers"]
    assert layers["fused"] == 2 * 7 and layers["residual"] == 2 and layers["dropout"] == 0  # 2 layers x 7 adapters
    built = kernels.library() is not None
    assert auto["kernels"]["built"] is built
    assert auto["attention_kernel"] is built  # fp32, head size 64, no attention dropout
    if built:
        assert layers["norm"] == 2 * 2 + 1 and layers["rotary"] == 2
        assert auto["kernels"]["isa"] == kernels.library().isa
        assert auto["kernels"]["vector_width"] in (4, 8, 16)
        assert "-ffast-math" not in auto["kernels"]["flags"] and "-O3" in auto["kernels"]["flags"]


def test_the_environment_switches_are_recorded(head64_model_dir, data, tmp_path, monkeypatch):
    monkeypatch.setenv("FCMATCH_KERNELS", "0")
    kernels.library.cache_clear()
    try:
        run = sft(config(head64_model_dir, data, tmp_path / "k0", max_steps=1))
    finally:
        kernels.library.cache_clear()
    section = json.loads((run / "manifest.json").read_text())["fast_paths"]
    assert section["kernels"] == {"built": False} and section["attention_kernel"] is False
    assert section["environment"]["FCMATCH_KERNELS"] == "0"
    assert section["layers"]["fused"] == 2 * 7 and section["layers"]["norm"] == 0  # PyTorch twins, no C norm


def test_off_changes_nothing_process_wide(head64_model_dir, data, tmp_path):
    """In a fresh process, an sft run with fast_paths off leaves os.environ as it was, keeps torch's allocator and
    glibc's malloc settings, and neither builds nor loads the C kernels."""
    code = textwrap.dedent(f"""
        import json, os, sys
        before = dict(os.environ)
        from fcmatch.train import TrainConfig, sft
        from fcmatch.train.cpu import kernels, memory
        sft(TrainConfig(model={str(head64_model_dir)!r}, train_file={str(data)!r}, output_dir={str(tmp_path / "off")!r},
                        batch_size=3, max_steps=1, lora_r=4, save_every=0, eval_every=0, progress=False, num_threads=1,
                        fast_paths="off"))
        print(json.dumps({{"environ": dict(os.environ) == before, "allocator": memory.malloc_allocator_installed(),
                          "mallopt": memory.keep_freed_memory.cache_info().currsize,
                          "kernels": kernels.library.cache_info().currsize}}))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE", "FCMATCH_KERNELS")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"environ": True, "allocator": False, "mallopt": 0, "kernels": 0}
    manifest = json.loads((tmp_path / "off" / "manifest.json").read_text())
    assert manifest["cpu_allocator"] == "torch" and manifest["huge_pages"] is False


def test_auto_resolves_to_the_plain_path_off_the_cpu(monkeypatch):
    from fcmatch.train import cpu

    monkeypatch.delenv("FCMATCH_KERNELS", raising=False)
    monkeypatch.delenv("FCMATCH_ALLOCATOR", raising=False)
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    assert cpu.enabled("auto", "cpu") and not cpu.enabled("off", "cpu")
    assert not cpu.enabled("auto", "cuda") and not cpu.enabled("auto", torch.device("cuda", 1))
    assert cpu.record("auto", "cuda", None, None) == {"config": "auto", "resolved": "off"}
