"""``fcmatch extract``: causal maps from a model, one sentence file in, one prediction file out.

Every ``batch_size`` finished sentences are appended and flushed to ``<output>.partial``, so a crash
loses at most the sentences in flight; running the same command again reads that file, keeps what is
complete (a line cut off by the crash is dropped and redone) and generates only the rest. When every sentence is
done the predictions are written to ``output`` in input order, the resolved config beside them
(``pred.jsonl`` -> ``pred.config.yaml``) and the partial file is removed.

A run trained with retrieved demonstrations (task ``causal-rag``) is prompted the same way by default: its
``k`` neighbours come from its own ``train_file``, and its concepts are snapped to that file's codebook at the
task's threshold (:func:`resolve_recipe`); the resolved values are what ``pred.config.yaml`` records.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from fcmatch.config import ConfigError, read_values, save_beside
from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import FormatError, map_from_dict, read_maps, write_jsonl
from fcmatch.data.serialize import parse_lenient
from fcmatch.extract.config import ExtractConfig
from fcmatch.extract.generation import chat_prompt, generate_texts
from fcmatch.tasks.causal import prompt_messages

log = logging.getLogger(__name__)


def pick_demonstrations(pool: Sequence[CausalMap], k: int, seed: int = 0) -> list[CausalMap]:
    """k demonstrations drawn with a seed, preferring sentences that have edges (at most one ``none``).

    Showing a mix with edges teaches the format; one ``none`` shows that abstaining is allowed.
    """
    if k > len(pool):
        raise ValueError(f"--shots {k} but the demonstration file has only {len(pool)} sentences")
    rng = random.Random(seed)
    with_edges = [m for m in pool if m.edges]
    empty = [m for m in pool if not m.edges]
    rng.shuffle(with_edges)
    rng.shuffle(empty)
    picked = with_edges[: k - 1] + empty[:1] if k > 1 and empty else with_edges[:k]
    return (picked + with_edges[len(picked) :] + empty[1:])[:k]


def prediction(cmap: CausalMap, raw: str, model_name: str, index: int) -> CausalMap:
    """The predicted causal map of one sentence: edges from the lenient parser, raw text kept."""
    parsed = parse_lenient(raw)
    meta = {"raw": raw, "problems": parsed.problems, "model": model_name, "index": index}
    for key in ("id", "sentence_id"):
        if key in cmap.meta:
            meta[key] = cmap.meta[key]
    return CausalMap(cmap.text, parsed.edges, cmap.source, meta)


def read_partial(path: Path, inputs: Sequence[CausalMap]) -> dict[int, CausalMap]:
    """Predictions already written by an interrupted run, keyed by input index.

    A last line without its newline (cut off by a crash) or that is not valid JSON is dropped, and the
    file is rewritten without it so that appending continues on a clean line.

    Raises:
        FormatError: a complete line that is malformed, or that names another sentence than the input
            has at that index (the partial file belongs to another input).
    """
    if not path.exists():
        return {}
    raw = path.read_text(encoding="utf-8")
    lines = raw.split("\n")
    done: dict[int, CausalMap] = {}
    clean = True
    for number, line in enumerate(lines, start=1):
        last = number == len(lines)
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            cmap = map_from_dict(json.loads(line), where)
        except (json.JSONDecodeError, FormatError):
            if last:  # the crash cut this line; redo that sentence
                log.warning("%s: dropping a cut-off last line; its sentence is redone", where)
                clean = False
                continue
            raise FormatError(f"{where}: not a prediction record; delete {path} to start over") from None
        index = cmap.meta.get("index")
        if not isinstance(index, int) or not 0 <= index < len(inputs) or inputs[index].text != cmap.text:
            raise FormatError(
                f"{where}: this prediction does not match sentence {index} of the input; "
                f"{path} belongs to another input file, delete it to start over"
            )
        done[index] = cmap
    if not clean:
        write_jsonl([done[i] for i in sorted(done)], path)
    return done


def run_task(config: ExtractConfig) -> tuple[Any, str | None]:
    """The task and train file of the fcmatch run folder that ``--adapter`` or ``--model`` names, else (None, None)."""
    for candidate in (config.adapter, config.model):
        if candidate and (Path(candidate) / "config.yaml").is_file():
            from fcmatch.tasks import TASKS

            values = read_values(Path(candidate) / "config.yaml")
            return TASKS.get(str(values.get("task", "causal"))), values.get("train_file") or None
    return None, None


def resolve_recipe(config: ExtractConfig) -> ExtractConfig:
    """``config`` with retrieval and snapping settings left unset filled in from the run it extracts with.

    Raises:
        ConfigError: retrieval or snapping is on but there is no pool file to draw from.
    """
    task, train_file = run_task(config)
    k = config.retrieval_k if config.retrieval_k is not None else getattr(task, "k", 0)
    snap = config.snap_threshold if config.snap_threshold is not None else getattr(task, "snap_threshold", 0.0)
    pool = config.pool or (train_file if k or snap else None)
    if (k or snap) and not (pool and Path(pool).is_file()):
        raise ConfigError(f"retrieval (k={k}) and snapping (threshold {snap:g}) need the training file: "
                          f"{pool or 'none recorded'} is not a file here; pass --pool TRAIN_FILE")
    return replace(config, retrieval_k=k, snap_threshold=snap, pool=pool)


def model_label(config: ExtractConfig) -> str:
    """How the predictions name their model: base, adapter and shots."""
    label = config.model
    if config.adapter:
        label += f"+{config.adapter}"
    if config.shots:
        label += f" ({config.shots}-shot)"
    return label


def extract_maps(
    model: Any,
    tokenizer: Any,
    maps: Sequence[CausalMap],
    config: ExtractConfig,
    done: dict[int, CausalMap] | None = None,
    sink: Any = None,
) -> list[CausalMap]:
    """Extract causal maps for ``maps`` with a loaded model; the in-memory core of :func:`extract`.

    Args:
        model, tokenizer: from :func:`fcmatch.models.load`.
        maps: the sentences.
        config: prompting and decoding settings (input/output are not used here).
        done: predictions already made, by index; they are not generated again.
        sink: an open text file; each finished batch is appended as JSONL lines and flushed.

    Returns:
        One predicted CausalMap per input sentence, in input order.
    """
    done = dict(done or {})
    demos = pick_demonstrations(read_maps(config.demos), config.shots, config.generation.seed) if config.shots else []
    todo = [i for i in range(len(maps)) if i not in done]
    pool = read_maps(config.pool) if config.pool and (config.retrieval_k or config.snap_threshold) else []
    retrieved: list[list[int]] = [[] for _ in todo]
    if config.retrieval_k:
        from fcmatch.extract.retrieval import Retriever

        retrieved = Retriever(pool, config.retrieval_k).indices([maps[i].text for i in todo])
    codebook = None
    if config.snap_threshold:
        from fcmatch.extract.codebook import Codebook

        codebook = Codebook.from_maps(pool)
    prompts = [chat_prompt(tokenizer, prompt_messages(maps[i], demos, [pool[n] for n in hits]))
               for i, hits in zip(todo, retrieved, strict=True)]
    label = model_label(config)
    bar = tqdm(total=len(maps), initial=len(done), unit="sent", desc="extract", disable=not config.progress)
    for batch in generate_texts(model, tokenizer, prompts, config.generation, config.batch_size):
        lines = []
        for j, raw in batch:
            index = todo[j]
            done[index] = prediction(maps[index], raw, label, index)
            if retrieved[j]:
                done[index].meta["retrieved"] = retrieved[j]
            if codebook is not None:
                done[index] = codebook.snap(done[index], config.snap_threshold)
            lines.append(json.dumps(done[index].to_dict(), ensure_ascii=False) + "\n")
        if sink is not None:
            sink.write("".join(lines))
            sink.flush()
            os.fsync(sink.fileno())
        bar.update(len(batch))
    bar.close()
    return [done[i] for i in range(len(maps))]


def partial_path(output: str | os.PathLike) -> Path:
    """Where an unfinished run keeps its predictions."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


def extract(config: ExtractConfig, model: Any = None, tokenizer: Any = None) -> dict[str, Any]:
    """Run one extraction end to end, resuming an interrupted run of the same command.

    Args:
        config: the run.
        model, tokenizer: an already loaded model to reuse (else loaded from ``config``).

    Returns:
        A summary: sentences, resumed, generated, edges, parse problems, seconds, sentences_per_s, output,
        config_file (the resolved config, written beside the output) and config.

    Raises:
        FileNotFoundError: a missing input or demonstration file.
        FormatError: malformed input, or a partial file from a different input.
    """
    config = resolve_recipe(config)
    maps = read_maps(config.input)
    output, partial = Path(config.output), partial_path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # a finished earlier run counts as done too, so re-running a complete command costs nothing
    done = read_partial(partial, maps) if partial.exists() else read_partial(output, maps)
    start = time.perf_counter()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    if len(done) < len(maps):
        if model is None:
            from fcmatch.models import dtype_named, load

            model, tokenizer = load(config.model, quantize=config.quantize, adapter=config.adapter,
                                    dtype=dtype_named(config.dtype))
            if config.quantize is None and hasattr(model, "merge_and_unload"):
                # folding LoRA into full-precision weights is exact up to rounding and drops the
                # adapter's extra matmuls from every decoding step
                model = model.merge_and_unload()
        if not partial.exists() and done:
            write_jsonl([done[i] for i in sorted(done)], partial)
        with open(partial, "a", encoding="utf-8") as sink:
            preds = extract_maps(model, tokenizer, maps, config, done, sink)
    else:
        preds = [done[i] for i in range(len(maps))]
    seconds = time.perf_counter() - start
    write_jsonl(preds, output)
    config_file = save_beside(config, output)
    partial.unlink(missing_ok=True)
    generated = len(maps) - len(done)
    summary = {
        "sentences": len(maps),
        "resumed": len(done),
        "generated": generated,
        "edges": sum(len(p.edges) for p in preds),
        "with_problems": sum(1 for p in preds if p.meta.get("problems")),
        "seconds": round(seconds, 2),
        "sentences_per_s": round(generated / seconds, 3) if generated and seconds > 0 else None,
        "output": str(output),
        "config_file": str(config_file),
        "config": {k: v for k, v in asdict(config).items() if k not in ("progress", "threads")},
    }
    log.info("extracted %d sentences (%d resumed) -> %s", len(maps), len(done), output)
    return summary
