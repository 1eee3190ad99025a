"""Run a sweep: train each training point once, evaluate every decoding point on it and on the base model.

    fcmatch sweep configs/sweep-instruct.yaml

The sweep folder::

    sweep.config.yaml                the resolved sweep config
    base/decode/<decode id>/         the untuned base model: done.json, scores.json, its outputs
    points/<train id>/run/           the training run (fcmatch.train.sft's run folder)
    points/<train id>/trained.json   written once the run has finished
    points/<train id>/decode/<decode id>/   as for the base
    results.csv, plots/*.png, report.html

A point is finished when its ``done.json`` exists (written atomically, last) and was made on the same test
records with the same evaluator options; anything else is redone, so a sweep killed at any moment resumes by
running the same command. A training run interrupted mid-way resumes from its newest checkpoint.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fcmatch.config import to_dict
from fcmatch.data.formats import atomic_write
from fcmatch.demo import auto_threads
from fcmatch.sweep import plots, report, results
from fcmatch.sweep.config import SweepConfig
from fcmatch.sweep.evaluators import EVALUATORS
from fcmatch.sweep.points import DecodePoint, TrainPoint, decode_points, train_points

log = logging.getLogger(__name__)

CONFIG_FILE = "sweep.config.yaml"
DONE = "done.json"
SCORES = "scores.json"
TRAINED = "trained.json"


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did and wrote."""

    report: Path
    """report.html."""
    results: Path
    """results.csv."""
    trained: int
    """Training runs this call made (or finished)."""
    evaluated: int
    """Points this call evaluated."""
    reused: int
    """Points found finished."""


def _write_json(path: Path, value: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(value, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


def _folder(parent: Path, point_id: str) -> Path:
    """``parent/point_id``, or a finished folder with the same hash under an older slug (a reshaped grid)."""
    exact = parent / point_id
    if exact.exists() or not parent.is_dir():
        return exact
    digest = point_id.rsplit("-", 1)[-1]
    earlier = sorted(parent.glob(f"*-{digest}"))
    return earlier[0] if earlier else exact


def evaluation_key(config: SweepConfig, options: Any) -> dict[str, Any]:
    """What a point's scores depend on besides its settings: evaluator, test records and options."""
    data = Path(config.test_file).read_bytes()
    # the records' hash, not their path: a moved or renamed test file keeps its points
    key = {"task": config.task, "test_sha256": hashlib.sha256(data).hexdigest(), "max_test": config.max_test,
           "options": to_dict(options)}
    return json.loads(json.dumps(key))


def finished(folder: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The folder's done.json when it was made with evaluation ``key``, else None."""
    path = folder / DONE
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    return done if done.get("evaluation") == key else None


def train_point(point: TrainPoint, folder: Path, progress: bool, threads: int = 0) -> tuple[Path, dict[str, Any], bool]:
    """Train ``point`` into ``folder/run`` unless it has finished; resume a run that was cut off.

    ``threads`` > 0 is the run's num_threads where the point leaves it at 0.

    Returns:
        (run folder, its stats from :func:`fcmatch.sweep.results.run_stats`, whether this call trained).
    """
    from fcmatch import train

    run, marker = folder / "run", folder / TRAINED
    if marker.is_file():
        return run, json.loads(marker.read_text())["run"], False
    trained = not (run / "manifest.json").is_file()  # a run whose marker the crash beat needs no training
    if trained:
        log.info("training %s%s", point.id, " (resuming)" if run.exists() else "")
        train.sft(point.config(run, resume=run.exists(), progress=progress, threads=threads))
    stats = results.run_stats(run)
    _write_json(marker, {"point": point.id, "settings": point.settings, "config": point.values, "run": stats})
    return run, stats, trained


def _load(source: str | Path) -> tuple[Any, Any]:
    from fcmatch.models import load

    model, tokenizer = load(source)
    if hasattr(model, "merge_and_unload"):
        # folding LoRA into full-precision weights is exact up to rounding and drops the adapter's matmuls
        model = model.merge_and_unload()
    return model, tokenizer


@dataclass
class _Model:
    kind: str
    folder: Path
    point: TrainPoint | None


def run_sweep(config: SweepConfig) -> SweepOutcome:
    """Run (or resume) a sweep and write its results.csv, figures and report.html.

    Args:
        config: a validated sweep (:func:`fcmatch.sweep.config.load_sweep`).

    Returns:
        A :class:`SweepOutcome`.

    Raises:
        FileNotFoundError, ValueError: missing or malformed data files, as training and the evaluator raise them.
        fcmatch.train.ConfigError: a training setting that only the run itself can reject.
    """
    from tqdm.auto import tqdm

    root = Path(config.out)
    root.mkdir(parents=True, exist_ok=True)
    config.save(root / CONFIG_FILE)
    evaluator, options = EVALUATORS[config.task], config.eval_options()
    trains, decodes = train_points(config), decode_points(config)
    key = evaluation_key(config, options)
    models = [_Model("base", root / "base", None)]
    models += [_Model("tuned", _folder(root / "points", t.id), t) for t in trains]
    todo = {id(m): [d for d in decodes if finished(_folder(m.folder / "decode", d.id), key) is None] for m in models}
    total = len(models) * len(decodes)
    reused = total - sum(len(v) for v in todo.values())
    bar = tqdm(total=total, initial=reused, desc="sweep", unit="point", disable=not config.progress, dynamic_ncols=True)
    records: list[Any] | None = None
    trained = evaluated = 0
    start = time.perf_counter()
    try:
        for m in models:
            if not todo[id(m)]:
                continue
            stats: dict[str, Any] = {}
            if m.point is None:
                source: str | Path = config.base["model"]
            else:
                bar.set_postfix_str(f"training {m.point.id}")
                source, stats, did_train = train_point(m.point, m.folder, config.progress, auto_threads(config.threads))
                trained += did_train
            if records is None:
                records = evaluator.read(config.test_file, config.max_test)
            model, tokenizer = _load(source)
            for d in todo[id(m)]:
                bar.set_postfix_str(f"evaluating {m.point.id if m.point else 'base'} / {d.id}")
                _evaluate(evaluator, options, model, tokenizer, records, config, m, d, stats, key)
                evaluated += 1
                bar.update(1)
            del model, tokenizer
            gc.collect()
    finally:
        bar.close()
    csv_path, page = write_outputs(config, trains, decodes, key, time.perf_counter() - start)
    return SweepOutcome(page, csv_path, trained, evaluated, reused)


def _evaluate(evaluator: Any, options: Any, model: Any, tokenizer: Any, records: list[Any], config: SweepConfig,
              m: _Model, d: DecodePoint, stats: dict[str, Any], key: dict[str, Any]) -> None:
    threads = auto_threads(config.threads)
    if threads:
        import torch

        torch.set_num_threads(threads)  # training sets its own count; evaluation takes the sweep's
    folder = _folder(m.folder / "decode", d.id)
    folder.mkdir(parents=True, exist_ok=True)
    tick = time.perf_counter()
    scores = evaluator.score(model, tokenizer, records, d.generation, options, folder, config.batch_size)
    seconds = time.perf_counter() - tick
    _write_json(folder / SCORES, scores)
    point = f"{m.point.id if m.point else 'base'}/{d.id}"
    _write_json(folder / DONE, {
        "point": point, "kind": m.kind, "train": m.point.settings if m.point else {}, "decoding": d.settings,
        "generation": asdict(d.generation), "metrics": scores["metrics"], "eval_seconds": round(seconds, 3),
        "run": stats, "evaluation": key,
    })


def collect(config: SweepConfig, trains: list[TrainPoint], decodes: list[DecodePoint],
            key: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The results rows of the finished points of this sweep (base first) and their done.json contents."""
    evaluator, options = EVALUATORS[config.task], config.eval_options()
    root = Path(config.out)
    rows, dones = [], []
    base_scores: dict[str, dict[str, Any]] = {}
    for d in decodes:
        folder = _folder(root / "base" / "decode", d.id)
        done = finished(folder, key)
        if done is not None:
            base_scores[d.id] = json.loads((folder / SCORES).read_text())
            rows.append(results.point_row(done))
            dones.append(done)
    for t in trains:
        for d in decodes:
            folder = _folder(_folder(root / "points", t.id) / "decode", d.id)
            done = finished(folder, key)
            if done is None:
                continue
            comparison = None
            if d.id in base_scores:
                comparison = evaluator.compare(base_scores[d.id], json.loads((folder / SCORES).read_text()), options)
            rows.append(results.point_row(done, comparison))
            dones.append(done)
    return rows, dones


def write_outputs(config: SweepConfig, trains: list[TrainPoint], decodes: list[DecodePoint], key: dict[str, Any],
                  seconds: float) -> tuple[Path, Path]:
    """results.csv, plots/ and report.html from the finished points; returns (csv, report) paths."""
    root = Path(config.out)
    rows, dones = collect(config, trains, decodes, key)
    train_keys = list(trains[0].settings) if trains else []
    decode_keys = list(decodes[0].settings) if decodes else []
    metrics = results.metric_names(dones)
    header = results.columns(rows, train_keys, decode_keys, metrics)
    csv_path = results.write_csv(rows, header, root / "results.csv")
    settings = [*train_keys, *(results.DECODING + k for k in decode_keys)]
    figures = plots.sweep_figures(rows, settings, metrics, root / "plots")
    summary = {
        "sweep": str(root), "task": config.task, "model": config.base["model"],
        "method": config.base["method"], "test file": f"{config.test_file} ({key['test_sha256'][:12]})",
        "points": f"{len(trains)} training x {len(decodes)} decoding, plus the base model per decoding point",
        "finished": f"{len(rows)} of {(len(trains) + 1) * len(decodes)}",
        "this call's time": f"{seconds:.1f} s", "results": str(csv_path),
    }
    page = report.write_report(root / "report.html", summary, rows, settings, metrics, figures, config.to_dict())
    return csv_path, page
