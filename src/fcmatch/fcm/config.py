"""The configurations of ``fcmatch fcm`` commands (each field is a flag), saved beside their outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from fcmatch.config import ConfigError, check, setting
from fcmatch.fcm.merge import LINKAGES

TRANSFERS = ("sigmoid", "tanh", "bivalent", "trivalent")
RULES = ("kosko", "modified", "rescaled")
EXPORTS = ("graphml", "gexf", "json", "csv", "mentalmodeler", "html", "png", "svg")


@dataclass
class MergeSettings:
    """How surface forms become concepts (see :mod:`fcmatch.fcm.merge`)."""

    threshold: float = 0.8
    """Cosine similarity (MiniLM) at or above which concept clusters merge; 1 = normalisation only."""
    linkage: str = setting("average", choices=LINKAGES)
    """Agglomerative linkage: average (default), complete, or single (= threshold-graph components, chains)."""
    codebook: str | None = setting(None, metavar="FILE")
    """Causal maps whose concepts are the canonical ones (e.g. the train split); forms snap to them first."""
    codebook_threshold: float = 0.85
    """Cosine at or above which a form joins its nearest codebook concept."""
    merges: str | None = setting(None, metavar="CSV")
    """A reviewed merge table (from fcm review); its clusters win over automatic merging."""
    encoder: str | None = setting(None, metavar="PATH")
    """Encoder folder; default the embedded all-MiniLM-L6-v2."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        for name in ("threshold", "codebook_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class BuildConfig:
    """Sentence maps (any supported format, several files) -> one corpus map JSON."""

    inputs: list[str] = setting(default_factory=list, positional=True, metavar="MAPS", required=True)
    """Causal-map files (JSONL, causal-claims CSV, MATCH JSON); NAME=FILE names the source (default: stem)."""
    output: str = setting("corpus.json", metavar="FILE")
    """The corpus map JSON; the config is written beside it."""
    merge: MergeSettings = field(default_factory=MergeSettings)
    weight_prior: float = setting(1.0, minimum=0)
    """Edge support n / (n + prior): how many sentences it takes to trust an edge (0 = count ignored)."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ReviewConfig:
    """Write a corpus map's editable merge table (and optionally serve its review page)."""

    corpus: str = setting("", positional=True, metavar="CORPUS", required=True)
    """A corpus map JSON from fcm build."""
    table: str = setting("merges.csv", metavar="CSV")
    """Where the merge table goes."""
    serve: bool = False
    """Also serve the review page (corpus map, evidence per edge, filters) on --host:--port."""
    host: str = "127.0.0.1"
    """Address to serve on (local by default)."""
    port: int = setting(8765, minimum=1)
    """Port to serve on."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class InferenceSettings:
    """The FCM update (see :mod:`fcmatch.fcm.inference`)."""

    transfer: str = setting("sigmoid", choices=TRANSFERS)
    """Transfer function squashing each concept's input."""
    rule: str = setting("modified", choices=RULES)
    """Update rule: kosko A'=f(AW), modified A'=f(A+AW), rescaled A'=f((2A-1)+(2A-1)W)."""
    steepness: float = setting(1.0, minimum=0)
    """Lambda of sigmoid/tanh."""
    max_steps: int = setting(100, minimum=1)
    """Iterations before giving up (then the run is reported as chaotic)."""
    tolerance: float = setting(1e-5, minimum=0)
    """Largest change between steps (or between a state and the one a period earlier) that counts as equal."""
    initial: float = 0.5
    """Every concept's starting activation (clamped ones start at their clamp)."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ScenarioConfig:
    """A what-if scenario on a corpus map: clamp concepts, compare the steady state with the baseline."""

    corpus: str = setting("", positional=True, metavar="CORPUS", required=True)
    """A corpus map JSON from fcm build."""
    clamp: list[str] = setting(default_factory=list, repeat=True, metavar="CONCEPT=VALUE", required=True)
    """Hold a concept (name or id) at a value, e.g. --clamp 'drought=1'; repeat for several."""
    output: str = setting("scenario.json", metavar="FILE")
    """The scenario result JSON; a .png plot and the config go beside it."""
    top: int = setting(12, minimum=1)
    """How many concepts (largest change) the plot shows."""
    inference: InferenceSettings = field(default_factory=InferenceSettings)

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        for item in self.clamp:
            name, eq, value = item.rpartition("=")
            if not eq or not name.strip():
                raise ConfigError(f"--clamp {item!r}: write CONCEPT=VALUE")
            try:
                float(value)
            except ValueError:
                raise ConfigError(f"--clamp {item!r}: {value!r} is not a number") from None


@dataclass
class ExportConfig:
    """Write a corpus map in standard graph formats."""

    corpus: str = setting("", positional=True, metavar="CORPUS", required=True)
    """A corpus map JSON from fcm build."""
    out_dir: str = setting("fcm-export", metavar="DIR")
    """Folder for the exported files (corpus.graphml, corpus.gexf, ...)."""
    formats: list[str] = setting(default_factory=lambda: list(EXPORTS), choices=EXPORTS, flag="--format",
                                 repeat=True)
    """Formats to write (repeat --format); default all."""
    min_weight: float = setting(0.0, minimum=0)
    """Leave out edges whose |weight| is below this from the drawings (png, svg, html)."""
    max_nodes: int = setting(60, minimum=1)
    """Draw at most this many concepts (the best connected) in png/svg."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class CorpusEvaluateConfig:
    """Compare a predicted corpus map with a gold one built from the same sentences."""

    gold: str = setting("", required=True, metavar="FILE")
    """Gold sentence maps (any format)."""
    pred: str = setting("", required=True, metavar="FILE")
    """Predicted sentence maps (any format)."""
    out_dir: str = setting("fcm-eval", metavar="DIR")
    """Folder for gold.json, pred.json, metrics.json and the comparison plot."""
    merge: MergeSettings = field(default_factory=MergeSettings)
    match_threshold: float = 0.7
    """MiniLM cosine at or above which a predicted concept cluster matches a gold one (one-to-one)."""
    weight_prior: float = setting(1.0, minimum=0)
    """As for fcm build."""

    def __post_init__(self) -> None:
        check(self)
