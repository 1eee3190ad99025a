"""The validator's decision: P(CORRECT) from the logits of the two labels' first tokens at the answer position.

Not a substring test on generated text (the reference study's ``"correct" in output`` also matched
"incorrect"): the prompt is read once and the next-token logits of the first token of ``CORRECT`` and of
``WRONG`` are compared, ``p = softmax(l_C, l_W)[0]``. The threshold on ``p`` is chosen on a validation split
of questions (never the test questions), and the held-out metrics take CORRECT as the positive class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fcmatch.metacog.labels import CORRECT, WRONG

THRESHOLD_METRICS = ("mcc", "accuracy", "f1")


def label_token_ids(tokenizer: Any) -> tuple[int, int]:
    """First token ids of ``CORRECT`` and ``WRONG`` as the completion is tokenised (on their own, no specials).

    Raises:
        ValueError: both labels start with the same token (the logits could not tell them apart).
    """
    ids = [tokenizer(label, add_special_tokens=False)["input_ids"][0] for label in (CORRECT, WRONG)]
    if ids[0] == ids[1]:
        raise ValueError(f"{CORRECT} and {WRONG} start with the same token {ids[0]}: pick other labels")
    return ids[0], ids[1]


@torch.no_grad()
def correct_probabilities(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int = 16) -> list[float]:
    """P(CORRECT) of each prompt, from one forward pass (right-padded batches, the last real position's logits)."""
    c, w = label_token_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        ids = tokenizer(list(prompts[start:start + batch_size]), add_special_tokens=False)["input_ids"]
        width = max(len(x) for x in ids)
        batch = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
        logits = model(input_ids=batch, attention_mask=mask).logits
        last = torch.tensor([len(x) - 1 for x in ids], device=device)
        pair = logits[torch.arange(len(ids), device=device), last][:, [c, w]].float()
        out.extend(torch.softmax(pair, dim=-1)[:, 0].tolist())
    return out


def binary_metrics(truth: Sequence[bool], predicted: Sequence[bool]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and MCC with CORRECT (True) as positive; an undefined ratio is 0."""
    t, p = np.asarray(truth, bool), np.asarray(predicted, bool)
    tp, tn = int((t & p).sum()), int((~t & ~p).sum())
    fp, fn = int((~t & p).sum()), int((t & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {"accuracy": (tp + tn) / len(t) if len(t) else 0.0, "precision": precision, "recall": recall, "f1": f1,
            "mcc": (tp * tn - fp * fn) / denom if denom else 0.0, "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def auroc(truth: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); None with one class only."""
    from scipy.stats import rankdata

    t = np.asarray(truth, bool)
    pos, neg = int(t.sum()), int((~t).sum())
    if not pos or not neg:
        return None
    ranks = rankdata(np.asarray(scores, float))
    return float((ranks[t].sum() - pos * (pos + 1) / 2) / (pos * neg))


def calibration(truth: Sequence[bool], probs: Sequence[float], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error and the reliability table (equal-width bins of P(CORRECT))."""
    t, p = np.asarray(truth, float), np.asarray(probs, float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            conf, acc = float(p[sel].mean()), float(t[sel].mean())
            ece += sel.sum() / len(p) * abs(conf - acc)
            table.append({"bin": [float(edges[b]), float(edges[b + 1])], "n": int(sel.sum()), "confidence": conf,
                          "accuracy": acc})
    return {"ece": float(ece), "bins": table}


def choose_threshold(truth: Sequence[bool], probs: Sequence[float], metric: str = "mcc") -> float:
    """The threshold on P(CORRECT) (CORRECT when p >= it) that maximises ``metric`` on these rows; ties go to
    the candidate nearest 0.5. Candidates: 0.5 and the midpoints between distinct probabilities.

    Raises:
        ValueError: an unknown metric or no rows.
    """
    if metric not in THRESHOLD_METRICS:
        raise ValueError(f"threshold metric {metric!r}: choose one of {', '.join(THRESHOLD_METRICS)}")
    if not len(probs):
        raise ValueError("no validation rows to choose a threshold on")
    values = np.unique(np.asarray(probs, float))
    candidates = [0.5, *((values[:-1] + values[1:]) / 2).tolist(), float(values[0]), float(values[-1]) + 1e-9]
    p = np.asarray(probs, float)
    best = max(candidates, key=lambda th: (binary_metrics(truth, p >= th)[metric], -abs(th - 0.5)))
    return float(best)


def evaluate(truth: Sequence[bool], probs: Sequence[float], threshold: float) -> dict[str, Any]:
    """Held-out metrics of a validator: the binary ones at ``threshold``, AUROC and calibration."""
    p = np.asarray(probs, float)
    out: dict[str, Any] = binary_metrics(truth, p >= threshold)
    out.update({"auroc": auroc(truth, p), "threshold": threshold, "n": len(p),
                "calibration": calibration(truth, p)})
    return out


def baselines(truth: Sequence[bool], bertscores: Sequence[float], bertscore_threshold: float) -> dict[str, Any]:
    """Always CORRECT, always WRONG, and the BERTScore rule (CORRECT when F1 >= its threshold, which reads the gold
    answer: a reference-based judge, the validator's ceiling rather than its peer)."""
    n = len(truth)
    rule = binary_metrics(truth, np.asarray(bertscores, float) >= bertscore_threshold)
    rule.update({"auroc": auroc(truth, bertscores), "threshold": bertscore_threshold})
    return {"always_correct": binary_metrics(truth, [True] * n), "always_wrong": binary_metrics(truth, [False] * n),
            "bertscore_rule": rule}


def reliability_plot(table: dict[str, Any], path: Path, title: str = "validator reliability") -> Path:
    """Reliability diagram (share truly CORRECT against mean P(CORRECT) per bin) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    bins = table["bins"]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label="validator")
    for b in bins:
        ax.annotate(str(b["n"]), (b["confidence"], b["accuracy"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="mean P(CORRECT) in bin", ylabel="share labelled CORRECT", xlim=(0, 1), ylim=(0, 1),
           title=f"{title} (ECE {table['ece']:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
