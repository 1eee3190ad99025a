"""The training loop: ``sft(config) -> run folder``. Entry point: ``fcmatch train CONFIG.yaml [--key value ...]``.

One optimizer step = ``grad_accum`` micro-batches of ``batch_size`` examples in each process. Every
micro-batch's summed completion-token loss is divided by the loss-token count of the whole global batch
(known from the data before any forward pass), so gradients summed over micro-batches and processes equal
the gradient of the token-weighted mean loss of the global batch, however it is split.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import psutil
import torch
import yaml
from safetensors.torch import load_file

from fcmatch.train import attention, checkpoint, cpu, distributed, manifest
from fcmatch.train.config import ConfigError, TrainConfig
from fcmatch.train.data import (
    Example,
    collate,
    data_hash,
    load_conversations,
    micro_batches,
    step_examples,
    tokenize_all,
)
from fcmatch.train.loss import autocast_dtype, use_fp32_master_weights
from fcmatch.train.methods import METHODS, trainable_parameters
from fcmatch.train.reporting import open_sinks

log = logging.getLogger(__name__)
# settings that may differ between a run and its resumption: they change neither the weights nor the data order
# (checkpoints hold whole tensors under ddp and fsdp alike, so a run may resume under the other one)
RESUMABLE_CHANGES = {"resume", "progress", "report_to", "num_threads", "log_every", "eval_every", "save_every",
                     "keep_checkpoints", "distributed"}


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate for 0-based optimizer step ``step`` of ``total``.

    Linear warmup from 1/warmup to 1 over ``warmup`` steps, then cosine or linear decay towards 0, or constant.
    """
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else max(0.0, 1 - progress)


def _fused_adam(params: Any, sharded: bool) -> bool:
    """Whether AdamW can run fused (one kernel per tensor): plain floating tensors on CPU or CUDA, not FSDP's shards.

    On CPU the default loop implementation took 23 ms per step for SmolLM2's 420 LoRA tensors, the fused one 4.7 ms.
    """
    return not sharded and all(type(p) is torch.nn.Parameter and p.is_floating_point()
                               and p.device.type in ("cpu", "cuda") for p in params)


def _grad_scaler(model: Any, params: dict[str, torch.Tensor], sharded: bool) -> torch.amp.GradScaler:
    """Dynamic loss scaling for an fp16 model, whose trainable parameters are fp32 by then (LoRA's adapters, or the
    master weights ``_load`` made with ``loss.use_fp32_master_weights``); disabled (all its calls pass through)
    otherwise: fp32 and bf16 need none.

    Raises:
        ConfigError: fp16 under FSDP, whose shards would each see only their own overflows.
    """
    fp16 = autocast_dtype(model) == torch.float16
    if fp16 and sharded:
        raise ConfigError("dtype=float16 with distributed=fsdp: loss scaling is not supported there; use bfloat16")
    return torch.amp.GradScaler(next(iter(params.values())).device.type, enabled=fp16)


def total_steps(config: TrainConfig, n_examples: int) -> int:
    """Optimizer steps of the run: ``max_steps``, or enough global batches to cover ``epochs`` passes."""
    if config.max_steps:
        return config.max_steps
    global_batch = config.batch_size * config.grad_accum * distributed.world()
    return max(1, math.ceil(config.epochs * n_examples / global_batch))


def _dtype(config: TrainConfig, device: torch.device) -> torch.dtype:
    """``auto``: ``default_dtype`` (fp32 on CPUs, whose fast path, ``fcmatch.train.cpu``, is fp32).

    On a CPU with AMX a bf16 base takes peft's own layers: no faster on the whole step and 40% more memory
    (359 vs 357 tokens/s, 5.0 vs 3.6 GB peak on SmolLM2).
    """
    from fcmatch.models import dtype_named

    return dtype_named(config.dtype, device)


def _check_run_folder(run: Path, config: TrainConfig) -> Path | None:
    """The checkpoint to resume from (None: start fresh); refuses to overwrite a finished or started run."""
    saved = run / "config.yaml"
    if not config.resume:
        if any((run / name).exists() for name in ("checkpoints", "adapter", "model", "metrics.jsonl")):
            raise ConfigError(f"output_dir={run} already holds a run; pass --resume to continue it or choose another output_dir")
        return None
    if saved.is_file():
        before = yaml.safe_load(saved.read_text())
        defaults = TrainConfig().to_dict()  # a key the run's config lacks came later: the run had its default
        for key, value in config.to_dict().items():
            if key not in RESUMABLE_CHANGES and before.get(key, defaults[key]) != value:
                raise ConfigError(f"--resume: {key}={value!r} differs from the run's {before.get(key)!r} in {saved}")
    found = checkpoint.list_checkpoints(run)
    if not found:
        log.warning("--resume: no checkpoint in %s; starting from step 0", run)
        shutil.rmtree(run / "metrics.jsonl", ignore_errors=True)
        return None
    return found[-1]


def evaluate(model: Any, examples: list[Example], config: TrainConfig) -> float:
    """Token-weighted mean completion loss over ``examples`` (sharded over processes), in eval mode."""
    model.eval()
    mine = examples[distributed.rank()::distributed.world()]
    loss, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(mine), config.batch_size):
            batch = collate(mine[start: start + config.batch_size], config.packing)
            loss += distributed.loss_sum(model, batch, config.loss_chunk).item()
            tokens += batch.loss_tokens
    model.train()
    loss, tokens = distributed.sum_floats(loss, tokens)
    return loss / max(tokens, 1)


def _save_best(run: Path, params: dict[str, torch.Tensor], step: int, val_loss: float) -> None:
    weights = distributed.gather_full(params)  # every process takes part in gathering shards
    if distributed.rank() != 0:
        return
    tmp, final = run / ".tmp-best", run / "best"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    checkpoint.save_weights(weights, tmp / "trainable.safetensors")
    (tmp / "best.json").write_text(f'{{"step": {step}, "val_loss": {val_loss}}}')
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _export(run: Path, model: Any, tokenizer: Any, adapter: bool, state_dict: dict[str, torch.Tensor] | None) -> Path:
    """Save the adapter (``RUN/adapter``) or the whole model and tokenizer (``RUN/model``), atomically.

    ``state_dict``: whole tensors of a sharded model (None: the model's own).
    """
    final = run / ("adapter" if adapter else "model")
    tmp = run / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    if adapter:  # the base's embeddings never train here; skip peft's look-up of the base config by name
        model.save_pretrained(tmp, safe_serialization=True, save_embedding_layers=False, state_dict=state_dict)
    else:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
    if not adapter:
        tokenizer.save_pretrained(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _load(config: TrainConfig, tokenizer: Any, fast: bool) -> tuple[Any, dict[str, Any] | None]:
    """The model ready to train, and what the CPU fast path applied to it (None: ``fast`` is off)."""
    from fcmatch.models import load

    method = METHODS[config.method]
    device = distributed.device()
    # FSDP: load on the CPU and let fully_shard move one unit at a time to the device as it shards it, so
    # no device ever holds the whole model (a 4-bit base is quantised as it loads, so it loads on the device)
    sharding = config.distributed == "fsdp" and distributed.active() and not method.quantize
    model, _ = load(config.model, quantize=method.quantize, dtype=_dtype(config, device),
                    device="cpu" if sharding else device, tokenizer=tokenizer)
    torch.manual_seed(config.seed)  # the adapter's random init
    model = method.prepare(model, config)
    # before FSDP shards them: the shards are then fp32 too
    if upcast := use_fp32_master_weights(model, trainable_parameters(model)):
        log.info("%d trained %s tensors became fp32 master weights; the body still runs in that dtype under autocast",
                 upcast, str(autocast_dtype(model)).removeprefix("torch."))
    model.train()
    if config.packing:
        attention.enable(model)
    applied = cpu.prepare(model, config) if fast else None
    if config.gradient_checkpointing:
        # transformers renamed it (activation_*), keeping the old name as a deprecated alias until v6
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.distributed == "fsdp":
        model = distributed.shard(model)
    return model, applied


def sft(config: TrainConfig) -> Path:
    """Supervised fine-tuning; writes and returns the run folder ``config.output_dir``.

    The run folder holds ``adapter/`` (peft; ``fcmatch.models.load(RUN)`` loads it) or ``model/`` (for
    bitfit and full), ``config.yaml``, ``manifest.json``, ``metrics.jsonl``, ``checkpoints/`` and, with
    a validation file, ``best/`` (the exported weights are then the best validation step's).

    Raises:
        ConfigError: a bad or contradictory setting, or an output_dir that already holds a run (without resume).
        FileNotFoundError, ValueError: missing or malformed data files.
    """
    config.validate()
    started = time.perf_counter()
    # process-wide settings first: torch reads THP_MEM_ALLOC_ENABLE at its first CPU allocation
    fast = cpu.enabled(config.fast_paths, distributed.device())
    setup = cpu.process_setup() if fast else None
    distributed.init()
    rank, world = distributed.rank(), distributed.world()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    torch.set_num_threads(config.num_threads or max(1, (psutil.cpu_count(logical=False) or 1) // local_world))
    random.seed(config.seed)
    run = Path(config.output_dir)
    resume_from = _check_run_folder(run, config)
    distributed.barrier()  # every process has checked the folder before rank 0 writes into it

    # the data first: a malformed file fails before the model spends seconds loading
    from fcmatch.models import load_tokenizer

    tokenizer = load_tokenizer(config.model)
    train = tokenize_all(tokenizer, load_conversations(config.train_file, config.task, config.max_train_examples),
                         config.max_length)
    val = tokenize_all(tokenizer, load_conversations(config.val_file, config.task), config.max_length) if config.val_file else []
    steps = total_steps(config, len(train))
    model, applied = _load(config, tokenizer, fast)
    warmup = config.warmup_steps or int(config.warmup_ratio * steps)
    params = trainable_parameters(model)
    sharded = distributed.sharded(model)  # FSDP: params are DTensor shards
    if not params:
        raise RuntimeError(f"method={config.method} left no trainable parameters")
    optimizer = torch.optim.AdamW(list(params.values()), lr=config.lr, betas=tuple(config.adam_betas),
                                  weight_decay=config.weight_decay, fused=_fused_adam(params.values(), sharded))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps, warmup, config.schedule))
    scaler = _grad_scaler(model, params, sharded)
    state: dict[str, Any] = {"best_val_loss": None, "bad_evals": 0, "train_seconds": 0.0, "tokens": 0}
    start = 0
    if resume_from is not None:
        state = checkpoint.load(resume_from, params, optimizer, scheduler, scaler)
        start = state["step"]
        log.info("resuming %s from step %d", run, start)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    sinks = open_sinks(run, config.to_dict(), config.report_to, start if resume_from else None) if rank == 0 else []
    n_trainable = sum(p.numel() for p in params.values())
    log.info("%s on %s: %d examples, %d steps of %d examples, %s trainable parameters, %d process(es)",
             config.method, config.model, len(train), steps, config.batch_size * config.grad_accum * world,
             f"{n_trainable:,}", world)

    bar = None
    if config.progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
    ordered = list(params.values())
    global_batch = config.batch_size * config.grad_accum * world
    step = start
    stop = False
    try:
        for step in range(start, steps):
            tick = time.perf_counter()
            indices = step_examples(len(train), global_batch, config.seed, step)
            step_loss_tokens = sum(train[i].loss_tokens for i in indices)
            loss_sum, tokens = 0.0, 0
            for group in micro_batches(train, indices, config.batch_size, rank, world):
                batch = collate(group, config.packing, tokenizer.pad_token_id or 0)
                loss = distributed.loss_sum(model, batch, config.loss_chunk)
                scaler.scale(loss / step_loss_tokens).backward()
                loss_sum += loss.item()
                tokens += batch.tokens
                del loss  # drop the graph before the next micro-batch
            if not sharded:  # FSDP has already reduce-scattered (summed) them in backward
                distributed.sum_gradients(ordered)
            scaler.unscale_(optimizer)  # this and the next scaler calls do nothing unless fp16 needs loss scaling
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(ordered, config.max_grad_norm)
            lr = optimizer.param_groups[0]["lr"]
            scaler.step(optimizer)  # skipped when a gradient overflowed (the scale then halves)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum, tokens = distributed.sum_floats(loss_sum, tokens)
            seconds = time.perf_counter() - tick
            state["train_seconds"] += seconds
            state["tokens"] += int(tokens)
            done = step + 1
            metrics = {"loss": loss_sum / step_loss_tokens, "lr": lr, "tokens_per_s": tokens / seconds}
            if scaler.is_enabled():
                metrics["loss_scale"] = scaler.get_scale()
            if val and ((config.eval_every and done % config.eval_every == 0) or done == steps):
                metrics["val_loss"] = evaluate(model, val, config)
                best = state["best_val_loss"]
                if best is None or metrics["val_loss"] < best:
                    state["best_val_loss"], state["bad_evals"] = metrics["val_loss"], 0
                    _save_best(run, params, done, metrics["val_loss"])
                else:
                    state["bad_evals"] += 1
                    stop = bool(config.early_stopping_patience) and state["bad_evals"] >= config.early_stopping_patience
            if done % config.log_every == 0 or "val_loss" in metrics or done == steps:
                for sink in sinks:
                    sink.log(done, metrics)
            if bar is not None:
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}", refresh=False)
                bar.update(1)
            if config.save_every and (done % config.save_every == 0 or done == steps or stop):
                checkpoint.save(run, done, params, optimizer, scheduler, state, config.keep_checkpoints, scaler)
            if stop:
                log.info("early stopping at step %d: no better validation loss in %d evaluations",
                         done, config.early_stopping_patience)
                break
    finally:
        if bar is not None:
            bar.close()
        for sink in sinks:
            sink.close()

    distributed.barrier()  # rank 0 has written best/
    if val and (run / "best").is_dir():
        distributed.copy_full(params, load_file(str(run / "best" / "trainable.safetensors")))
    adapter = METHODS[config.method].adapter
    # under FSDP every process takes part in gathering the whole weights that rank 0 writes; keep_vars keeps
    # a tied embedding one tensor
    whole = distributed.gather_full(params if adapter else model.state_dict(keep_vars=True)) if sharded else None
    if rank == 0:
        _export(run, model, tokenizer, adapter, whole)
        extra = {
            "steps": step + 1 if steps > start else start,
            "examples": len(train),
            "trainable_parameters": n_trainable,
            "tokens_trained": state["tokens"],
            "train_seconds": round(state["train_seconds"], 3),
            "tokens_per_s": state["tokens"] / state["train_seconds"] if state["train_seconds"] else None,
            "best_val_loss": state["best_val_loss"],
            "wall_seconds": round(time.perf_counter() - started, 3),
            "peak_rss_mb": round(manifest.peak_rss_mb(), 1),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
            **cpu.process_state(),
            "fast_paths": cpu.record(config.fast_paths, distributed.device(), setup, applied),
        }
        data_sha = data_hash(config.train_file, config.val_file)
        (run / "manifest.json").write_text(json.dumps(manifest.build(config.to_dict(), data_sha, extra), indent=2))
    distributed.barrier()
    return run
