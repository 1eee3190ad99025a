"""Sweeps on the tiny model: a killed sweep resumes with only its missing points, a grown grid reuses finished
ones, results.csv, figures and report.html, the causal evaluator end to end through the CLI, config errors that
name the key, and the shipped sweep configs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fcmatch.cli import main
from fcmatch.config import ConfigError
from fcmatch.sweep import EVALUATORS, load_sweep, run_sweep, sweep_from_dict
from fcmatch.sweep.points import train_points
from fcmatch.sweep.results import read_csv

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PAIRS = [("rain", "floods"), ("money", "debt"), ("sun", "cold"), ("food", "hunger"), ("work", "poverty"), ("sleep", "stress")]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from conftest import write_jsonl

    folder = tmp_path_factory.mktemp("sweep-data")
    records = [{"text": f"More {a} means less {b}.", "edges": [{"cause": a, "effect": b, "sign": "-"}]} for a, b in PAIRS]
    return {"train": write_jsonl(folder / "train.jsonl", records), "test": write_jsonl(folder / "test.jsonl", records[:3])}


def base(tiny_model_dir: Path, data: dict[str, Path]) -> dict:
    # one thread: the tiny model's ops take microseconds, and thread syncs dominate on a busy machine
    return {"model": str(tiny_model_dir), "train_file": str(data["train"]), "batch_size": 3, "max_steps": 1,
            "lora_r": 2, "warmup_steps": 0, "save_every": 0, "eval_every": 0, "num_threads": 1}


@dataclass
class FakeOptions:
    """Options of the fake evaluator."""

    offset: float = 0.0
    """Added to every score."""


class FakeEvaluator:
    """Scores without generating: the number of records and the token limit, and counts its calls."""

    options = FakeOptions

    def __init__(self, fail_on: int = 0) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on

    def read(self, path: str, limit: int) -> list[str]:
        lines = Path(path).read_text().splitlines()
        return lines[:limit] if limit else lines

    def score(self, model, tokenizer, records, settings, options, folder, batch_size=16):
        self.calls.append(str(folder))
        if len(self.calls) == self.fail_on:
            raise RuntimeError("killed mid-sweep")
        value = 0.1 * len(records) + options.offset
        return {"metrics": {"accuracy": {"value": value, "ci_low": value - 0.05, "ci_high": value + 0.05},
                            "length": {"value": float(settings.max_new_tokens), "ci_low": None, "ci_high": None}},
                "items": [value] * len(records)}

    def compare(self, base, tuned, options):
        diff = tuned["items"][0] - base["items"][0]
        return {"accuracy": {"difference": diff, "ci_low": diff - 0.1, "ci_high": diff + 0.1, "p_value": 0.5}}


class CountingSft:
    def __init__(self) -> None:
        from fcmatch.train import sft

        self.sft, self.configs = sft, []

    def __call__(self, config):
        self.configs.append(config)
        return self.sft(config)


def grid_sweep(tiny_model_dir, data, out: Path, **extra) -> dict:
    return {"out": str(out), "task": "fake", "test_file": str(data["test"]), "progress": False,
            "base": base(tiny_model_dir, data), "grid": {"lr": [1e-3, 1e-2], "lora_r": [2, 4]}, **extra}


def run_counted(monkeypatch, values: dict, fail_on: int = 0):
    fake, counting = FakeEvaluator(fail_on), CountingSft()
    monkeypatch.setitem(EVALUATORS, "fake", fake)
    monkeypatch.setattr("fcmatch.train.sft", counting)
    return fake, counting, (lambda: run_sweep(sweep_from_dict(values)))


@pytest.fixture(scope="module")
def killed_then_resumed(tiny_model_dir, data, tmp_path_factory):
    """A 2x2 grid killed on its third evaluation, then run again; the counts of both calls."""
    out = tmp_path_factory.mktemp("sweep") / "grid"
    values = grid_sweep(tiny_model_dir, data, out)
    with pytest.MonkeyPatch.context() as mp:
        first, first_sft, run = run_counted(mp, values, fail_on=3)
        with pytest.raises(RuntimeError, match="killed mid-sweep"):
            run()
    with pytest.MonkeyPatch.context() as mp:
        second, second_sft, run = run_counted(mp, values)
        outcome = run()
    return {"out": out, "values": values, "first": first, "first_sft": first_sft, "second": second,
            "second_sft": second_sft, "outcome": outcome}


def test_killed_sweep_resumes_with_only_the_missing_points(killed_then_resumed):
    k = killed_then_resumed
    # base first, then the tuned points in grid order: the third evaluation is the second tuned point's
    assert len(k["first"].calls) == 3 and len(k["first_sft"].configs) == 2
    assert "/base/" in k["first"].calls[0]
    # its training had finished, so the resumed sweep evaluates it again without training it again
    assert len(k["second_sft"].configs) == 2
    assert len(k["second"].calls) == 3 and k["second"].calls[0] == k["first"].calls[2]
    assert (k["outcome"].trained, k["outcome"].evaluated, k["outcome"].reused) == (2, 3, 2)
    assert [(c.lr, c.lora_r) for c in k["second_sft"].configs] == [(1e-2, 2), (1e-2, 4)]
    assert all(c.output_dir.endswith("/run") and not c.resume for c in k["first_sft"].configs + k["second_sft"].configs)


def test_a_finished_sweep_reruns_nothing(killed_then_resumed, monkeypatch):
    fake, counting, run = run_counted(monkeypatch, killed_then_resumed["values"])
    outcome = run()
    assert (fake.calls, counting.configs, outcome.reused) == ([], [], 5)


def test_results_csv_has_a_row_per_point_with_settings_metrics_intervals_and_cost(killed_then_resumed):
    rows = read_csv(killed_then_resumed["out"] / "results.csv")
    assert [r["kind"] for r in rows] == ["base", "tuned", "tuned", "tuned", "tuned"]
    assert list(rows[0])[:4] == ["point", "kind", "lr", "lora_r"]
    for name in ("accuracy", "length"):
        assert {name, f"{name}_ci_low", f"{name}_ci_high"} <= set(rows[0])
    assert {"accuracy_vs_base", "accuracy_vs_base_p", "train_seconds", "tokens_per_s", "train_loss", "eval_seconds"} <= set(rows[0])
    assert [(float(r["lr"]), int(r["lora_r"])) for r in rows[1:]] == [(1e-3, 2), (1e-3, 4), (1e-2, 2), (1e-2, 4)]
    assert rows[0]["lr"] == "" and rows[0]["train_seconds"] == "" and rows[0]["accuracy_vs_base"] == ""
    assert float(rows[1]["accuracy"]) == pytest.approx(float(rows[1]["accuracy_ci_low"]) + 0.05)
    assert rows[1]["length_ci_low"] == ""
    for row in rows[1:]:
        assert float(row["train_seconds"]) > 0 and float(row["tokens_per_s"]) > 0 and float(row["train_loss"]) > 0
        assert row["train_steps"] == "1"
    assert len({r["point"] for r in rows}) == 5


def test_figures_are_pngs_and_the_report_inlines_them_with_the_table_and_config(killed_then_resumed):
    out = killed_then_resumed["out"]
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["heatmap_lr_lora_r.png", "lora_r.png", "lr.png"]
    for name in names:
        assert (out / "plots" / name).read_bytes()[:8] == PNG
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "accuracy" in page and "vs base" in page and "grid:" in page
    saved = yaml.safe_load((out / "sweep.config.yaml").read_text())
    assert saved["grid"] == {"lr": [1e-3, 1e-2], "lora_r": [2, 4]} and saved["base"]["lr"] == 2e-4


def test_grown_points_train_only_the_new_one(killed_then_resumed, tmp_path, monkeypatch):
    out = tmp_path / "grown"
    shutil.copytree(killed_then_resumed["out"], out)
    values = {k: v for k, v in killed_then_resumed["values"].items() if k != "grid"}
    # the grid's four points listed one by one, in another order and spelling, and one more
    values.update(out=str(out), points=[{"lora_r": 4, "lr": "1e-2"}, {"lr": 1e-3, "lora_r": 2}, {"lr": 1e-3, "lora_r": 4},
                                        {"lr": 1e-2, "lora_r": 2}, {"lr": 3e-3, "lora_r": 2}])
    fake, counting, run = run_counted(monkeypatch, values)
    run()
    assert [(c.lr, c.lora_r) for c in counting.configs] == [(3e-3, 2)]
    assert len(fake.calls) == 1
    assert len(read_csv(out / "results.csv")) == 6


def test_changed_test_records_redo_the_evaluations_but_not_the_training(killed_then_resumed, data, tmp_path, monkeypatch):
    out = tmp_path / "retest"
    shutil.copytree(killed_then_resumed["out"], out)
    values = {**killed_then_resumed["values"], "out": str(out), "max_test": 2}
    fake, counting, run = run_counted(monkeypatch, values)
    run()
    assert (len(fake.calls), counting.configs) == (5, [])


def test_a_training_cut_off_mid_run_is_resumed(tiny_model_dir, data, tmp_path, monkeypatch):
    values = grid_sweep(tiny_model_dir, data, tmp_path / "cut", grid={"lr": [1e-2]})
    fake, counting, run = run_counted(monkeypatch, values)
    (point,) = train_points(sweep_from_dict(values))
    run_folder = tmp_path / "cut" / "points" / point.id / "run"
    run_folder.mkdir(parents=True)
    (run_folder / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')  # a run killed before its checkpoint
    run()
    assert [c.resume for c in counting.configs] == [True]
    assert (run_folder / "manifest.json").is_file() and len(fake.calls) == 2


def test_causal_sweep_end_to_end_through_the_cli(tiny_model_dir, data, tmp_path, capsys):
    sweep = {"out": str(tmp_path / "causal"), "test_file": str(data["test"]), "progress": False,
             "base": {**base(tiny_model_dir, data), "max_steps": 2, "lr": 1e-2},
             "points": [{"lora_alpha": 8}], "decoding": {"max_new_tokens": [2, 4]},
             "batch_size": 2, "eval": {"bootstrap": 50}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    assert main(["sweep", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "1 training run(s) and 4 evaluation(s) done, 0 reused" in printed
    assert "report: " in printed
    out = tmp_path / "causal"
    rows = read_csv(out / "results.csv")
    assert [(r["kind"], r["decoding.max_new_tokens"]) for r in rows] == [("base", "2"), ("base", "4"), ("tuned", "2"), ("tuned", "4")]
    assert {"macro_f1", "macro_f1_ci_low", "micro_f1_ci_high", "macro_precision", "micro_recall", "macro_f1_vs_base_p"} <= set(rows[0])
    for row in rows:
        assert 0 <= float(row["macro_f1_ci_low"]) <= float(row["macro_f1"]) <= float(row["macro_f1_ci_high"]) <= 1
    assert rows[2]["lora_alpha"] == "8.0" and rows[2]["macro_f1_vs_base_p"] != ""
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["decoding.max_new_tokens.png"]
    done = json.loads(next((out / "points").glob("*/decode/*/done.json")).read_text())
    assert done["kind"] == "tuned" and done["generation"]["max_new_tokens"] in (2, 4)
    assert len(list((out / "points").glob("*/decode/*/pred.jsonl"))) == 2
    reloaded = load_sweep(out / "sweep.config.yaml")
    assert dataclasses.asdict(reloaded) == dataclasses.asdict(load_sweep(path))
    assert main(["sweep", str(path)]) == 0
    assert "0 training run(s) and 0 evaluation(s) done, 4 reused" in capsys.readouterr().out


def test_instruct_sweep_scores_responses_against_references_and_tests_them_against_base(tiny_model_dir, tmp_path):
    from fcmatch.data.instructions import Instruction, write_instructions

    records = [Instruction("Name a primary colour.", "", "Red.", id="r0"),
               Instruction("Summarise the sentence.", "Rain raises crop yield.", "Rain raises yields.", id="r1"),
               Instruction("What is two plus two?", "", "Four.", id="r2"),
               Instruction("Give a synonym of big.", "", "Large.", id="r3")]
    write_instructions(records, tmp_path / "train.json", "alpaca")
    write_instructions(records[:3], tmp_path / "test.json", "alpaca")
    outcome = run_sweep(sweep_from_dict({
        "out": str(tmp_path / "instruct"), "test_file": str(tmp_path / "test.json"), "progress": False,
        "base": {"task": "instruct", "model": str(tiny_model_dir), "train_file": str(tmp_path / "train.json"),
                 "batch_size": 2, "max_steps": 1, "lora_r": 2, "save_every": 0, "eval_every": 0, "num_threads": 1},
        "grid": {"lr": [1e-2]}, "decoding": {"max_new_tokens": 3, "num_beams": [1, 2]},
        "eval": {"bertscore": False, "bootstrap": 20}}))
    assert (outcome.trained, outcome.evaluated) == (1, 4)
    rows = read_csv(outcome.results)
    assert [r["kind"] for r in rows] == ["base", "base", "tuned", "tuned"]
    assert {"rougeL", "rougeL_ci_low", "rougeL_ci_high", "bleu", "token_f1", "exact_match", "rougeL_vs_base_p"} <= set(rows[0])
    assert "bertscore_f1" not in rows[0] and rows[2]["rougeL_vs_base_p"] != ""
    assert [r["decoding.num_beams"] for r in rows] == ["1", "2"] * 2
    pred = (Path(outcome.results).parent / "base").glob("decode/*/pred.jsonl")
    lines = [json.loads(line) for line in next(pred).read_text().splitlines()]
    assert [(x["id"], x["reference"]) for x in lines] == [("r0", "Red."), ("r1", "Rain raises yields."), ("r2", "Four.")]
    figures = sorted(p.name for p in (Path(outcome.results).parent / "plots").iterdir())
    assert figures == ["decoding.num_beams.png"]


def test_help_shows_the_sweep_keys_docstrings(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--out", "--max-test", "--batch-size", "--threads", "--no-progress"):
        assert flag in text
    assert "Evaluate on the first N test records only" in text


@pytest.mark.parametrize(("change", "message"), [
    ({"grid": {"lrr": [1e-3]}}, "grid.lrr: not a TrainConfig key"),
    ({"grid": {}}, "grid is empty"),
    ({"grid": {"lr": []}}, "grid.lr: no values"),
    ({"points": [{"lr": 1e-3}]}, "grid and points: give one of them"),
    ({"grid": None, "points": []}, "points is empty"),
    ({"grid": None, "points": [{"lr": 1e-3}, {"lr": 0.001}]}, "are the same training settings"),
    ({"grid": {"lr": [-1.0]}}, "lr=-1.0 must be > 0"),
    ({"grid": {"model": ["x"]}}, "grid.model: fixed within a sweep"),
    ({"grid": {"output_dir": ["x"]}}, "grid.output_dir: set by the sweep"),
    ({"decoding": {"beam": [2]}}, "decoding.beam: not a GenerationSettings key"),
    ({"decoding": {"temperature": [-1]}}, "--temperature must be >= 0"),
    ({"eval": {"colour": "red"}}, "eval: unknown key(s) colour"),
    ({"task": "poetry"}, "task='poetry': no evaluator"),
    ({"steps": 3}, "unknown key(s) steps"),
    ({"base": None}, "base: expected a mapping"),
    ({"test_file": ""}, "test_file is required"),
])
def test_config_errors_name_the_key(tiny_model_dir, data, tmp_path, change, message):
    values = {"test_file": str(data["test"]), "task": "causal", "base": base(tiny_model_dir, data),
              "grid": {"lr": [1e-3]}, **change}
    values = {k: v for k, v in values.items() if not (k == "grid" and v is None)}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        load_sweep(path)
    assert str(err.value).startswith(str(path))


def test_point_ids_follow_the_settings_not_their_spelling_or_the_grid_shape(tiny_model_dir, data):
    def ids(grid):
        return [p.id for p in train_points(sweep_from_dict({"test_file": "t", "task": "causal",
                                                           "base": base(tiny_model_dir, data), "grid": grid}))]

    assert ids({"lr": ["1e-3"]}) == ids({"lr": [0.001]})
    assert ids({"lr": [0.001]})[0].startswith("lr-0.001-")
    reshaped = ids({"lr": [0.001], "lora_r": [2]})[0]  # lora_r 2 is the base's value: the same training
    assert reshaped.rsplit("-", 1)[1] == ids({"lr": [0.001]})[0].rsplit("-", 1)[1]
    assert ids({"lr": [0.001]}) != ids({"lr": [0.002]})


def test_base_from_a_train_yaml_with_inline_overrides(data):
    config = sweep_from_dict({"test_file": str(data["test"]),
                              "base": {"extends": str(CONFIGS / "causal-lora.yaml"), "max_steps": 3}})
    assert (config.base["lr"], config.base["max_steps"], config.task) == (1e-3, 3, "causal")
    assert "output_dir" not in config.base
    assert sweep_from_dict({"test_file": "t", "base": str(CONFIGS / "causal-lora.yaml")}).base["lora_r"] == 16


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("sweep-*.yaml")), ids=lambda p: p.name)
def test_shipped_sweep_configs_load(path, monkeypatch):
    monkeypatch.chdir(CONFIGS.parent)  # their paths are relative to the checkout
    config = load_sweep(path)
    assert train_points(config) and Path(config.test_file).is_file() and Path(config.base["train_file"]).is_file()
