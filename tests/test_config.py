"""Typed command configs: the generic dataclass -> flags -> YAML library, and every command built on it.

For each command: ``--help`` shows every field's docstring, a bad value is an error naming the flag, and
the resolved config is written beside the command's output and loads back to the same dataclass.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

import pytest
import yaml

from conftest import write_jsonl
from fcmatch.cli import build_parser, main
from fcmatch.config import (
    ConfigError,
    add_arguments,
    check,
    config_path,
    convert,
    field_docs,
    from_args,
    from_dict,
    load_config,
    read_values,
    save_beside,
    setting,
)
from fcmatch.data.config import ConvertConfig, SplitConfig, StatsConfig
from fcmatch.evaluate.config import EvaluateConfig
from fcmatch.extract.config import ExtractConfig, GenerationSettings
from fcmatch.judge.config import AlignConfig, JudgeReportConfig, JudgeScoresConfig
from fcmatch.report.config import ReportConfig
from test_align import tiny_study
from test_report import _experiment

# every command whose flags come from a config dataclass
COMMANDS = {
    ("extract",): ExtractConfig,
    ("evaluate",): EvaluateConfig,
    ("report",): ReportConfig,
    ("align",): AlignConfig,
    ("judge", "report"): JudgeReportConfig,
    ("judge", "scores"): JudgeScoresConfig,
    ("data", "stats"): StatsConfig,
    ("data", "convert"): ConvertConfig,
    ("data", "split"): SplitConfig,
}


@dataclass
class Inner:
    """A nested config: its fields become flags of the outer one."""

    depth: int = setting(2, minimum=1)
    """How deep (at least 1)."""


@dataclass
class Toy:
    """A config with one field of every supported kind."""

    source: str = setting("", positional=True)
    """Where from."""
    rate: float = 0.5
    """A rate in %, help text with a percent sign."""
    label: str | None = None
    """An optional label."""
    kind: str = setting("a", choices=("a", "b"))
    """One of two kinds."""
    tags: list[str] = setting(default_factory=list, flag="--tag", repeat=True)
    """A repeatable tag."""
    sizes: tuple[int, ...] = (1, 2)
    """Several sizes."""
    verbose: bool = False
    """Say more."""
    inner: Inner = field(default_factory=Inner)
    """Nested settings."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        if self.label == "bad":
            raise ConfigError("--label bad: not allowed")


def _toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toy")
    add_arguments(parser, Toy)
    return parser


def test_flags_convert_to_the_field_types():
    args = _toy_parser().parse_args(["src", "--rate", "2", "--tag", "x", "--tag", "y", "--sizes", "3", "4",
                                     "--verbose", "--depth", "5", "--kind", "b", "--label", "l"])
    config = from_args(Toy, args)
    assert config == Toy("src", 2.0, "l", "b", ["x", "y"], (3, 4), True, Inner(5))
    assert from_args(Toy, _toy_parser().parse_args(["src"])) == Toy("src")  # absent flags keep the defaults


def test_field_docs_and_help(capsys, monkeypatch):
    assert field_docs(Toy)["rate"] == "A rate in %, help text with a percent sign."
    assert field_docs(ExtractConfig)["dtype"].startswith("Compute dtype: auto (fp32 on CPU, bf16 on CUDA devices")
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        _toy_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "A rate in %, help text with a percent sign. [default 0.5]" in out
    assert "--verbose, --no-verbose" in out and "[default --no-verbose]" in out
    assert "--tag TEXT" in out and "--kind {a,b}" in out and "--depth N" in out


def test_flags_win_over_a_yaml_base(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("source: from-file\nrate: 0.1\ninner:\n  depth: 7\n")
    config = from_args(Toy, _toy_parser().parse_args(["src", "--rate", "0.9"]), base=read_values(path))
    assert config == Toy("src", 0.9, inner=Inner(7))
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_values(path)


def test_bad_values_name_the_flag(capsys):
    for argv, expected in [
        (["s", "--depth", "deep"], "argument --depth: expected an integer, got 'deep'"),
        (["s", "--rate", "fast"], "argument --rate: expected a number, got 'fast'"),
    ]:
        with pytest.raises(SystemExit):
            _toy_parser().parse_args(argv)
        assert expected in capsys.readouterr().err
    for argv, expected in [
        (["s", "--kind", "c"], "--kind 'c': choose one of a, b"),
        (["s", "--depth", "0"], "--depth must be >= 1, got 0"),
        (["s", "--label", "bad"], "--label bad: not allowed"),
        (["", "--depth", "1"], "SOURCE is required"),
    ]:
        with pytest.raises(ConfigError, match=expected):
            from_args(Toy, _toy_parser().parse_args(argv))
    with pytest.raises(ConfigError, match="--depth: expected an integer"):
        from_dict(Toy, {"source": "s", "inner": {"depth": "deep"}})
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(Toy, {"source": "s", "speed": 1})


def test_convert_yaml_and_text_values():
    assert convert(int | None, None) is None and convert(str | None, "none") is None
    assert convert(float | None, "0.25") == 0.25 and convert(bool, "false") is False
    assert convert(tuple[str, ...], ["a", "b"]) == ("a", "b")
    with pytest.raises(ValueError, match="expected an integer"):
        convert(int, 1.5)
    with pytest.raises(ValueError, match="expected true or false"):
        convert(bool, "maybe")


def test_save_beside_a_file_and_a_folder(tmp_path):
    config = Toy("src", tags=["x"], inner=Inner(3))
    path = save_beside(config, tmp_path / "pred.jsonl")
    assert path == tmp_path / "pred.config.yaml" == config_path(tmp_path / "pred.jsonl")
    assert yaml.safe_load(path.read_text())["inner"] == {"depth": 3}
    assert path.read_text().startswith("# Toy as resolved by fcmatch ")
    assert load_config(Toy, path) == config == load_config(Toy, tmp_path / "pred.jsonl")
    (tmp_path / "report").mkdir()
    assert save_beside(config, tmp_path / "report") == tmp_path / "report" / "config.yaml"
    assert load_config(Toy, tmp_path / "report") == config
    with pytest.raises(FileNotFoundError):
        load_config(Toy, tmp_path / "other.jsonl")


def test_a_field_without_a_default_or_docstring_is_refused():
    @dataclass
    class NoDefault:
        name: str
        """A name."""

    @dataclass
    class NoDoc:
        name: str = ""

    for cls in (NoDefault, NoDoc):
        with pytest.raises(TypeError):
            add_arguments(argparse.ArgumentParser(), cls)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_every_field_docstring(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping, so each docstring stands on one line
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    docs = field_docs(COMMANDS[command])
    if COMMANDS[command] is ExtractConfig:
        docs = {**docs, **field_docs(GenerationSettings)}
        docs.pop("generation")  # a nested config: its own fields are the flags
    for name, doc in docs.items():
        assert doc in out, f"fcmatch {' '.join(command)} --help lacks the docstring of {name}"


@pytest.mark.parametrize(("argv", "message"), [
    (["extract", "--input", "a", "--output", "b", "--batch-size", "many"], "argument --batch-size: expected an integer"),
    (["evaluate", "--gold", "g", "--pred", "p", "--bootstrap", "1.5"], "argument --bootstrap: expected an integer"),
    (["report", "exp", "--examples", "x"], "argument --examples: expected an integer"),
    (["report", "exp", "--matchers", "nope"], "--matchers 'nope': choose one of"),
    (["extract", "--input", "a", "--output", "b", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["evaluate", "--gold", "g", "--pred", "p", "--match", "nope"], "--match 'nope': choose one of exact"),
    (["data", "split", "in.jsonl", "--fractions", "0.5", "0.2"], "--fractions must be positive and sum to 1"),
    (["data", "split", "in.jsonl", "--names", "a"], "--names needs 2 names"),
])
def test_cli_bad_value_names_the_flag(argv, message, capsys):
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse: a value that is not of the field's type
        status = exit_info.code
    assert status in (1, 2)
    assert message in capsys.readouterr().err


def _resolved(cls, argv):
    """The config ``argv`` resolves to, built the way the command builds it."""
    return from_args(cls, build_parser().parse_args(argv))


def test_extract_writes_its_config_beside_the_predictions(tiny_model_dir, tmp_path, capsys):
    sentences = write_jsonl(tmp_path / "in.jsonl", [{"text": "Rain raises yield.", "edges": []}])
    out = tmp_path / "pred.jsonl"
    argv = ["extract", "--model", str(tiny_model_dir), "--input", str(sentences), "--output", str(out),
            "--max-new-tokens", "4", "--batch-size", "2", "--no-progress"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["config_file"] == str(tmp_path / "pred.config.yaml")
    loaded = load_config(ExtractConfig, tmp_path / "pred.config.yaml")
    from fcmatch.extract.pipeline import resolve_recipe

    # extract resolves the recipe's defaults (retrieval, snapping) from the model's run folder before saving
    assert loaded == resolve_recipe(_resolved(ExtractConfig, argv))
    assert loaded.generation.max_new_tokens == 4 and loaded.batch_size == 2 and loaded.progress is False


GOLD = [{"text": "Rain raises yield.", "edges": [{"cause": "rain", "effect": "yield", "sign": "+"}]}]


def test_evaluate_writes_its_config_beside_out(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", GOLD)
    argv = ["evaluate", "--gold", str(gold), "--pred", str(gold), "--match", "fuzzy", "--threshold", "0.7",
            "--bootstrap", "20", "--json", "--out", str(tmp_path / "result.json")]
    assert main(argv) == 0
    loaded = load_config(EvaluateConfig, tmp_path / "result.config.yaml")
    assert loaded == _resolved(EvaluateConfig, argv)
    assert (loaded.match, loaded.threshold, loaded.bootstrap) == ("fuzzy", 0.7, 20)


def test_report_writes_its_config_into_the_report_folder(tmp_path):
    root = _experiment(tmp_path / "exp")
    argv = ["report", str(root), "--matchers", "exact", "--examples", "2", "--no-bertscore"]
    assert main(argv) == 0
    loaded = load_config(ReportConfig, root / "report" / "config.yaml")
    assert loaded == _resolved(ReportConfig, argv)
    assert loaded.matchers == ("exact",) and loaded.bertscore is False


def test_align_writes_its_config_beside_out(tmp_path):
    study = tiny_study(tmp_path / "study")
    argv = ["align", "--data", str(study), "--measure", "f1_exact", "--out", str(tmp_path / "align.json")]
    assert main(argv) == 0
    assert set(json.loads((tmp_path / "align.json").read_text())["measures"]) == {"f1_exact"}
    loaded = load_config(AlignConfig, tmp_path / "align.config.yaml")
    assert loaded == _resolved(AlignConfig, argv) and loaded.measures == ["f1_exact"]


def test_judge_report_writes_its_config_beside_the_page(tmp_path):
    study = tiny_study(tmp_path / "study")
    (study / "judgements" / "judge2.json").write_text((study / "judgements" / "judge1.json").read_text())
    argv = ["judge", "report", str(study), "--out", str(tmp_path / "r" / "page.html"), "--measure", "f1_exact"]
    assert main(argv) == 0
    loaded = load_config(JudgeReportConfig, tmp_path / "r" / "page.config.yaml")
    assert loaded == _resolved(JudgeReportConfig, argv) and loaded.data == str(study)


def test_data_convert_writes_its_config_beside_the_output(tmp_path):
    src = write_jsonl(tmp_path / "maps.jsonl", GOLD)
    argv = ["data", "convert", str(src), str(tmp_path / "maps.csv")]
    assert main(argv) == 0
    assert load_config(ConvertConfig, tmp_path / "maps.config.yaml") == _resolved(ConvertConfig, argv)


def test_demo_flags_come_from_demo_config(capsys, monkeypatch):
    from fcmatch.demo import DemoConfig, parse_args

    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(doc in out for doc in field_docs(DemoConfig).values())
    assert parse_args(["--matchers", "exact", "--no-progress"]) == DemoConfig(matchers=("exact",), progress=False)
