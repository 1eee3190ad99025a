"""The MiniLM encoder baselines (fcmatch.fewshot.encoder) on a tiny random BERT built here: BitFit moves only
biases and the head, every method learns a trivially separable toy task, and training is deterministic per seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from fcmatch.fewshot.encoder import train_encoder, trainable_names

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "food", "was", "is", "cause", "effect"]


@dataclass
class Record:
    text1: str
    text2: str | None
    label: str
    meta: dict | None = None


def build_tiny_bert(folder: Path) -> Path:
    """A 2-layer, hidden-32 BERT with a word-level vocabulary of :data:`WORDS`."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> str:
    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


POSITIVE, NEGATIVE = ["good", "great", "fine"], ["bad", "awful", "poor"]
TRAIN = [Record(f"the {noun} was {w}", "cause effect", "pos" if w in POSITIVE else "neg")
         for noun in ("movie", "food") for w in POSITIVE + NEGATIVE]
TEST = [Record(f"the {noun} is {w}", "effect cause", "pos" if w in POSITIVE else "neg")
        for noun in ("food", "movie") for w in POSITIVE + NEGATIVE]


def test_bitfit_moves_only_biases_and_the_head(bert):
    before = _weights(bert)
    clf = train_encoder(TRAIN, ["pos", "neg"], "bitfit", seed=0, model_path=bert, epochs=3, lr=1e-2)
    names = trainable_names(clf)
    assert names and all(n.endswith(".bias") or n.startswith("classifier.") for n in names)
    after = dict(clf.model.named_parameters())
    moved = {n for n, w in before.items() if not torch.equal(w, after[n].detach())}
    assert moved and all(n.endswith(".bias") for n in moved)
    assert any("attention" in n for n in moved)


def _weights(folder: str) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    return {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("classifier.")}


@pytest.mark.parametrize("method", ["full", "setfit", "lora"])
def test_a_tiny_bert_learns_a_separable_toy_task(bert, method):
    lr = {"full": 1e-3, "setfit": 1e-3, "lora": 3e-3}[method]
    clf = train_encoder(TRAIN, ["pos", "neg"], method, seed=0, model_path=bert, epochs=30, lr=lr, batch_size=4)
    assert clf.predict(TRAIN) == [r.label for r in TRAIN]
    if method != "lora":  # LoRA on a random tiny BERT fits the training words; held-out pairs are 5 of 6 right
        assert clf.predict(TEST) == [r.label for r in TEST]
    proba = clf.predict_proba(TEST)
    assert proba.shape == (len(TEST), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("method", ["full", "setfit"])
def test_predictions_are_deterministic_per_seed(bert, method):
    runs = [train_encoder(TRAIN, ["pos", "neg"], method, seed=s, model_path=bert, epochs=2, lr=1e-3).predict_proba(TEST)
            for s in (1, 1, 2)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_dev_selection_keeps_the_best_epoch(bert):
    clf = train_encoder(TRAIN, ["pos", "neg"], "full", seed=0, model_path=bert, epochs=6, lr=3e-3, dev=TEST,
                        patience=2)
    accs = [row["dev_accuracy"] for row in clf.history]
    assert np.mean([p == r.label for p, r in zip(clf.predict(TEST), TEST, strict=True)]) == pytest.approx(max(accs))


def test_bad_inputs_are_named(bert):
    with pytest.raises(ValueError, match="method='prompt'"):
        train_encoder(TRAIN, ["pos", "neg"], "prompt", model_path=bert)
    with pytest.raises(ValueError, match="'neg' is not one of"):
        train_encoder(TRAIN, ["pos", "other"], "full", model_path=bert, epochs=1)
