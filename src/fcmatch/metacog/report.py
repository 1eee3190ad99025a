"""``report.md`` of a metacognition study: label balance, validator against baselines, the loop and its oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fcmatch.data.formats import atomic_write

METRICS = ("exact_match", "token_f1", "rougeL", "bertscore_f1", "correct_rate")


def _ci(cell: dict[str, Any]) -> str:
    if cell.get("ci_low") is None:
        return f"{cell['value']:.3f}"
    return f"{cell['value']:.3f} [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]"


def _diff(cell: dict[str, Any]) -> str:
    return f"{cell['difference']:+.3f} [{cell['ci_low']:+.3f}, {cell['ci_high']:+.3f}] (p {cell['p_value']:.3f})"


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def validator_table(result: dict[str, Any]) -> list[str]:
    """Markdown rows: the validator and the three baselines on the held-out labelled rows."""
    lines = ["| judge | accuracy | precision | recall | F1 | MCC | AUROC |", "|---|---|---|---|---|---|---|"]
    rows = [(f"validator (threshold {result['test']['threshold']:.3f})", result["test"])]
    rows += [(name.replace("_", " "), result["baselines"][name]) for name in ("always_correct", "always_wrong")]
    rule = result["baselines"]["bertscore_rule"]
    rows.append((f"BERTScore rule (reads the gold; threshold {rule['threshold']:.3f})", rule))
    for name, m in rows:
        lines.append(f"| {name} | {m['accuracy']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                     f"{m['mcc']:.3f} | {_num(m.get('auroc'))} |")
    return lines


def loop_table(loop: dict[str, Any]) -> list[str]:
    """Markdown rows: answer quality before and after each loop variant, with the paired difference."""
    first = next(v for k, v in loop.items() if isinstance(v, dict) and "before" in v)
    lines = ["| metric | before | " + " | ".join(f"{k} after | {k} after - before" for k in _variants(loop)) + " |",
             "|---|---|" + "---|---|" * len(_variants(loop))]
    for metric in METRICS:
        cells = [_ci(first["before"][metric])]
        for k in _variants(loop):
            cells += [_ci(loop[k]["after"][metric]), _diff(loop[k]["difference"][metric])]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


def _variants(loop: dict[str, Any]) -> list[str]:
    return [k for k, v in loop.items() if isinstance(v, dict) and "after" in v]


def write_report(results: dict[str, Any], config: Any, path: Path) -> Path:
    """Write the study's markdown report; returns its path."""
    labels, validator, loop, adapters = results["labels"], results["validator"], results["loop"], results["adapters"]
    lines = [f"# Metacognition study: {config.model}", "",
             f"{results['questions']['train']} training and {results['questions']['test']} held-out questions; "
             f"prompt style {config.style}; label temperatures {config.temperatures}; rounds {config.rounds} at "
             f"{config.round_temperatures}; labelling rule preset {config.rule.preset}.", "", "## Labelled predictions", "",
             "| rows | CORRECT | WRONG | questions |", "|---|---|---|---|"]
    for split in ("train", "test", "validator_fit", "validator_val"):
        s = labels[split]
        lines.append(f"| {split}: {s['rows']} | {s['correct']} | {s['wrong']} | {s['questions']} |")
    lines += ["", f"EXAR rows (WRONG training rows, target the gold answer): {labels['exar_rows']}.", "",
              "## Validator on held-out questions", "",
              f"Threshold chosen on the validation questions by {validator['threshold_metric']}; ECE "
              f"{validator['test']['calibration']['ece']:.3f} (reliability.png).", "", *validator_table(validator), "",
              "## The loop on held-out questions", "",
              "Values with 95% bootstrap intervals; differences paired (after - before), p from a paired permutation test.",
              "", *loop_table(loop), ""]
    lines += ["| variant | changed | fixed | broken | extra generations / question | regenerated questions | seconds |",
              "|---|---|---|---|---|---|---|"]
    for k in _variants(loop):
        o, c = loop[k]["outcomes"], loop[k]["cost"]
        lines.append(f"| {k} | {o['changed']} | {o['fixed']} | {o['broken']} | {c['extra_generations_per_question']:.2f} "
                     f"| {c['regenerated_questions']} | {c['seconds']:.1f} |")
    lines += ["", f"First answers: {loop['first_answer_seconds']:.1f} s for all held-out questions.", "",
              "## Adapters on one base", "", "| setup | parameter MiB | seconds per forward call |", "|---|---|---|",
              f"| one base, set_adapter per call | {adapters['one_base']['parameter_mb']:.1f} | "
              f"{adapters['one_base']['seconds_per_call']:.4f} |",
              f"| separate model copies ({len(adapters['adapters'])}) | {adapters['separate']['parameter_mb']:.1f} | "
              f"{adapters['separate']['seconds_per_call']:.4f} |"]
    for name, m in adapters["merged"].items():
        lines.append(f"| add_weighted_adapter {name} | {m['parameter_mb']:.1f} | {m['seconds_per_call']:.4f} |")
    lines.append("")
    with atomic_write(path) as handle:
        handle.write("\n".join(lines))
    return path
