"""The few-shot grid file (``fcmatch fewshot GRID.yaml``): data, methods x k x seeds x patterns, schedules.

Every key is a field of :class:`FewshotConfig` (nested blocks ``pbft``, ``distill``, ``encoder``); unknown keys
and bad values fail before anything runs, naming the key. ``configs/fewshot-demo.yaml`` and
``configs/fewshot-sign.yaml`` are examples; docs/fewshot.md explains each choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fcmatch.config import ConfigError, read_values, setting
from fcmatch.fewshot.pbft import METHODS as PBFT_METHODS
from fcmatch.fewshot.pbft import PBFTConfig

ENCODER_METHODS = ("minilm-full", "minilm-bitfit", "minilm-lora", "minilm-setfit")
METHODS = ("icl", *PBFT_METHODS, "distill", *ENCODER_METHODS)
TEST_SETS = ("test_id", "test_ood", "test_flip")


@dataclass
class DistillBlock:
    """Context distillation runs: the frozen model with the k demonstrations teaches a LoRA student without them."""

    queries: int = setting(64, minimum=1)
    """Unlabelled in-domain queries distilled on (drawn from the training pool, never the k examples or a test set)."""
    epochs: int = setting(5, minimum=1)
    """Passes over the queries."""
    learning_rate: float = setting(1e-3, minimum=0)
    """Peak AdamW learning rate of the student's LoRA."""
    lora_r: int = setting(8, minimum=1)
    """Student LoRA rank."""
    temperature: float = setting(1.0, minimum=1e-3)
    """Softmax temperature of teacher and student (the loss is scaled by T^2)."""
    over: str = setting("labels", choices=("vocab", "labels"))
    """KL over the whole vocabulary or over the verbalizer tokens, at the answer position."""
    batch_size: int = setting(8, minimum=1)
    """Queries per optimizer step."""
    max_k: int = setting(0, minimum=0)
    """Distil only at k <= max_k (0 = every k): the teacher reads all k demonstrations for every query."""


@dataclass
class EncoderBlock:
    """The MiniLM encoder baselines (fcmatch.fewshot.encoder) trained on the same k examples."""

    epochs: int = setting(30, minimum=1)
    """Passes over the k examples (setfit: over its pairs)."""
    batch_size: int = setting(8, minimum=1)
    """Examples (setfit: pairs) per step."""
    selection: str = setting("last", choices=("last", "dev"))
    """Keep the last epoch, or the best dev accuracy on the run's dev set of size k."""


@dataclass
class FewshotConfig:
    """One few-shot grid: ICL against fine-tuning on the same k examples, in and out of domain."""

    out: str = "runs/fewshot"
    """Grid folder: points/<id>/done.json, results.csv, report.md, fewshot-*.png, fewshot.config.yaml."""
    data: str = ""
    """Causal-claims folder (train_data.csv, val_data.csv), e.g. ../shared/data/causal; empty = the bundled demo data."""
    format: str = "sign"
    """Data: sign (the causal claims in data) or a reference-study reader (rte, mnli, mnli-merge, qqp, hans,
    paws-qqp, cola, cola-ood) reading train_file, test_id_file and test_ood_file."""
    train_file: str = ""
    """With another format: the training pool (e.g. MNLI train.tsv)."""
    test_id_file: str = ""
    """With another format: the in-domain test file (e.g. MNLI dev_matched.tsv)."""
    test_ood_file: str = ""
    """With another format: the shifted test file (e.g. HANS heuristics_evaluation_set.txt)."""
    ood_format: str = ""
    """The reader of test_ood_file (empty = format; e.g. hans for MNLI -> HANS, paws-qqp for QQP -> PAWS)."""
    in_domain: list[str] = field(default_factory=list)
    """In-domain sources (empty = ronak_patel_csv, or the demo's six large fields); every other source is out of domain."""
    test_cap: int = setting(250, minimum=0)
    """Most records per test set, a seeded sample (0 = all)."""
    test_sets: list[str] = setting(default_factory=lambda: list(TEST_SETS), choices=TEST_SETS)
    """Test sets scored: test_id (in domain), test_ood (other corpora), test_flip (decreases-hypothesis, labels flipped)."""
    model: str = "smollm2-135m-instruct"
    """Decoder model of icl, pbft-* and distill: an fcmatch model name or a local folder."""
    methods: list[str] = setting(default_factory=lambda: ["icl", "pbft-lora"], choices=METHODS)
    """Methods: icl, pbft-lora, pbft-full, pbft-bitfit, distill, minilm-full, minilm-bitfit, minilm-lora, minilm-setfit."""
    ks: list[int] = field(default_factory=lambda: [16, 64])
    """Numbers of training examples (balanced, k/2 per label)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Data seeds: which k examples (the same for every method), their order and each run's init."""
    patterns: list[str] = field(default_factory=lambda: ["gpt-3"])
    """ICL patterns (built in: minimal, gpt-3, eval-harness, chat; or names from pattern_file)."""
    train_patterns: list[str] = field(default_factory=list)
    """Patterns of pbft-* and distill runs (empty = the first of patterns)."""
    pattern_file: str = ""
    """YAML list of user patterns (the fields of fcmatch.fewshot.patterns.Pattern), usable by name above."""
    zero_shot: bool = True
    """Also score the untuned model with no demonstrations (one point per pattern, k=0)."""
    batch_size: int = setting(8, minimum=1)
    """Test queries per forward pass."""
    resamples: int = setting(1000, minimum=0)
    """Bootstrap resamples of each metric's interval (0 = none)."""
    threads: int = setting(1, minimum=0)
    """CPU threads for torch (0 = torch's default)."""
    progress: bool = True
    """Progress bar over the points."""
    pbft: PBFTConfig = field(default_factory=PBFTConfig)
    """The pbft-* schedule and checkpoint selection."""
    distill: DistillBlock = field(default_factory=DistillBlock)
    """The distill runs' settings."""
    encoder: EncoderBlock = field(default_factory=EncoderBlock)
    """The minilm-* runs' settings."""

    def validate(self) -> FewshotConfig:
        """Raises ConfigError naming the key."""
        if not self.methods or not self.ks or not self.seeds or not self.patterns:
            raise ConfigError("methods, ks, seeds and patterns must each list at least one value")
        for k in self.ks:
            if k < 2 or k % 2:
                raise ConfigError(f"ks: {k} must be an even number >= 2 (k/2 examples per label)")
        if self.format != "sign":
            if not self.train_file or not self.test_id_file:
                raise ConfigError(f"format={self.format}: train_file and test_id_file are required")
            if "test_flip" in self.test_sets:
                raise ConfigError("test_sets: test_flip exists for format sign only")
            if "test_ood" in self.test_sets and not self.test_ood_file:
                raise ConfigError("test_sets: test_ood needs test_ood_file")
        if self.data and not Path(self.data).is_dir():
            raise ConfigError(f"data={self.data!r}: no such folder")
        self.pbft.validate()
        return self

    @property
    def fine_tune_patterns(self) -> list[str]:
        """The patterns pbft-* and distill runs use."""
        return self.train_patterns or self.patterns[:1]


def load_grid(path: str | Path, overrides: dict | None = None) -> FewshotConfig:
    """The grid file as a validated :class:`FewshotConfig`, with ``overrides`` (command-line flags) on top.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: unknown keys or bad values, naming the file and key.
    """
    from fcmatch.config import from_dict

    values = {**read_values(path), **(overrides or {})}
    return from_dict(FewshotConfig, values, f"{path}: ")
