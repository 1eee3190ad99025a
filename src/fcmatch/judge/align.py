"""How well automatic measures agree with people's comparative judgements (``fcmatch align``).

Figures per measure (:mod:`fcmatch.judge.tables`), on a study with the layout of ../shared/data/match:
``pairwise_accuracy`` over the non-tie verdicts, ``kendall_bt`` (Kendall tau with the per-sentence
Bradley-Terry scores), ``spearman_paper`` (the MATCH paper's protocol: Elo-top item as reference,
Spearman with Elo over the other nine, mean over sentences) and ``reliability_accuracy`` (agreement
with each judge on the shared pairs, read against the human ceiling of :mod:`fcmatch.judge.ceiling`).

Three modes:

- cross-validation (``align(DIR)``): every measure leave-one-sentence-out, each fold's choices made on
  the other sentences (:func:`fcmatch.judge.selection.cross_validate`); the default measure is the one
  with the best cross-validated objective, and the ``selection`` figures are those of that whole choice
  made inside each fold (:func:`~fcmatch.judge.selection.nested_select`), the honest figure of the default.
- fit then score (``align(DIR2, fit=DIR)``): every measure fitted on all of DIR, the default chosen
  there, and the frozen measures applied unchanged to DIR2.
- frozen (``align(DIR2, frozen=FILE)``): measures saved by a fit (:func:`save_frozen`) applied to DIR2.

95% intervals: percentile bootstrap over sentences (1000 resamples, seeded).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from fcmatch.config import save_beside
from fcmatch.data.formats import atomic_write
from fcmatch.judge.ceiling import human_ceiling
from fcmatch.judge.config import AlignConfig
from fcmatch.judge.judgements import JudgementData, read_match_study
from fcmatch.judge.measures import MEASURES
from fcmatch.judge.selection import Family, choose, cross_validate, nested_select, summarise
from fcmatch.judge.tables import SentenceTable, objective, sentence_tables, sentences_of

__all__ = ["SentenceTable", "align", "align_study", "format_alignment", "sentence_tables"]

log = logging.getLogger(__name__)

FLOOR = "edge_count"
# Berijanian et al. 2024 (arXiv 2409.18911), best measure of the 20-sentence study, same protocol
PAPER_BEST = {"measure": "BLEURT", "spearman_paper": 0.152}
FROZEN_FORMAT = 1


def measure_names(measures: list[str] | None) -> list[str]:
    """The measures a run uses: those named, or every non-optional one.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    names = measures or [n for n, m in MEASURES.items() if not m.optional]
    unknown = [m for m in names if m not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; choose from {', '.join(MEASURES)}")
    return list(dict.fromkeys(names))


def study_hash(data_dir: str | os.PathLike) -> str:
    """sha256 over the study's JSON files (relative path and bytes), to name what a fit saw."""
    root = Path(data_dir)
    digest = hashlib.sha256()
    for path in sorted(root.glob("*/*.json")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_study(source: str | os.PathLike | JudgementData) -> JudgementData:
    """A study: a MATCH-layout folder read, or a study already read (e.g. by
    :func:`fcmatch.study.export.load_study` from the web app's database) as it is."""
    return source if isinstance(source, JudgementData) else read_match_study(source)


def _path(source: Any) -> str | None:
    return None if isinstance(source, JudgementData) else str(source)


def build_families(data: JudgementData, names: list[str],
                   params: dict[str, dict[str, Any]] | None = None) -> list[Family]:
    """Each named measure bound to ``data`` (only the frozen ``params[name]`` scored when given)."""
    sentences = sentences_of(data)
    out = []
    for name in names:
        log.info("scoring %s", name)
        out.append(MEASURES[name].family(data, sentences, None if params is None else params[name]))
    return out


def _row(name: str, figures: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**figures, "description": MEASURES[name].description, **extra}


def _frozen(default: str, params: dict[str, dict[str, Any]], data: JudgementData,
            data_dir: str | None) -> dict[str, Any]:
    return {
        "format": FROZEN_FORMAT,
        "default": default,
        "measures": params,
        "fitted_on": {"data": data_dir, "sha256": None if data_dir is None else study_hash(data_dir),
                      "sentences": list(data.sentences), "verdicts": sum(c.verdict != "tie" for c in data.judgements)},
    }


def cross_validated(data: JudgementData, names: list[str],
                    data_dir: str | None = None) -> tuple[dict[str, Any], list[Family]]:
    """The cross-validation mode on loaded data: (result, families); see :func:`align`."""
    families = build_families(data, names)
    sids = list(data.sentences)
    measures = {}
    for family in families:
        stats, folds = cross_validate(family, sids)
        params_all = family.fit(sids)
        extra = {"settings_all": params_all["settings"]} if set(params_all) == {"settings"} else {}
        measures[family.name] = _row(family.name, summarise(stats, sids), objective=objective(stats),
                                     params_all=params_all, folds=dict(zip(sids, folds, strict=True)), **extra)
    best, _ = choose(families, sids)
    nested = nested_select(families, sids)
    default = families[best].name
    frozen = _frozen(default, {n: m["params_all"] for n, m in measures.items()}, data, data_dir)
    result = {
        "mode": "cross-validation",
        "default": default,
        "selection": {**summarise(nested["stats"], sids), "chosen": dict(zip(sids, nested["chosen"], strict=True))},
        "ceiling": human_ceiling(data),
        "floor": FLOOR if FLOOR in measures else None,
        "paper_best": PAPER_BEST,
        "measures": measures,
        "frozen": frozen,
    }
    return result, families


def freeze(data: JudgementData, names: list[str], data_dir: str | None = None) -> dict[str, Any]:
    """Fit every named measure on all of ``data`` and choose the default there (best cross-validated
    objective): the frozen measures, as :func:`save_frozen` writes them."""
    families = build_families(data, names)
    sids = list(data.sentences)
    best, _ = choose(families, sids)
    return _frozen(families[best].name, {f.name: f.fit(sids) for f in families}, data, data_dir)


def save_frozen(frozen: dict[str, Any], path: str | os.PathLike) -> None:
    """Write frozen measures as JSON (every parameter, a few kB)."""
    with atomic_write(path) as handle:
        json.dump(frozen, handle, indent=1)
        handle.write("\n")


def load_frozen(path: str | os.PathLike) -> dict[str, Any]:
    """Read frozen measures written by :func:`save_frozen`.

    Raises:
        ValueError: not a frozen-measure file of this format.
    """
    frozen = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(frozen, dict) or frozen.get("format") != FROZEN_FORMAT or "measures" not in frozen:
        raise ValueError(f"{path}: not a frozen-measure file (format {FROZEN_FORMAT}) written by fcmatch align --save")
    return frozen


def score_frozen(data: JudgementData, frozen: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
    """Apply frozen measures unchanged to ``data``: figures with nothing fitted on it.

    Raises:
        ValueError: a named measure that ``frozen`` does not hold.
    """
    names = names or list(frozen["measures"])
    missing = [n for n in names if n not in frozen["measures"]]
    if missing:
        raise ValueError(f"measure(s) {missing} are not in the frozen file; it holds {', '.join(frozen['measures'])}")
    families = build_families(data, names, frozen["measures"])
    sids = list(data.sentences)
    measures = {}
    for family in families:
        params = frozen["measures"][family.name]
        stats = np.array([family.stats(params, s) for s in sids])
        measures[family.name] = _row(family.name, summarise(stats, sids), params=params)
    return {"mode": "frozen", "default": frozen["default"], "fitted_on": frozen.get("fitted_on"),
            "ceiling": human_ceiling(data), "floor": FLOOR if FLOOR in measures else None,
            "paper_best": PAPER_BEST, "measures": measures}


def align(data_dir: str | os.PathLike | JudgementData, measures: list[str] | None = None,
          fit: str | os.PathLike | JudgementData | None = None,
          frozen: str | os.PathLike | dict[str, Any] | None = None) -> dict[str, Any]:
    """Agreement of automatic measures with the human verdicts of a study (module docstring).

    Args:
        data_dir: the study scored: a folder with the layout of ../shared/data/match, or a study
            already read (:func:`read_study`).
        measures: names in :data:`fcmatch.judge.measures.MEASURES`; default every non-optional one.
        fit: fit on this study (folder or read) instead and score ``data_dir`` with the frozen fit.
        frozen: frozen measures (a :func:`save_frozen` file or its dict) to apply to ``data_dir``.

    Returns:
        ``mode``, ``default``, ``measures`` (name -> figures of :func:`~fcmatch.judge.selection.summarise`
        plus ``description`` and the params used), ``ceiling``, ``floor``, ``paper_best``; in
        cross-validation ``selection`` too; ``frozen``: the measures fitted on all sentences (the
        study's own in cross-validation) or applied.

    Raises:
        ValueError: an unknown measure, ``fit`` and ``frozen`` together, or a bad frozen file.
        FileNotFoundError, fcmatch.data.formats.FormatError: from reading a study.
    """
    if fit is not None and frozen is not None:
        raise ValueError("give --fit or --frozen, not both")
    if frozen is not None:
        frozen = frozen if isinstance(frozen, dict) else load_frozen(frozen)
        result = score_frozen(read_study(data_dir), frozen, measures)
        return {**result, "frozen": frozen}
    names = measure_names(measures)
    if fit is not None:
        frozen = freeze(read_study(fit), names, _path(fit))
        return {**score_frozen(read_study(data_dir), frozen), "frozen": frozen}
    return cross_validated(read_study(data_dir), names, _path(data_dir))[0]


def align_study(config: AlignConfig, data: JudgementData | None = None) -> dict[str, Any]:
    """Run ``fcmatch align``: :func:`align`; with ``config.out`` the result as JSON there (config beside
    it), with ``config.save`` the frozen measures (the default and every measure's fit on all sentences).

    Args:
        config: the command's settings.
        data: the study, when the caller read it (``--study``); None reads ``config.data``.

    Raises:
        ValueError, FileNotFoundError: as :func:`align`.
    """
    result = align(data if data is not None else config.data, config.measures or None, config.fit, config.frozen)
    if config.save is not None:
        save_frozen(result["frozen"], config.save)
    if config.out is not None:
        with atomic_write(config.out) as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")
        save_beside(config, config.out)
    return result


def _cell(figures: dict[str, Any] | None, key: str) -> str:
    value = None if figures is None else figures.get(key)
    if value is None:
        return "–"
    ci = figures.get(f"{key}_ci")
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"


def _gap(figures: dict[str, Any], floor: dict[str, Any] | None, ceiling: dict[str, Any] | None) -> str:
    """Share of the way from the floor to the human ceiling, on the shared pairs."""
    if not floor or not ceiling or figures.get("reliability_accuracy") is None:
        return "–"
    low, high = floor["reliability_accuracy"], ceiling["pairwise_accuracy"]
    if low is None or high == low:
        return "–"
    return f"{(figures['reliability_accuracy'] - low) / (high - low):.2f}"


def format_alignment(result: dict[str, Any]) -> str:
    """The alignment result as a markdown table: every measure (default *, floor marked), the nested
    selection, the human ceiling and the paper's best measure."""
    lines = [
        "| measure | pairwise accuracy [95% CI] | Kendall tau (BT) [95% CI] | spearman_paper [95% CI] "
        "| shared pairs [95% CI] | floor→ceiling | verdicts |",
        "|---|---|---|---|---|---|---|",
    ]
    floor = result["measures"].get(result.get("floor") or "")
    ceiling = result.get("ceiling")

    def row(label: str, f: dict[str, Any]) -> str:
        return (f"| {label} | {_cell(f, 'pairwise_accuracy')} | {_cell(f, 'kendall_bt')} | {_cell(f, 'spearman_paper')} "
                f"| {_cell(f, 'reliability_accuracy')} | {_gap(f, floor, ceiling)} | {f['verdicts']} |")

    for name, f in result["measures"].items():
        mark = " *" if name == result["default"] else " (floor)" if name == result.get("floor") else ""
        lines.append(row(f"{name}{mark}", f))
    if "selection" in result:
        lines.append(row("nested selection (the default, chosen in each fold)", result["selection"]))
    if ceiling:
        ci = ceiling["pairwise_accuracy_ci"]
        lines.append(f"| human ceiling (one judge vs the others' majority) | – | – | – "
                     f"| {ceiling['pairwise_accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | 1.00 | {ceiling['verdicts']} |")
    best = result.get("paper_best")
    if best:
        lines.append(f"| paper's best ({best['measure']}, 20 sentences) | – | – | {best['spearman_paper']:.3f} | – | – | – |")
    return "\n".join(lines)
