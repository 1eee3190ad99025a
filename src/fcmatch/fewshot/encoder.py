"""The practitioner's baseline for few-shot classification: the embedded all-MiniLM-L6-v2 encoder with a head.

``train_encoder(train, labels, method, seed)`` fine-tunes MiniLM (``fcmatch.models.encoder_path()``, 22.7M
parameters, BERT architecture with biases) on the same k records the decoder methods get, one pair input per
record (``[CLS] text1 [SEP] text2 [SEP]``), and returns a classifier with ``predict`` and ``predict_proba``.
Methods (:data:`METHODS`):

- ``full``: every weight and the new head;
- ``bitfit``: the bias terms (attention, feed-forward and LayerNorm biases) and the head only (Ben Zaken et
  al. 2022); 0.1% of the weights train;
- ``lora``: peft LoRA on the attention and feed-forward linears, the head trained in full;
- ``setfit``: SetFit-style (Tunstall et al. 2022): contrastive fine-tuning of the encoder body on pairs of
  the k examples (cosine of the mean-pooled embeddings regressed to 1 for the same label, 0 otherwise), then
  logistic regression on the embeddings. Written here because the ``setfit`` package would add 12 packages
  to the locked environment (sentence-transformers, scikit-learn, evaluate, aiohttp, ...; checked with
  ``pip install --dry-run -c requirements.lock setfit``), for what is ~60 lines of torch.

Checkpoint selection: the last epoch, or, with ``dev`` records (a dev set of the same size k, never the test
set), the epoch of the best dev accuracy (the earliest on ties), with optional early stopping (``patience``).
Training is seeded (head init, data order, dropout) and deterministic on a CPU.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

METHODS = ("full", "bitfit", "lora", "setfit")
DEFAULT_LR = {"full": 5e-5, "bitfit": 1e-3, "lora": 5e-4, "setfit": 2e-5}
"""Learning rates by method: BitFit and LoRA train few weights from zero and take larger steps (BitFit paper:
1e-4..1e-3); full fine-tuning of BERT-sized models uses 2e-5..5e-5."""
MAX_TOKENS = 256  # sentence + cause + effect of the sign task stay under ~120 word pieces


def _texts(records: Sequence[Any]) -> tuple[list[str], list[str] | None]:
    first = [r.text1 for r in records]
    second = [getattr(r, "text2", None) for r in records]
    if all(s is None for s in second):
        return first, None
    return first, [s or "" for s in second]


def _batch(tokenizer: Any, records: Sequence[Any]) -> dict[str, torch.Tensor]:
    first, second = _texts(records)
    return tokenizer(first, second, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")


def _mean_pool(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Unit-length mean-pooled embeddings (the sentence-transformers recipe of fcmatch.evaluate.encoder)."""
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)


@dataclass
class EncoderClassifier:
    """A trained encoder classifier; ``labels[i]`` is column i of :meth:`predict_proba`.

    ``head`` is None for the sequence-classification models (full, bitfit, lora), or the logistic-regression
    ``(weight, bias)`` on mean-pooled embeddings (setfit).
    """

    model: Any
    tokenizer: Any
    labels: list[str]
    method: str
    history: list[dict[str, float]]
    head: tuple[torch.Tensor, torch.Tensor] | None = None
    batch_size: int = 32

    @torch.no_grad()
    def logits(self, records: Sequence[Any]) -> torch.Tensor:
        """``[len(records), len(labels)]`` logits, in batches."""
        self.model.eval()
        out = []
        for start in range(0, len(records), self.batch_size):
            batch = _batch(self.tokenizer, records[start : start + self.batch_size])
            if self.head is None:
                out.append(self.model(**batch).logits)
            else:
                weight, bias = self.head
                out.append(_mean_pool(self.model, batch) @ weight.T + bias)
        return torch.cat(out) if out else torch.zeros((0, len(self.labels)))

    def predict_proba(self, records: Sequence[Any]) -> np.ndarray:
        """Label probabilities, one row per record, columns in ``labels`` order."""
        return torch.softmax(self.logits(records), dim=-1).numpy()

    def predict(self, records: Sequence[Any]) -> list[str]:
        """The most probable label of each record."""
        return [self.labels[i] for i in self.logits(records).argmax(-1).tolist()]


def _targets(records: Sequence[Any], labels: Sequence[str]) -> torch.Tensor:
    index = {label: i for i, label in enumerate(labels)}
    try:
        return torch.tensor([index[r.label] for r in records])
    except KeyError as err:
        raise ValueError(f"record label {err.args[0]!r} is not one of labels={list(labels)}") from None


def _classifier_model(folder: str, labels: Sequence[str], method: str, lora_r: int) -> Any:
    from transformers import AutoModelForSequenceClassification

    from fcmatch.models import quiet_loading, quiet_peft

    with quiet_loading():  # "newly initialized: classifier.weight": the head is new, as intended
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(labels), dtype=torch.float32)
    if method == "full":
        return model
    if method == "bitfit":
        for name, param in model.named_parameters():
            param.requires_grad_(name.endswith(".bias") or name.startswith("classifier."))
        return model
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.1, task_type="SEQ_CLS",
                      target_modules=["query", "key", "value", "dense"])
    with quiet_peft():
        return get_peft_model(model, lora)  # SEQ_CLS: peft also trains the classifier head in full


def _accuracy(classifier: EncoderClassifier, records: Sequence[Any]) -> float:
    predicted = classifier.predict(records)
    return sum(p == r.label for p, r in zip(predicted, records, strict=True)) / len(records)


def _fit_classifier(classifier: EncoderClassifier, train: Sequence[Any], dev: Sequence[Any] | None, epochs: int,
                    lr: float, batch_size: int, patience: int, seed: int, progress: bool) -> None:
    model = classifier.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    targets = _targets(train, classifier.labels)
    rng = random.Random(seed)
    best, best_state, waited = -1.0, None, 0
    for epoch in tqdm(range(epochs), desc=f"encoder {classifier.method}", disable=not progress):
        model.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss = F.cross_entropy(model(**_batch(classifier.tokenizer, [train[i] for i in rows])).logits, targets[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        row = {"epoch": epoch, "loss": total / len(train)}
        if dev:
            row["dev_accuracy"] = _accuracy(classifier, dev)
            if row["dev_accuracy"] > best:
                best, waited = row["dev_accuracy"], 0
                best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            else:
                waited += 1
        classifier.history.append(row)
        if dev and patience and waited >= patience:
            break
    if best_state is not None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in best_state:
                    param.copy_(best_state[name])


def _pairs(targets: list[int], limit: int, rng: random.Random) -> list[tuple[int, int, float]]:
    """Index pairs with 1.0 for the same label and 0.0 otherwise, at most ``limit`` (a seeded sample)."""
    pairs = [(i, j, float(targets[i] == targets[j])) for i, j in itertools.combinations(range(len(targets)), 2)]
    rng.shuffle(pairs)
    return pairs[:limit]


def _fit_setfit(classifier: EncoderClassifier, train: Sequence[Any], epochs: int, lr: float, batch_size: int,
                max_pairs: int, seed: int, progress: bool) -> None:
    model, tok = classifier.model, classifier.tokenizer
    targets = _targets(train, classifier.labels)
    pairs = _pairs(targets.tolist(), max_pairs, random.Random(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    for epoch in tqdm(range(epochs), desc="encoder setfit", disable=not progress):
        total = 0.0
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            left = _mean_pool(model, _batch(tok, [train[i] for i, _, _ in chunk]))
            right = _mean_pool(model, _batch(tok, [train[j] for _, j, _ in chunk]))
            loss = F.mse_loss((left * right).sum(-1), torch.tensor([s for _, _, s in chunk]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chunk)
        classifier.history.append({"epoch": epoch, "pair_loss": total / max(len(pairs), 1)})
    model.eval()
    with torch.no_grad():
        embeddings = torch.cat([_mean_pool(model, _batch(tok, train[s : s + 32])) for s in range(0, len(train), 32)])
    classifier.head = _logistic_regression(embeddings, targets, len(classifier.labels))


def _logistic_regression(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float = 1e-2, steps: int = 200
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression by L-BFGS (scikit-learn's default solver and C=1-like penalty)."""
    weight = torch.zeros(classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def train_encoder(train: Sequence[Any], labels: Sequence[str], method: str, seed: int = 0, *,
                  model_path: str | None = None, epochs: int = 30, lr: float | None = None, batch_size: int = 8,
                  dev: Sequence[Any] | None = None, patience: int = 0, lora_r: int = 8, max_pairs: int = 512,
                  progress: bool = False) -> EncoderClassifier:
    """Fine-tune the MiniLM encoder (or ``model_path``) on the k training records.

    Args:
        train: records with ``text1``, ``text2`` (may be None) and ``label`` (e.g. ``fcmatch.fewshot.data.ClassRecord``).
        labels: the label names, in the column order of ``predict_proba``.
        method: one of :data:`METHODS`.
        seed: seeds the head init, the LoRA init, the data order, dropout and the setfit pairs.
        model_path: an encoder folder with config.json; default the embedded all-MiniLM-L6-v2.
        epochs: passes over the training records (setfit: over the pairs).
        lr: AdamW learning rate; default :data:`DEFAULT_LR` of the method.
        batch_size: records (setfit: pairs) per step.
        dev: records for checkpoint selection by accuracy (not for setfit); None = keep the last epoch.
        patience: with ``dev``, stop after this many epochs without a better dev accuracy (0 = run all).
        lora_r: LoRA rank (method lora).
        max_pairs: setfit: at most this many pairs of the k records (k=64 has 2,016).
        progress: show a progress bar.

    Returns:
        The :class:`EncoderClassifier`; its ``history`` has one row per epoch.

    Raises:
        ValueError: an unknown method, no records, fewer than two labels or a record with another label.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    if not train:
        raise ValueError("train_encoder: no training records")
    if len(labels) < 2:
        raise ValueError(f"labels={list(labels)}: need at least two")
    from transformers import AutoModel, AutoTokenizer

    from fcmatch.models import encoder_path, quiet_loading

    folder = str(model_path or encoder_path())
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    lr = DEFAULT_LR[method] if lr is None else lr
    if method == "setfit":
        with quiet_loading():
            body = AutoModel.from_pretrained(folder, dtype=torch.float32)
        classifier = EncoderClassifier(body, tokenizer, list(labels), method, [])
        _fit_setfit(classifier, train, epochs, lr, batch_size, max_pairs, seed, progress)
        return classifier
    classifier = EncoderClassifier(_classifier_model(folder, labels, method, lora_r), tokenizer, list(labels), method, [])
    _fit_classifier(classifier, train, dev, epochs, lr, batch_size, patience, seed, progress)
    return classifier


def trainable_names(classifier: EncoderClassifier) -> list[str]:
    """Names of the parameters the method trains (for the BitFit check and the docs' parameter counts)."""
    return [n for n, p in classifier.model.named_parameters() if p.requires_grad]


__all__ = ["METHODS", "EncoderClassifier", "train_encoder", "trainable_names"]
