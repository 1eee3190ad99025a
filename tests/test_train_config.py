"""TrainConfig: YAML + overrides, typed coercion, errors that name the key; schedules; data order; shipped configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fcmatch.train.config import ConfigError, TrainConfig, coerce, field_docs, load_config
from fcmatch.train.data import micro_batches, step_examples
from fcmatch.train.loop import lr_factor

# the training configs; sweep-*, fewshot-*, distill-* and metacog-*.yaml belong to other commands (tests/test_sweep.py,
# tests/test_fewshot_grid.py, tests/test_train_distill_run.py, tests/test_metacog_cli.py)
CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")
                 if not p.name.startswith(("sweep-", "fewshot-", "distill-", "metacog-")))


def test_every_field_has_a_one_line_doc():
    docs = field_docs()
    assert set(docs) == set(TrainConfig().to_dict())
    assert all(doc and "\n" not in doc for doc in docs.values())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_config(path)
    from fcmatch.tasks import TASKS

    assert config.task in TASKS and config.train_file


def test_yaml_then_overrides_with_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train_file: t.jsonl\nlr: 1e-3\nmethod: dora\n")
    config = load_config(path, {"lr": "5e-4", "packing": "false", "max_steps": "7", "target_modules": "q_proj,v_proj"})
    assert (config.lr, config.packing, config.max_steps, config.method) == (5e-4, False, 7, "dora")
    assert config.target_modules == ["q_proj", "v_proj"]
    assert coerce("adam_betas", "[0.8, 0.9]") == [0.8, 0.9]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"train_file": "t", "learning_rate": 1}, "unknown config key 'learning_rate'"),
        ({"train_file": "t", "batch_size": "many"}, "batch_size: expected an integer"),
        ({"train_file": "t", "packing": "yes please"}, "packing: expected true or false"),
        ({"train_file": "t", "method": "prefix"}, "method='prefix'"),
        ({"train_file": "t", "early_stopping_patience": 2}, "early_stopping_patience needs a val_file"),
        ({"train_file": "t", "batch_size": 0}, "batch_size=0 must be >= 1"),
        ({"train_file": "t", "method": "full", "target_modules": ["q_proj"]}, "target_modules only applies"),
        ({"train_file": "t", "report_to": ["neptune"]}, "report_to: unknown backend 'neptune'"),
        ({}, "train_file is required"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, values, message):
    path = tmp_path / "c.yaml"
    import yaml

    path.write_text(yaml.safe_dump(values))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(path)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_lr_schedules_by_hand():
    # 2 warmup steps of 10: 1/2, 2/2, then cosine over the 8 remaining steps
    assert [lr_factor(s, 10, 2, "cosine") for s in (0, 1)] == [0.5, 1.0]
    assert lr_factor(6, 10, 2, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert lr_factor(6, 10, 2, "linear") == pytest.approx(0.5)
    assert lr_factor(9, 10, 0, "constant") == 1.0


def test_step_examples_is_a_seeded_endless_shuffle():
    # 5 examples, 2 per step: steps 0-1 and the first half of step 2 cover epoch 0 exactly once
    first_epoch = step_examples(5, 2, 0, 0) + step_examples(5, 2, 0, 1) + step_examples(5, 2, 0, 2)[:1]
    assert sorted(first_epoch) == [0, 1, 2, 3, 4]
    assert step_examples(5, 2, 0, 7) == step_examples(5, 2, 0, 7)
    assert step_examples(5, 4, 0, 0) != step_examples(5, 4, 1, 0)


def test_micro_batches_split_a_global_batch_over_processes():
    examples = list("abcdefgh")
    indices = [0, 1, 2, 3, 4, 5, 6, 7]
    assert list(micro_batches(examples, indices, 2, 0, 2)) == [["a", "b"], ["e", "f"]]
    assert list(micro_batches(examples, indices, 2, 1, 2)) == [["c", "d"], ["g", "h"]]
    assert list(micro_batches(examples, indices, 4, 0, 1)) == [["a", "b", "c", "d"], ["e", "f", "g", "h"]]


def test_glibc_malloc_is_tuned_on_linux():
    import sys

    from fcmatch.train.cpu import memory

    assert memory.keep_freed_memory() is sys.platform.startswith("linux")


def test_huge_pages_follow_the_variable_the_kernel_mode_and_the_allocator(monkeypatch, tmp_path):
    from fcmatch.train.cpu import memory

    mode = tmp_path / "enabled"
    monkeypatch.setattr(memory, "THP_SETTING", mode)
    monkeypatch.setattr(memory, "malloc_allocator_installed", lambda: False)  # an earlier sft may have installed it
    # torch read the variable at this process's first allocation; its own check is tested in a fresh process
    monkeypatch.setattr(memory, "torch_advises_huge_pages", lambda: True)
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    for text, expected in (("always [madvise] never", True), ("[always] madvise never", True),
                           ("always madvise [never]", False)):
        mode.write_text(text)
        assert memory.huge_pages() is expected
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    mode.write_text("[always] madvise never")
    assert memory.huge_pages() is False
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    monkeypatch.setattr(memory, "malloc_allocator_installed", lambda: True)
    assert memory.huge_pages() is False  # fcmatch's allocator does not ask for huge pages
    monkeypatch.setattr(memory, "malloc_allocator_installed", lambda: False)
    mode.unlink()
    assert memory.huge_pages() is False  # no THP support in the kernel


def test_importing_fcmatch_changes_no_environment_variable():
    import os
    import subprocess
    import sys

    code = ("import json, os; before = dict(os.environ); import fcmatch, fcmatch.train, fcmatch.train.cpu, torch; "
            "torch.empty(1 << 20); print(json.dumps([dict(os.environ) == before, fcmatch.train.cpu.memory.huge_pages()]))")
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[true, false]"  # nothing set, so torch's tensors get no huge pages either


def test_fast_paths_setting_is_checked():
    assert TrainConfig(train_file="t", fast_paths="off").validate().fast_paths == "off"
    with pytest.raises(ConfigError, match="fast_paths='on': choose one of auto, off"):
        TrainConfig(train_file="t", fast_paths="on").validate()
