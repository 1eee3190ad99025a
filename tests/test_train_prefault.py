"""Faulting the training heap in during start-up (``fcmatch.train.memory.Prefault``) and how ``sft`` sizes it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from fcmatch.train import memory
from fcmatch.train.data import Example, collate, largest_micro_batch, micro_batches, step_examples
from test_train_loop import config


def test_prefaulted_blocks_are_reused_without_new_faults():
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's heap settings are Linux only")
    code = textwrap.dedent("""
        import resource, time
        from fcmatch.train import memory

        faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = memory.Prefault.BLOCK
        with memory.Prefault(6 * block) as prefault:
            assert len(prefault.blocks) == 6
            deadline = time.monotonic() + 60
            while prefault.written < 6 * block and time.monotonic() < deadline:
                time.sleep(0.01)
        assert prefault.written == 6 * block and not prefault.blocks
        libc = memory._libc()
        before = faults()
        blocks = [libc.malloc(block) for _ in range(5)]  # the freed heap, already faulted in
        for b in blocks:
            libc.memset(b, 1, block)
        reused = faults() - before
        fresh = [libc.malloc(block) for _ in range(5)]  # beyond it: every page is new
        before = faults()
        for b in fresh:
            libc.memset(b, 1, block)
        print(reused, faults() - before)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    reused, fresh = map(int, done.stdout.split())
    pages = 5 * memory.Prefault.BLOCK // 4096
    assert fresh > pages // 2  # 4 KiB pages (or fewer with huge pages, but never a handful)
    assert reused < pages // 20


def test_finish_stops_early_and_nothing_below_one_block():
    assert memory.Prefault(memory.Prefault.BLOCK - 1).finish() == 0
    prefault = memory.Prefault(64 * memory.Prefault.BLOCK if memory.keep_freed_memory() else 0)
    written = prefault.finish()  # at once: at most the block it was on
    assert written % memory.Prefault.BLOCK == 0 and written <= 64 * memory.Prefault.BLOCK
    assert prefault.blocks == [] and prefault.finish() == written


def test_activation_bytes_counts_five_hidden_and_two_intermediate_vectors_per_layer():
    smollm2 = SimpleNamespace(hidden_size=576, intermediate_size=1536, num_hidden_layers=30)
    assert memory.activation_bytes(smollm2, 4) == 4 * 30 * (5 * 576 + 2 * 1536) == 714_240
    assert memory.activation_bytes(smollm2, 2) == 357_120
    assert memory.activation_bytes(SimpleNamespace(hidden_size=8), 4) == 0


def _brute_force(examples, global_batch, batch_size, seed, steps, rank, world, packing):
    widest = 0
    for step in steps:
        for group in micro_batches(examples, step_examples(len(examples), global_batch, seed, step), batch_size, rank, world):
            batch = collate(group, packing)
            widest = max(widest, batch.tokens if packing else batch.input_ids.numel())
    return widest


@pytest.mark.parametrize("packing", [True, False])
@pytest.mark.parametrize(("batch_size", "accum", "world", "rank"), [(3, 1, 1, 0), (2, 3, 1, 0), (2, 2, 2, 1), (4, 1, 2, 0)])
def test_largest_micro_batch_matches_the_batches_training_makes(packing, batch_size, accum, world, rank):
    import random

    draw = random.Random(7)
    examples = [Example([1] * n, [-100] * n) for n in (draw.randint(1, 40) for _ in range(11))]  # epochs of 11
    global_batch = batch_size * accum * world
    for steps in (range(9), range(4, 13), range(0)):
        expected = _brute_force(examples, global_batch, batch_size, 5, steps, rank, world, packing)
        assert largest_micro_batch(examples, global_batch, batch_size, 5, steps, rank, world, packing) == expected
    # a limit on the positions looked at: only the first steps
    assert largest_micro_batch(examples, global_batch, batch_size, 5, range(1000), rank, world, packing,
                               limit=2 * global_batch) == _brute_force(examples, global_batch, batch_size, 5, range(2),
                                                                       rank, world, packing)


def test_sft_sizes_the_prefault_for_the_largest_micro_batch(tiny_model_dir, tmp_path, monkeypatch):
    from conftest import write_jsonl
    from fcmatch.models import load_model_config, load_tokenizer
    from fcmatch.train import loop
    from fcmatch.train.data import load_conversations, tokenize_all
    from test_train_loop import causal_records

    data = write_jsonl(tmp_path / "train.jsonl", causal_records())
    cfg = config(tiny_model_dir, data, tmp_path / "run", max_steps=4, save_every=0)
    train = tokenize_all(load_tokenizer(cfg.model), load_conversations(cfg.train_file, cfg.task), cfg.max_length)
    tokens = largest_micro_batch(train, cfg.batch_size, cfg.batch_size, cfg.seed, range(4))
    assert memory.activation_bytes(load_model_config(cfg.model), 4) > 0  # the tiny Llama's config has the sizes
    monkeypatch.setattr(memory, "activation_bytes", lambda model_config, size: 3 * memory.Prefault.BLOCK // tokens + 1)
    with loop._prefault(cfg, train, 4, 0, 1) as prefault:
        assert len(prefault.blocks) == (3 if memory.keep_freed_memory() else 0)
    monkeypatch.setenv("FCMATCH_PREFAULT", "0")
    with loop._prefault(cfg, train, 4, 0, 1) as prefault:
        assert prefault.blocks == []
    run = loop.sft(cfg)
    assert json.loads((run / "manifest.json").read_text())["prefault_mb"] == 0
