"""The few-shot grid's results.csv, figures and report.md, from the points' done.json.

results.csv has one row per run: method, k, seed, pattern; per test set ``<set>_accuracy`` (with
``_ci_low``/``_ci_high``), ``<set>_macro_f1``, ``<set>_mcc`` and ``<set>_skipped``; the cost per in-domain
test example (``prompt_tokens``, ``context_tokens``, ``latency_ms``, ``peak_memory_mb``) and the training
cost (``train_seconds``, ``train_loss``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fcmatch.data.formats import atomic_write
from fcmatch.fewshot import plots
from fcmatch.fewshot.config import FewshotConfig
from fcmatch.sweep.results import write_csv

METRICS = ("accuracy", "macro_f1", "mcc")


def row_of(done: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """The results row of one done.json."""
    row: dict[str, Any] = {key: done[key] for key in ("point", "method", "k", "seed", "pattern")}
    for name in sets:
        result = done["sets"].get(name, {})
        row[f"{name}_skipped"] = result.get("skipped", "")
        for metric in METRICS:
            value = (result.get("metrics") or {}).get(metric) or {}
            row[f"{name}_{metric}"] = value.get("value")
            if metric == "accuracy":
                row[f"{name}_accuracy_ci_low"], row[f"{name}_accuracy_ci_high"] = value.get("ci_low"), value.get("ci_high")
    first = done["sets"].get("test_id") or next(iter(done["sets"].values()), {})
    row["prompt_tokens"] = first.get("prompt_tokens") or None
    row["context_tokens"] = first.get("context_tokens")
    row["latency_ms"] = 1000 * first["latency_s"] if first.get("latency_s") else None
    row["peak_memory_mb"] = first.get("peak_memory_mb")
    row["train_seconds"] = done.get("train_seconds")
    row["train_loss"] = (done.get("run") or {}).get("train_loss")
    return row


def header(sets: Sequence[str]) -> list[str]:
    """results.csv's columns."""
    out = ["point", "method", "k", "seed", "pattern"]
    for name in sets:
        out += [f"{name}_accuracy", f"{name}_accuracy_ci_low", f"{name}_accuracy_ci_high", f"{name}_macro_f1",
                f"{name}_mcc", f"{name}_skipped"]
    return out + ["prompt_tokens", "context_tokens", "latency_ms", "peak_memory_mb", "train_seconds", "train_loss"]


def kv_bytes_per_token(model: str) -> int | None:
    """Bytes of KV cache one context token takes in fp32 (layers x 2 x kv heads x head size x 4); None if unknown."""
    try:
        from transformers import AutoConfig

        from fcmatch.models import resolve

        c = AutoConfig.from_pretrained(resolve(model))
        heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        return int(c.num_hidden_layers * 2 * heads * head_dim * 4)
    except (OSError, ValueError, AttributeError):
        return None


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def _groups(rows: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    return list(dict.fromkeys((r["method"] if r["k"] else "zero-shot", r["k"]) for r in rows))


def accuracy_table(rows: Sequence[dict[str, Any]], sets: Sequence[str], metric: str = "accuracy") -> list[str]:
    """Markdown: median [min, max] of ``metric`` over runs (seeds and patterns) per method and k, a column per set."""
    lines = ["| method | k | runs | " + " | ".join(plots.TITLES.get(s, s) for s in sets) + " |",
             "|---|---:|---:|" + "---|" * len(sets)]
    for method, k in sorted(_groups(rows), key=lambda g: (g[1], g[0])):
        picked = [r for r in rows if (r["method"] if r["k"] else "zero-shot") == method and r["k"] == k]
        cells = [_spread([r[f"{s}_{metric}"] for r in picked if r.get(f"{s}_{metric}") is not None]) for s in sets]
        lines.append(f"| {method} | {k} | {len(picked)} | " + " | ".join(cells) + " |")
    return lines


def cost_table(rows: Sequence[dict[str, Any]], kv_per_token: int | None = None) -> list[str]:
    """Markdown: median cost per in-domain test example and training seconds, per method and k; with
    ``kv_per_token``, the demonstrations' KV cache in MiB (exact, where the sampled peak memory is noisy on a CPU)."""
    lines = ["| method | k | prompt tokens | context KV MiB | latency ms | peak MiB | train s |",
             "|---|---:|---:|---:|---:|---:|---:|"]

    def med(picked: list[dict[str, Any]], key: str, fmt: str) -> str:
        vals = [r[key] for r in picked if isinstance(r.get(key), (int, float))]
        return format(statistics.median(vals), fmt) if vals else "-"

    for method, k in sorted(_groups(rows), key=lambda g: (g[0], g[1])):
        picked = [r for r in rows if (r["method"] if r["k"] else "zero-shot") == method and r["k"] == k]
        kv = med(picked, "context_tokens", ".0f")
        kv = f"{float(kv) * kv_per_token / 2**20:.0f}" if kv_per_token and kv != "-" else "-"
        lines.append(f"| {method} | {k} | {med(picked, 'prompt_tokens', '.0f')} | {kv} | {med(picked, 'latency_ms', '.1f')} | "
                     f"{med(picked, 'peak_memory_mb', '.0f')} | {med(picked, 'train_seconds', '.0f')} |")
    return lines


def write_report(root: Path, dones: Sequence[dict[str, Any]], config: FewshotConfig) -> Path:
    """results.csv, the PNGs and report.md in ``root``; returns report.md's path."""
    sets = list(config.test_sets)
    rows = [row_of(d, sets) for d in dones]
    write_csv(rows, header(sets), root / "results.csv")
    figures = [plots.accuracy_vs_k(rows, sets, root / "fewshot-accuracy-vs-k.png"),
               plots.id_vs_ood(rows, sets, root / "fewshot-id-vs-ood.png"),
               plots.patterns(rows, sets, root / "fewshot-patterns.png"),
               plots.cost(rows, root / "fewshot-cost.png")]
    skipped = [f"- {r['point']} ({s}): {r[f'{s}_skipped']}" for r in rows for s in sets if r.get(f"{s}_skipped")]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Few-shot grid: ICL against fine-tuning on the same k examples", "",
        f"{stamp}; model `{config.model}` (decoder methods), MiniLM for minilm-*; data `{config.data or 'bundled demo'}`; "
        f"{len(rows)} runs. Accuracy: median [min, max] over seeds and patterns.", "",
        *accuracy_table(rows, sets), "",
        "## Matthews correlation (0 = chance, whatever the label balance)", "", *accuracy_table(rows, sets, "mcc"), "",
        "## Cost per in-domain test example (median over runs)", "", *cost_table(rows, kv_bytes_per_token(config.model)), "",
        "## Figures", "", *[f"![{f.stem}]({f.name})" for f in figures if f is not None], "",
    ]
    if skipped:
        text += ["## Skipped (context longer than the model's limit)", "", *skipped, ""]
    path = root / "report.md"
    with atomic_write(path) as handle:
        handle.write("\n".join(text))
    return path
