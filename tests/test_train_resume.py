"""A run killed with SIGKILL after a checkpoint and resumed ends with the weights of an uninterrupted run;
two processes (gloo) end with the weights of one process on the same global batch.

The killed run and the process group run in forked children: they inherit the imported libraries, so
each costs a second instead of the ~15 s a fresh interpreter needs to import transformers and peft.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import traceback

import pytest
import torch
from safetensors.torch import load_file

from fcmatch.train import TrainConfig, checkpoint, sft
from fcmatch.train import distributed as dist_mod

PAIRS = [("rain", "drought"), ("money", "debt"), ("sun", "cold"), ("food", "hunger"), ("work", "poverty"), ("sleep", "stress"),
         ("heat", "ice"), ("wind", "calm")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from conftest import write_jsonl

    records = [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]} for a, b in PAIRS]
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", records)


def config(tiny_model_dir, data, out, **kw) -> TrainConfig:
    base = dict(model=str(tiny_model_dir), train_file=str(data), output_dir=str(out), batch_size=2, max_steps=8,
                lr=1e-2, lora_r=4, warmup_steps=2, save_every=4, progress=False, num_threads=1)
    return TrainConfig(**{**base, **kw})


def _adapter(run):
    return load_file(run / "adapter" / "adapter_model.safetensors")


def _in_child(target, *args) -> multiprocessing.Process:
    def wrapped():
        try:
            target(*args)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)  # skip pytest's atexit handlers inherited through fork

    process = multiprocessing.get_context("fork").Process(target=wrapped)
    process.start()
    return process


def _train_then_die(cfg: TrainConfig, die_at_step: int) -> None:
    calls = {"n": 0}
    original = dist_mod.sum_gradients

    def sum_gradients(params):
        # called once per optimizer step, after backward and before the update
        calls["n"] += 1
        if calls["n"] == die_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        original(params)

    dist_mod.sum_gradients = sum_gradients
    sft(cfg)


def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny_model_dir, data, tmp_path):
    # dropout on, so the restored RNG state matters too
    whole = sft(config(tiny_model_dir, data, tmp_path / "whole", lora_dropout=0.1))
    killed_cfg = config(tiny_model_dir, data, tmp_path / "killed", lora_dropout=0.1)
    child = _in_child(_train_then_die, killed_cfg, 7)
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path / "killed")] == ["step-000004"]
    assert not (tmp_path / "killed" / "adapter").exists()

    killed_cfg.resume = True
    resumed = sft(killed_cfg)
    expected, got = _adapter(whole), _adapter(resumed)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    steps = [line for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 8  # lines the killed run logged after its checkpoint were dropped on resume


def test_resume_refuses_a_changed_setting(tiny_model_dir, data, tmp_path):
    sft(config(tiny_model_dir, data, tmp_path / "r", max_steps=4))
    with pytest.raises(ValueError, match="--resume: lr=0.5 differs"):
        sft(config(tiny_model_dir, data, tmp_path / "r", max_steps=4, lr=0.5, resume=True))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(cfg: TrainConfig, rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    sft(cfg)
    dist_mod.shutdown()


def test_two_processes_match_one_process_on_the_same_global_batch(tiny_model_dir, data, tmp_path):
    # global batch 4 examples: one process x 4, or two processes x 2; dropout off (per-process RNG streams)
    single = sft(config(tiny_model_dir, data, tmp_path / "one", batch_size=4, max_steps=4, lora_dropout=0.0))
    cfg = config(tiny_model_dir, data, tmp_path / "two", batch_size=2, max_steps=4, lora_dropout=0.0)
    port = _free_port()
    children = [_in_child(_rank, cfg, rank, port) for rank in (0, 1)]
    for child in children:
        child.join(120)
    assert [c.exitcode for c in children] == [0, 0]
    expected, got = _adapter(single), _adapter(tmp_path / "two")
    # one process of 2 threads and two of 1 sum the batch's gradients in another order; Adam's normalisation lifts
    # that last-bit difference to ~1e-6 on an update of a near-zero gradient after 4 steps (seen on an AVX2 CPU)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5)
    assert any(v.abs().sum() > 0 for k, v in got.items() if "lora_B" in k)
