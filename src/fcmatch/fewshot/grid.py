"""Run a few-shot grid: every (method, k, seed, pattern) point trained or prompted, then scored on each test set.

    fcmatch fewshot configs/fewshot-demo.yaml

The grid folder::

    fewshot.config.yaml                 the resolved FewshotConfig
    points/<id>/done.json               settings, metrics per test set, cost; written atomically, last
    points/<id>/predictions.jsonl       one line per test record: set, gold, predicted, logits, meta
    points/<id>/run/                    a pbft run folder (weights dropped unless pbft.keep_weights)
    results.csv, report.md, fewshot-*.png

A point is finished when its done.json exists and records the same key (settings, data and test-set hash);
anything else is redone, so an interrupted grid resumes by running the same command. The k examples of a
(k, seed) are the same for every method: :func:`fcmatch.fewshot.data.draw_train_dev` on the in-domain pool.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from fcmatch.config import ConfigError, save_config, to_dict
from fcmatch.data.formats import atomic_write
from fcmatch.fewshot.config import ENCODER_METHODS, FewshotConfig
from fcmatch.fewshot.data import ClassRecord, balanced_sample, draw_train_dev, sign_splits
from fcmatch.fewshot.metrics import classification_metrics, grouped_accuracy
from fcmatch.fewshot.patterns import PATTERNS, Pattern, context, label_tokens, pattern_from_dict, query
from fcmatch.fewshot.scoring import Scores, peak_memory, score

CONFIG_FILE = "fewshot.config.yaml"
DONE = "done.json"
GROUPS = ("source", "heuristic", "subcase")


@dataclass(frozen=True)
class Point:
    """One run of the grid."""

    method: str
    k: int
    seed: int
    pattern: str

    @property
    def id(self) -> str:
        """Folder name, e.g. ``icl-k16-s0-gpt-3``."""
        return f"{self.method}-k{self.k}-s{self.seed}-{self.pattern}"


def points(config: FewshotConfig) -> list[Point]:
    """The grid's points in run order (zero-shot first, then by k, seed, method, pattern)."""
    out = []
    if config.zero_shot:
        out += [Point("icl", 0, 0, p) for p in config.patterns]
    for k in config.ks:
        for seed in config.seeds:
            for method in config.methods:
                if method == "distill" and config.distill.max_k and k > config.distill.max_k:
                    continue
                if method == "icl":
                    names = config.patterns
                elif method in ENCODER_METHODS:
                    names = ["-"]
                else:
                    names = config.fine_tune_patterns
                out += [Point(method, k, seed, name) for name in names]
    return out


def load_patterns(config: FewshotConfig) -> dict[str, Pattern]:
    """The built-in patterns plus those of ``pattern_file``; every name the grid uses must be among them.

    Raises:
        ConfigError: a malformed pattern file or an unknown pattern name.
    """
    known = dict(PATTERNS)
    if config.pattern_file:
        specs = yaml.safe_load(Path(config.pattern_file).read_text(encoding="utf-8")) or []
        if not isinstance(specs, list):
            raise ConfigError(f"{config.pattern_file}: expected a YAML list of patterns")
        for i, spec in enumerate(specs):
            pattern = pattern_from_dict(spec, f"{config.pattern_file} pattern {i}")
            known[pattern.name] = pattern
    for name in [*config.patterns, *config.fine_tune_patterns]:
        if name not in known:
            raise ConfigError(f"patterns: unknown pattern {name!r}; known: {', '.join(known)}")
    return known


def _digest(splits: dict[str, list[ClassRecord]]) -> str:
    h = hashlib.sha256()
    for name in sorted(splits):
        for r in splits[name]:
            h.update(json.dumps([name, r.text1, r.text2, r.label]).encode())
    return h.hexdigest()[:16]


def point_key(config: FewshotConfig, point: Point, data_digest: str) -> dict[str, Any]:
    """What a point's result depends on: its settings, the model, the method's block and the data."""
    block = {"icl": {}, "distill": to_dict(config.distill)}.get(point.method)
    if block is None:
        block = to_dict(config.encoder) if point.method in ENCODER_METHODS else to_dict(config.pbft)
        block.pop("keep_weights", None)
        block.pop("num_threads", None)
    return {"point": asdict(point), "model": config.model, "block": block, "data": data_digest,
            "test_sets": list(config.test_sets)}


def _write_json(path: Path, value: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(value, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


class Runner:
    """Runs the points of one grid; holds the base model between ICL points."""

    def __init__(self, config: FewshotConfig) -> None:
        from fcmatch.models import load_tokenizer

        self.config = config
        self.root = Path(config.out)
        self.patterns = load_patterns(config)
        if config.format == "sign":
            self.splits = sign_splits(config.data or None, config.in_domain or None, config.test_cap or None)
        else:
            from fcmatch.fewshot.readers import file_splits

            self.splits = file_splits(config.format, config.train_file, config.test_id_file, config.test_ood_file,
                                      config.ood_format, config.test_cap or None)
        self.digest = _digest(self.splits)
        self.tokenizer = load_tokenizer(config.model)
        self._base: Any = None

    def base(self) -> Any:
        """The untuned decoder, loaded once (ICL and zero-shot points share it)."""
        if self._base is None:
            from fcmatch.models import load

            self._base, _ = load(self.config.model, device="cpu", dtype=torch.float32, tokenizer=self.tokenizer)
        return self._base

    def examples(self, point: Point) -> tuple[list[ClassRecord], list[ClassRecord]]:
        """The point's k training examples and its disjoint dev set of size k (none for k=0)."""
        if point.k == 0:
            return [], []
        return draw_train_dev(self.splits["train"], point.k, point.seed)

    def run(self, point: Point) -> dict[str, Any]:
        """Train or prompt, score every test set; returns the done.json content (also written)."""
        folder = self.root / "points" / point.id
        key = point_key(self.config, point, self.digest)
        done_path = folder / DONE
        if done_path.is_file():
            done = json.loads(done_path.read_text())
            if done.get("key") == key:
                return done
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(point.seed)
        train, dev = self.examples(point)
        tick = time.perf_counter()
        scorer, extra = self._prepare(point, train, dev, folder)
        train_seconds = time.perf_counter() - tick
        sets: dict[str, Any] = {}
        lines = []
        for name in self.config.test_sets:
            records = self.splits[name]
            scores = scorer(records)
            sets[name] = self._summary(scores, records)
            for r, pred, row in zip(records, scores.predictions, scores.logits if scores.logits is not None else [], strict=False):
                lines.append({"set": name, "gold": r.label, "pred": pred, "logits": [round(float(x), 4) for x in row],
                              "source": r.meta.get("source", ""), "sentence_id": r.meta.get("sentence_id", "")})
        with atomic_write(folder / "predictions.jsonl") as handle:
            handle.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        done = {"key": key, "point": point.id, **asdict(point), "train_seconds": round(train_seconds, 2),
                "sets": sets, **extra}
        _write_json(done_path, done)
        gc.collect()
        return done

    def _summary(self, scores: Scores, records: Sequence[ClassRecord]) -> dict[str, Any]:
        out: dict[str, Any] = {"skipped": scores.skipped, "prompt_tokens": round(scores.prompt_tokens, 1),
                               "context_tokens": scores.context_tokens, "latency_s": scores.latency_s,
                               "peak_memory_mb": round(scores.peak_memory_mb, 1)}
        if not scores.skipped and scores.predictions:
            golds = [r.label for r in records]
            out["metrics"] = classification_metrics(golds, scores.predictions, scores.labels, self.config.resamples)
            # accuracy per corpus (sign OOD) or per HANS heuristic / subcase, where the set has several
            for key in GROUPS:
                groups = [str(r.meta.get(key, "")) for r in records]
                if len(set(groups)) > 1:
                    out.setdefault("by", {})[key] = grouped_accuracy(golds, scores.predictions, groups)
        return out

    def _prepare(self, point: Point, train: list[ClassRecord], dev: list[ClassRecord], folder: Path) -> tuple[Any, dict]:
        """The point's scorer (records -> Scores) after any training, and extra done.json fields."""
        config = self.config
        if point.method == "icl":
            pattern = self.patterns[point.pattern]
            return (lambda records: score(self.base(), self.tokenizer, pattern, records, train, config.batch_size,
                                          progress=config.progress)), {}
        if point.method in ENCODER_METHODS:
            return self._encoder(point, train, dev)
        if point.method == "distill":
            return self._distill(point, train, folder)
        return self._pbft(point, train, dev, folder)

    def _pbft(self, point: Point, train: list[ClassRecord], dev: list[ClassRecord], folder: Path) -> tuple[Any, dict]:
        from fcmatch.fewshot.pbft import drop_weights, train_pbft
        from fcmatch.models import load
        from fcmatch.sweep.results import run_stats

        pattern = self.patterns[point.pattern]
        run = train_pbft(self.config.model, self.tokenizer, pattern, train, dev, point.method, point.seed,
                         folder / "run", self.config.pbft)
        model, _ = load(str(run), device="cpu", dtype=torch.float32, tokenizer=self.tokenizer)
        stats = run_stats(run)
        if not self.config.pbft.keep_weights:
            drop_weights(run)
        return (lambda records: score(model, self.tokenizer, pattern, records, (), self.config.batch_size)), {"run": stats}

    def _distill(self, point: Point, train: list[ClassRecord], folder: Path) -> tuple[Any, dict]:
        from fcmatch.models import load
        from fcmatch.train.distill import DistillConfig, distill

        block, pattern = self.config.distill, self.patterns[point.pattern]
        # unlabelled in-domain queries: the pool minus the k examples (labels are never read)
        pool = [r for r in self.splits["train"] if all(r is not t for t in train)]
        queries = balanced_sample(pool, block.queries - block.queries % 2, point.seed + 20_000)
        head = context(pattern, train, self.tokenizer)
        first = next(iter(pattern.verbalizer.values()))
        examples = [{"teacher_prompt": head + query(pattern, q, train, self.tokenizer),
                     "student_prompt": query(pattern, q, (), self.tokenizer), "completion": first} for q in queries]
        model, _ = load(self.config.model, device="cpu", dtype=torch.float32, tokenizer=self.tokenizer)
        settings = DistillConfig(temperature=block.temperature, over=block.over,
                                 label_tokens=list(label_tokens(pattern, self.tokenizer).values()), lora_r=block.lora_r,
                                 lora_alpha=2.0 * block.lora_r, learning_rate=block.learning_rate, epochs=block.epochs,
                                 batch_size=block.batch_size, seed=point.seed, output_dir=str(folder / "distill"),
                                 cache_dir=str(folder / "teacher-cache"), progress=False)
        student, history = distill(model, self.tokenizer, examples, settings)
        extra = {"run": {"train_loss": history[-1]["loss"] if history else None, "train_steps": len(history)}}
        return (lambda records: score(student, self.tokenizer, pattern, records, (), self.config.batch_size)), extra

    def _encoder(self, point: Point, train: list[ClassRecord], dev: list[ClassRecord]) -> tuple[Any, dict]:
        from fcmatch.fewshot.encoder import train_encoder

        block = self.config.encoder
        labels = sorted({r.label for r in self.splits["train"]})
        classifier = train_encoder(train, labels, point.method.removeprefix("minilm-"), point.seed, epochs=block.epochs,
                                   batch_size=block.batch_size, dev=dev if block.selection == "dev" else None)

        def scorer(records: Sequence[ClassRecord]) -> Scores:
            with peak_memory(torch.device("cpu")) as memory:
                tick = time.perf_counter()
                proba = classifier.predict_proba(records)
                seconds = time.perf_counter() - tick
            return Scores(labels, [labels[i] for i in proba.argmax(1)], proba, latency_s=seconds / max(1, len(records)),
                          peak_memory_mb=memory["mb"])

        return scorer, {}


def run_grid(config: FewshotConfig) -> Path:
    """Run every point (finished ones are reused), then write results.csv, the figures and report.md.

    Returns:
        The report's path.
    """
    from fcmatch.fewshot.report import write_report

    if config.threads:
        torch.set_num_threads(config.threads)
    root = Path(config.out)
    root.mkdir(parents=True, exist_ok=True)
    save_config(config, root / CONFIG_FILE)
    runner = Runner(config)
    todo = points(config)
    dones = []
    bar = tqdm(todo, desc="fewshot", unit="point", disable=not config.progress)
    for point in bar:
        bar.set_postfix_str(point.id, refresh=True)
        dones.append(runner.run(point))
    return write_report(root, dones, config)
