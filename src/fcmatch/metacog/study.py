"""``fcmatch metacog study CONFIG.yaml``: the whole metacognition pipeline on held-out questions, resumable.

Stages, each written to the out folder and skipped when already there:
1. ``answerer/``: stage-zero LoRA on the training questions (question -> gold answer);
2. ``labelled.jsonl``: its answers to the training and the held-out questions at each temperature, labelled;
3. ``validator/``: LoRA on the labelled rows of the training questions minus a validation share of them
   (split by question), whose rows choose the threshold; ``exar/``: LoRA on every WRONG training row,
   (wrong answer as Context, question) -> gold;
4. ``validator.json`` + ``reliability.png``: held-out validator metrics against the baselines;
5. ``loop.jsonl`` + ``loop.json``: the loop and its oracle on the held-out questions;
6. ``adapters.json``: one base with switched adapters against separate copies and weighted merges;
then ``results.json`` and ``report.md``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fcmatch.metacog.answers import answer, labelled_answers, read_jsonl, write_jsonl
from fcmatch.metacog.config import AdapterTraining, StudyConfig
from fcmatch.metacog.data import Question, read_questions, split_by_question
from fcmatch.metacog.labels import CORRECT, label_rows, summary
from fcmatch.metacog.loop import cost, kept, outcome_counts, run_loop
from fcmatch.metacog.prompts import answer_prompt, answer_rows, exar_rows, validator_prompt, validator_rows

ADAPTERS = ("answer", "validator", "exar")


def train_adapter(config: StudyConfig, rows: Sequence[dict[str, str]], run: Path, block: AdapterTraining) -> Path:
    """LoRA on rendered prompt/completion rows through the engine's ``classify`` task; kept when exported."""
    from fcmatch.train import sft
    from fcmatch.train.config import TrainConfig

    if (run / "manifest.json").is_file() and (run / "adapter").is_dir():
        return run
    if run.exists():
        shutil.rmtree(run)  # half-written by an interrupted run
    if not rows:
        raise ValueError(f"{run.name}: no training rows (with a small --limit-train every answer may be CORRECT)")
    data = write_jsonl(run.parent / "data" / f"{run.name}.jsonl", rows)
    engine = TrainConfig(task="classify", model=config.model, method="lora", train_file=str(data), output_dir=str(run),
                         epochs=block.epochs, batch_size=block.batch_size, lr=block.lr, schedule="cosine",
                         warmup_ratio=0.05, seed=config.seed, lora_r=block.lora_r, lora_alpha=block.lora_alpha,
                         max_length=512, eval_every=0, save_every=0, log_every=10, num_threads=config.threads,
                         progress=config.progress)
    return sft(engine)


def _questions(config: StudyConfig) -> tuple[list[Question], list[Question]]:
    train = read_questions(config.train_file or None, "train", config.limit_train)
    test = read_questions(config.test_file or None, "test", config.limit_test)
    both = {q.question for q in train} & {q.question for q in test}
    if both:
        raise ValueError(f"{len(both)} question(s) in both the training and the held-out file, e.g. {sorted(both)[0]!r}")
    return train, test


def _labelled(config: StudyConfig, out: Path, train: list[Question], test: list[Question]) -> list[dict[str, Any]]:
    path = out / "labelled.jsonl"
    if path.is_file():
        return read_jsonl(path)
    from fcmatch.models import load

    model, tokenizer = load(out / "answerer")
    rows = []
    for split, questions in (("train", train), ("test", test)):
        rows += labelled_answers(model, tokenizer, questions, config.temperatures, config.rule,
                                 bertscore_model=config.bertscore_model, style=config.style, seed=config.seed,
                                 max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                                 model_name=str(out / "answerer"), split=split, progress=config.progress)
    return read_jsonl(write_jsonl(path, rows))


class Pipeline:
    """The three adapters on one base, as the batched callables of :func:`fcmatch.metacog.loop.run_loop`."""

    def __init__(self, config: StudyConfig, out: Path):
        from fcmatch.metacog.adapters import AdapterSet
        from fcmatch.models import load

        base, self.tokenizer = load(config.model)
        self.adapters = AdapterSet(base, {"answer": out / "answerer", "validator": out / "validator", "exar": out / "exar"})
        self.config = config

    def first_answers(self, questions: Sequence[str]) -> list[str]:
        prompts = [answer_prompt(q, "", self.config.style, self.tokenizer) for q in questions]
        return answer(self.adapters.use("answer"), self.tokenizer, prompts, 0.0, self.config.seed,
                      self.config.max_new_tokens, self.config.batch_size)

    def validate(self, questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        from fcmatch.metacog.validator import correct_probabilities

        prompts = [validator_prompt(q, a, self.config.style, self.tokenizer) for q, a in zip(questions, answers, strict=True)]
        return correct_probabilities(self.adapters.use("validator"), self.tokenizer, prompts, self.config.batch_size)

    def regenerate(self, questions: Sequence[str], contexts: Sequence[str], temperature: float) -> list[str]:
        prompts = [answer_prompt(q, c, self.config.style, self.tokenizer) for q, c in zip(questions, contexts, strict=True)]
        return answer(self.adapters.use("exar"), self.tokenizer, prompts, temperature, self.config.seed,
                      self.config.max_new_tokens, self.config.batch_size)


def _validator_stage(config: StudyConfig, out: Path, pipe: Pipeline, val: list[dict[str, Any]],
                     test: list[dict[str, Any]]) -> dict[str, Any]:
    from fcmatch.metacog.validator import baselines, choose_threshold, evaluate, reliability_plot

    def probs(rows: list[dict[str, Any]]) -> list[float]:
        return pipe.validate([r["question"] for r in rows], [r["prediction"] for r in rows])

    truth_val, truth_test = [r["label"] == CORRECT for r in val], [r["label"] == CORRECT for r in test]
    p_val, p_test = probs(val), probs(test)
    threshold = choose_threshold(truth_val, p_val, config.threshold_metric)
    result = {"validation": evaluate(truth_val, p_val, threshold), "test": evaluate(truth_test, p_test, threshold)}
    bs_val = [r["metrics"].get("bertscore_f1", 0.0) for r in val]
    bs_threshold = choose_threshold(truth_val, bs_val, config.threshold_metric)
    result["baselines"] = baselines(truth_test, [r["metrics"].get("bertscore_f1", 0.0) for r in test], bs_threshold)
    result["threshold_metric"] = config.threshold_metric
    reliability_plot(result["test"]["calibration"], out / "reliability.png", "validator on held-out questions")
    return result


def _truth(config: StudyConfig, gold: dict[str, str]):
    def validate(questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        rows = [{"prediction": a, "gold": gold[q]} for q, a in zip(questions, answers, strict=True)]
        return [float(r["label"] == CORRECT) for r in label_rows(rows, config.rule, config.bertscore_model)]
    return validate


def _quality(config: StudyConfig, before: list[str], after: list[str], golds: list[str],
             truth: Any, questions: list[str]) -> dict[str, Any]:
    from fcmatch.evaluate.bootstrap import bootstrap_interval, paired_test
    from fcmatch.evaluate.text_metrics import compare, score_texts

    names = ("exact_match", "token_f1", "rougeL", "bertscore_f1")
    draw = {"bootstrap": config.bootstrap, "bertscore_model": config.bertscore_model}
    a, b = score_texts(before, golds, **draw), score_texts(after, golds, **draw)
    ok_a, ok_b = truth(questions, before), truth(questions, after)
    resamples = max(1, config.bootstrap)
    out = {"before": {k: a["metrics"][k] for k in names}, "after": {k: b["metrics"][k] for k in names},
           "difference": {k: v for k, v in compare(a, b, resamples=resamples)["metrics"].items() if k in names}}
    out["before"]["correct_rate"] = bootstrap_interval(ok_a, resamples=config.bootstrap)
    out["after"]["correct_rate"] = bootstrap_interval(ok_b, resamples=config.bootstrap)
    out["difference"]["correct_rate"] = paired_test(ok_a, ok_b, resamples=resamples)
    out["outcomes"] = outcome_counts(before, after, [x == 1.0 for x in ok_a], [x == 1.0 for x in ok_b])
    return out


def _loop_stage(config: StudyConfig, out: Path, pipe: Pipeline, test: list[Question], stem: str = "loop") -> dict[str, Any]:
    questions, golds = [q.question for q in test], [q.gold for q in test]
    truth = _truth(config, dict(zip(questions, golds, strict=True)))
    started = time.perf_counter()
    first = pipe.first_answers(questions)
    first_s = time.perf_counter() - started
    runs, result = {}, {"first_answer_seconds": first_s}
    for variant, validate in (("loop", pipe.validate), ("oracle", truth)):
        started = time.perf_counter()
        runs[variant] = run_loop(questions, first, validate, pipe.regenerate, config.rounds, config.round_temperatures,
                              0.5 if variant == "oracle" else config_threshold(out))
        seconds = time.perf_counter() - started
        for policy in config.keep if variant == "loop" else ["best"]:
            after = [kept(t, policy).text for t in runs[variant]]
            result[f"{variant}_{policy}"] = _quality(config, first, after, golds, truth, questions) | {
                "cost": cost(runs[variant]) | {"seconds": seconds}}
    write_jsonl(out / f"{stem}.jsonl", [
        {"question": q, "gold": g, **{v: [a.__dict__ for a in runs[v][i].attempts] for v in runs}}
        for i, (q, g) in enumerate(zip(questions, golds, strict=True))])
    return result


def run_again(config: StudyConfig, name: str) -> dict[str, Any]:
    """``fcmatch metacog run``: the loop alone, with this config's rounds, schedule and keep policies, on a study
    folder whose adapters and ``validator.json`` exist; writes ``<name>.json`` and ``<name>.jsonl`` there.

    Raises:
        FileNotFoundError: the study has not reached its loop stage yet.
    """
    out = Path(config.out)
    if not (out / "validator.json").is_file():
        raise FileNotFoundError(f"{out}/validator.json: run fcmatch metacog study first")
    if config.threads:
        torch.set_num_threads(config.threads)
    result = _loop_stage(config, out, Pipeline(config, out), _questions(config)[1], name)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def config_threshold(out: Path) -> float:
    """The validator threshold chosen on the validation questions (``validator.json``)."""
    return json.loads((out / "validator.json").read_text(encoding="utf-8"))["test"]["threshold"]


def _adapter_stage(config: StudyConfig, out: Path, pipe: Pipeline, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from fcmatch.metacog.adapters import measure
    from fcmatch.models import load

    prompts = [validator_prompt(r["question"], r["prediction"], config.style, pipe.tokenizer) for r in rows[:8]]
    ids = pipe.tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")["input_ids"]
    return measure(lambda: load(config.model)[0], {n: out / r for n, r in zip(ADAPTERS, ("answerer", "validator", "exar"),
                                                                                strict=True)},
                   ids, config.merge_combinations, repeats=3)


def _stage(path: Path, make: Any) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from fcmatch.data.formats import atomic_write

    value = make()
    with atomic_write(path) as handle:
        handle.write(json.dumps(value, indent=2))
    return value


def run_study(config: StudyConfig) -> Path:
    """Run (or resume) the study; returns the path of ``report.md``.

    Raises:
        ValueError: questions in both files, or a stage left without training rows.
    """
    from fcmatch.config import save_beside
    from fcmatch.metacog.report import write_report

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    save_beside(config, out)
    if config.threads:
        torch.set_num_threads(config.threads)
    timings = {}
    started = time.perf_counter()
    train, test = _questions(config)
    from fcmatch.models import load_tokenizer

    tokenizer = load_tokenizer(config.model)
    train_adapter(config, answer_rows(train, config.style, tokenizer), out / "answerer", config.answerer)
    timings["answerer_s"] = time.perf_counter() - started
    labelled = _labelled(config, out, train, test)
    timings["labelled_s"] = time.perf_counter() - started - sum(timings.values())
    train_rows = [r for r in labelled if r["split"] == "train"]
    test_rows = [r for r in labelled if r["split"] == "test"]
    fit_ids, val_ids = split_by_question([r["question_id"] for r in train_rows], config.val_share, config.seed)
    fit = [r for r in train_rows if r["question_id"] in fit_ids]
    val = [r for r in train_rows if r["question_id"] in val_ids]
    train_adapter(config, validator_rows(fit, config.style, tokenizer), out / "validator", config.validator)
    train_adapter(config, exar_rows(train_rows, config.style, tokenizer), out / "exar", config.exar)
    timings["adapters_s"] = time.perf_counter() - started - sum(timings.values())
    pipe = Pipeline(config, out)
    validator = _stage(out / "validator.json", lambda: _validator_stage(config, out, pipe, val, test_rows))
    loop = _stage(out / "loop.json", lambda: _loop_stage(config, out, pipe, test))
    adapters = _stage(out / "adapters.json", lambda: _adapter_stage(config, out, pipe, test_rows))
    timings["evaluation_s"] = time.perf_counter() - started - sum(timings.values())
    labels = {split: summary([r for r in labelled if r["split"] == split]) for split in ("train", "test")}
    labels["validator_fit"], labels["validator_val"] = summary(fit), summary(val)
    labels["exar_rows"] = sum(r["label"] != CORRECT for r in train_rows)
    results = {"labels": labels, "validator": validator, "loop": loop, "adapters": adapters,
               "questions": {"train": len(train), "test": len(test)}, "timings_this_call": timings}
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return write_report(results, config, out / "report.md")
