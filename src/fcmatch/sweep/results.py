"""A sweep's table: one row per evaluated point, read from the points' ``done.json``, written as results.csv.

A row holds the point's settings (training keys by name, decoding keys as ``decoding.<key>``), every metric
as ``<metric>``, ``<metric>_ci_low`` and ``<metric>_ci_high``, the paired test against the base model at the
same decoding point (``<metric>_vs_base``: tuned - base, ``<metric>_vs_base_p``: its p-value), and the
run's cost: training seconds and tokens/s from its manifest.json, the last training loss from metrics.jsonl,
and the evaluation's seconds.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from fcmatch.data.formats import atomic_write

DECODING = "decoding."
COST = ("train_seconds", "tokens_per_s", "train_loss", "train_steps", "eval_seconds")


def run_stats(run: str | os.PathLike) -> dict[str, Any]:
    """What a finished training run cost and reached: ``train_seconds``, ``tokens_per_s``, ``train_steps``
    (from ``manifest.json``) and ``train_loss`` (the last loss in ``metrics.jsonl``); None where absent."""
    run = Path(run)
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").is_file() else {}
    loss = None
    if (run / "metrics.jsonl").is_file():
        for line in (run / "metrics.jsonl").read_text().splitlines():
            if line.strip():
                loss = json.loads(line).get("loss", loss)
    return {"train_seconds": manifest.get("train_seconds"), "tokens_per_s": manifest.get("tokens_per_s"),
            "train_steps": manifest.get("steps"), "train_loss": loss}


def point_row(done: dict[str, Any], comparison: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """The results row of one ``done.json`` (and its paired test against the base, for a tuned point)."""
    row: dict[str, Any] = {"point": done["point"], "kind": done["kind"]}
    row.update(done.get("train") or {})
    row.update({DECODING + k: v for k, v in (done.get("decoding") or {}).items()})
    for name, metric in done["metrics"].items():
        row[name] = metric["value"]
        row[f"{name}_ci_low"] = metric.get("ci_low")
        row[f"{name}_ci_high"] = metric.get("ci_high")
    for name, test in (comparison or {}).items():
        row[f"{name}_vs_base"] = test["difference"]
        row[f"{name}_vs_base_p"] = test["p_value"]
    stats = done.get("run") or {}
    for key in COST:
        row[key] = stats.get(key) if key != "eval_seconds" else done.get("eval_seconds")
    return row


def metric_names(dones: list[dict[str, Any]]) -> list[str]:
    """The metrics of the points, in the order their evaluator reports them."""
    return list(dict.fromkeys(name for done in dones for name in done["metrics"]))


def columns(rows: list[dict[str, Any]], train_keys: list[str], decode_keys: list[str], metrics: list[str]) -> list[str]:
    """Column order of results.csv: point, kind, settings, metrics with intervals, tests against base, cost."""
    out = ["point", "kind", *train_keys, *(DECODING + k for k in decode_keys)]
    for name in metrics:
        out += [name, f"{name}_ci_low", f"{name}_ci_high"]
    present = {key for row in rows for key in row}
    for name in metrics:
        out += [key for key in (f"{name}_vs_base", f"{name}_vs_base_p") if key in present]
    return out + list(COST)


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return value


def write_csv(rows: list[dict[str, Any]], header: list[str], path: str | os.PathLike) -> Path:
    """Write ``rows`` under ``header`` (missing values as empty cells) atomically; returns the path."""
    path = Path(path)
    with atomic_write(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(row.get(key)) for key in header})
    return path


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """results.csv back as text cells (for tests and scripts)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
