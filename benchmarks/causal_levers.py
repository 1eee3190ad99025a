"""The extraction-lever study on the causal-claims data: one table of systems scored on one gold split.

    # a model-free baseline: each sentence gets the coded edges of its nearest training sentence
    .venv/bin/python benchmarks/causal_levers.py knn --pool ../shared/data/causal/train_data.csv \
        --input ../shared/data/causal/val_data.csv --output levers/pred_knn.jsonl
    # the table: systems as NAME=PRED, codebook snapping of some at a grid of thresholds, majority votes
    .venv/bin/python benchmarks/causal_levers.py table --gold ../shared/data/causal/val_data.csv \
        --pool ../shared/data/causal/train_data.csv --system knn=levers/pred_knn.jsonl rag=levers/pred_rag.jsonl \
        --snap rag --snap-grid 0.7 0.8 0.9 --vote rag5=levers/s1.jsonl,levers/s2.jsonl,levers/s3.jsonl --out levers

Per system: micro and macro edge F1 under exact, one-to-one embedding (MiniLM cosine >= 0.7) and the MATCH
paper's matching (ROUGE-1 >= 0.5, many-to-many), each macro F1 with a 95% bootstrap interval over sentences;
edge-count calibration (predicted against gold edges, mean absolute difference per sentence); sign accuracy on
matched edges (edges whose two ends match a gold edge, embedding matching: the share with the right sign);
embedding macro F1 per source corpus. Snapped rows add how many concepts were snapped and how many of those
became a gold concept of their sentence. Vote rows sweep the minimum votes from 1 to the number of samples
(the precision/recall curve). Writes ``OUT/levers.json`` and ``OUT/levers.md`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import CausalMap, normalize_concept
from fcmatch.data.formats import read_maps, write_jsonl
from fcmatch.evaluate.bootstrap import bootstrap_ci
from fcmatch.evaluate.graph import evaluate_maps
from fcmatch.evaluate.pairing import pair_maps
from fcmatch.extract.codebook import Codebook
from fcmatch.extract.consistency import vote_maps
from fcmatch.extract.retrieval import Retriever

MATCHERS = ("exact", "embedding", "paper")


def knn_predictions(pool: list[CausalMap], inputs: list[CausalMap], k: int = 1) -> list[CausalMap]:
    """Each input gets the edges of its nearest pool sentence (k = 1) or the edges at least half of its k nearest
    share (k > 1); never its own."""
    neighbours = Retriever(pool, k).neighbours([m.text for m in inputs])
    runs = [[CausalMap(m.text, n[s].edges, m.source) for m, n in zip(inputs, neighbours, strict=True)]
            for s in range(k)]
    return runs[0] if k == 1 else vote_maps(runs)


def sign_accuracy(result: dict[str, Any]) -> float | None:
    """Correct edges over correct plus sign-flipped edges, from an ``evaluate_maps`` result."""
    c = result["counts"]
    correct = c["n_pred"] - c["fp"]
    return correct / (correct + c["sign_errors"]) if correct + c["sign_errors"] else None


def score(gold: list[CausalMap], pred: list[CausalMap], resamples: int) -> dict[str, Any]:
    """Every matcher's micro/macro F1 with intervals, calibration, sign accuracy and per-source F1."""
    out: dict[str, Any] = {}
    for name in MATCHERS:
        result = evaluate_maps(gold, pred, name)
        ci = bootstrap_ci(result["per_sentence"], resamples, 0)
        out[name] = {"micro": result["micro"], "macro": result["macro"], "ci": ci, "counts": result["counts"],
                     "sign_accuracy": sign_accuracy(result)}
        if name == "embedding":
            by_source: dict[str, list[float]] = defaultdict(list)
            sources = {m.text: m.source or "(none)" for m in gold}
            for row in result["per_sentence"]:
                by_source[sources[row["text"]]].append(row["f1"])
            out["per_source"] = {s: {"sentences": len(v), "macro_f1": sum(v) / len(v)} for s, v in sorted(by_source.items())}
            rows = result["per_sentence"]
            out["calibration"] = {
                "gold_edges": sum(r["n_gold"] for r in rows),
                "pred_edges": sum(r["n_pred"] for r in rows),
                "mean_abs_diff": sum(abs(r["n_pred"] - r["n_gold"]) for r in rows) / len(rows),
                "same_count": sum(r["n_pred"] == r["n_gold"] for r in rows) / len(rows),
            }
    return out


def snap_report(gold: list[CausalMap], before: list[CausalMap], after: list[CausalMap]) -> dict[str, int]:
    """How many concepts snapping changed and how many of the changes hit a gold concept of their sentence
    (and how many of the originals already did)."""
    gold_by_text = {m.text: {normalize_concept(c) for c in m.concepts} for m in gold}
    changed = right = was_right = 0
    for b, a in zip(before, after, strict=True):
        gold_concepts = gold_by_text.get(b.text, set())
        for written, snapped in a.meta.get("snapped", {}).items():
            changed += 1
            right += normalize_concept(snapped) in gold_concepts
            was_right += normalize_concept(written) in gold_concepts
    return {"snapped": changed, "snapped_to_gold": right, "original_was_gold": was_right}


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| system | exact micro F1 | exact macro F1 [95% CI] | embedding micro F1 | embedding macro F1 [95% CI] | "
            "paper micro F1 | paper macro F1 [95% CI] | edges pred/gold | sign acc. | snapped (to gold) |")
    lines = [head, "|" + "---|" * 10]
    for row in rows:
        s = row["scores"]
        cells = [row["name"]]
        for name in MATCHERS:
            lo, hi = s[name]["ci"]["macro_f1"]
            cells += [fmt(s[name]["micro"]["f1"]), f"{s[name]['macro']['f1']:.3f} [{lo:.3f}, {hi:.3f}]"]
        cal = s["calibration"]
        cells.append(f"{cal['pred_edges']}/{cal['gold_edges']}")
        cells.append(fmt(s["embedding"]["sign_accuracy"]))
        snap = row.get("snap")
        cells.append(f"{snap['snapped']} ({snap['snapped_to_gold']})" if snap else "")
        lines.append("| " + " | ".join(cells) + " |")
    sources = sorted({src for row in rows for src in row["scores"]["per_source"]})
    lines += ["", "| system | " + " | ".join(
        f"{src} ({rows[0]['scores']['per_source'][src]['sentences']})" for src in sources) + " |",
        "|" + "---|" * (len(sources) + 1)]
    for row in rows:
        per = row["scores"]["per_source"]
        lines.append(f"| {row['name']} | " + " | ".join(fmt(per.get(src, {}).get("macro_f1")) for src in sources) + " |")
    return "\n".join(lines)


def pr_curve(gold: list[CausalMap], runs: list[list[CausalMap]]) -> list[dict[str, Any]]:
    """Embedding-matched micro precision/recall and macro F1 of the vote at every minimum vote count."""
    curve = []
    for need in range(1, len(runs) + 1):
        result = evaluate_maps(gold, vote_maps(runs, need), "embedding")
        curve.append({"min_votes": need, **{k: result["micro"][k] for k in ("precision", "recall", "f1")},
                      "macro_f1": result["macro"]["f1"], "edges": result["counts"]["n_pred"]})
    return curve


def aligned(gold: list[CausalMap], pred: list[CausalMap]) -> list[CausalMap]:
    """``pred`` in gold order (an empty map where one is missing), so snapped and voted runs line up."""
    return [p for _, p in pair_maps(gold, pred).pairs]


def table(args: argparse.Namespace) -> dict[str, Any]:
    gold = read_maps(args.gold)
    systems = dict(item.split("=", 1) for item in args.system)
    preds = {name: aligned(gold, read_maps(path)) for name, path in systems.items()}
    rows: list[dict[str, Any]] = []
    codebook = Codebook.from_maps(read_maps(args.pool)) if args.snap else None
    for name, pred in preds.items():
        start = time.perf_counter()
        rows.append({"name": name, "pred": systems[name], "scores": score(gold, pred, args.resamples)})
        if codebook is not None and name in args.snap:
            for threshold in args.snap_grid:
                snapped, stats = codebook.snap_all(pred, threshold)
                rows.append({"name": f"{name} + snap@{threshold:g}", "pred": systems[name], "snap_threshold": threshold,
                             "snap": {**stats.to_dict(), **snap_report(gold, pred, snapped)},
                             "scores": score(gold, snapped, args.resamples)})
        print(f"scored {name} ({time.perf_counter() - start:.0f} s)", flush=True)
    curves = {}
    for item in args.vote:
        name, paths = item.split("=", 1)
        runs = [aligned(gold, read_maps(p)) for p in paths.split(",")]
        curves[name] = pr_curve(gold, runs)
        rows.append({"name": f"{name} (vote >= {len(runs) // 2 + 1} of {len(runs)})", "pred": paths,
                     "scores": score(gold, vote_maps(runs), args.resamples)})
        if codebook is not None and name in args.snap:
            for threshold in args.snap_grid:
                snapped, stats = codebook.snap_all(vote_maps(runs), threshold)
                rows.append({"name": f"{name} (vote) + snap@{threshold:g}", "pred": paths, "snap_threshold": threshold,
                             "snap": {**stats.to_dict(), **snap_report(gold, vote_maps(runs), snapped)},
                             "scores": score(gold, snapped, args.resamples)})
    return {"gold": args.gold, "pool": args.pool, "rows": rows, "vote_curves": curves, "meta": machine()}


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Model name")), "")
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {"date": time.strftime("%Y-%m-%d"), "cpu": cpu or platform.processor(), "commit": commit.stdout.strip()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    knn = sub.add_parser("knn", help="edges of the nearest training sentence(s) as the prediction")
    knn.add_argument("--pool", required=True, help="training split")
    knn.add_argument("--input", required=True, help="sentences to predict")
    knn.add_argument("--output", required=True, help="predictions (fcmatch JSONL)")
    knn.add_argument("--k", type=int, default=1, help="neighbours; > 1 keeps edges at least half of them share")
    tab = sub.add_parser("table", help="score systems and levers into one table")
    tab.add_argument("--gold", required=True)
    tab.add_argument("--pool", required=True, help="training split: the codebook snapped to")
    tab.add_argument("--system", nargs="+", default=[], metavar="NAME=PRED", help="prediction files")
    tab.add_argument("--snap", nargs="*", default=[], metavar="NAME", help="systems (or votes) to snap")
    tab.add_argument("--snap-grid", nargs="+", type=float, default=[0.7, 0.8, 0.9], metavar="COS")
    tab.add_argument("--vote", nargs="*", default=[], metavar="NAME=P1,P2,...", help="sampled runs to vote over")
    tab.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    tab.add_argument("--out", required=True, help="folder for levers.json and levers.md")
    args = parser.parse_args(argv)
    if args.command == "knn":
        pred = knn_predictions(read_maps(args.pool), read_maps(args.input), args.k)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(pred, args.output)
        print(f"wrote {len(pred)} predictions to {args.output}")
        return
    result = table(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "levers.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    text = markdown(result["rows"])
    (out / "levers.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    for name, curve in result["vote_curves"].items():
        print(f"\nvote curve {name} (embedding micro):")
        for point in curve:
            print(f"  >= {point['min_votes']}: P {point['precision']:.3f} R {point['recall']:.3f} "
                  f"F1 {point['f1']:.3f} macro F1 {point['macro_f1']:.3f} edges {point['edges']}")


if __name__ == "__main__":
    main()
