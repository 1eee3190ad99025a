"""Context distillation (fcmatch.train.distill): the KL loss by hand, labels-only KL, that training lowers the
KL on a tiny random Llama, the teacher cache against on-the-fly logits, broken cache files and the saved run."""

from __future__ import annotations

import math

import pytest
import torch

from fcmatch.config import ConfigError
from fcmatch.train.distill import DistillConfig, distill, distill_kl
from fcmatch.train.distill_teacher import DistillCacheError, encode, kl_loss


def test_kl_loss_matches_a_hand_computation():
    teacher = torch.tensor([[math.log(0.5), math.log(0.25), math.log(0.25)]])
    student = torch.tensor([[math.log(0.25), math.log(0.5), math.log(0.25)]])
    # KL(p||q) = 0.5 ln(0.5/0.25) + 0.25 ln(0.25/0.5) + 0 = 0.25 ln 2
    assert float(kl_loss(teacher, student, 1.0)) == pytest.approx(0.25 * math.log(2), abs=1e-6)
    # T = 2: logits ln p / 2 are softmax(sqrt p); the loss carries the T^2 factor
    p = torch.tensor([0.5, 0.25, 0.25]).sqrt()
    q = torch.tensor([0.25, 0.5, 0.25]).sqrt()
    p, q = p / p.sum(), q / q.sum()
    expected = 4 * float((p * (p / q).log()).sum())
    assert float(kl_loss(teacher, student, 2.0)) == pytest.approx(expected, abs=1e-6)


def test_labels_only_kl_renormalises_over_the_label_columns():
    teacher = torch.tensor([[0.0, 2.0, 0.0, 1.0]])  # labels are columns 1 and 3
    student = torch.tensor([[5.0, 0.0, -3.0, 0.0]])
    index = torch.tensor([[1, 3]])
    p1 = math.exp(2) / (math.exp(2) + math.exp(1))  # teacher over {1, 3}; student is uniform there
    expected = p1 * math.log(p1 / 0.5) + (1 - p1) * math.log((1 - p1) / 0.5)
    assert float(kl_loss(teacher.gather(-1, index), student, 1.0, index)) == pytest.approx(expected, abs=1e-6)


@pytest.fixture()
def tiny(tiny_model_dir):
    from fcmatch.models import load

    return load(str(tiny_model_dir))


EXAMPLES = [
    {"teacher_prompt": f"Context: always answer {a}.\nQ: {q}\nA:", "student_prompt": f"Q: {q}\nA:", "completion": f" {a}"}
    for q, a in [("one", "yes"), ("two", "no"), ("three", "yes"), ("four", "no")]
]


def test_encode_aligns_the_two_sides(tiny):
    _, tok = tiny
    e = encode(tok, EXAMPLES[0], "all", add_eos=True)
    assert e.teacher_ids[e.teacher_at[0] + 1 :] == e.student_ids[e.student_at[0] + 1 :]
    assert e.student_ids[-1] == tok.eos_token_id and len(e.student_at) == len(" yes") + 1
    first = encode(tok, EXAMPLES[0], "first", add_eos=True)
    assert first.student_at == [len(tok("Q: one\nA:", add_special_tokens=False)["input_ids"]) - 1]


@pytest.mark.parametrize("settings", [{"positions": "all"}, {"positions": "first", "over": "labels",
                                                                "label_tokens": [3 + 32, 3 + 64]}])
def test_distillation_lowers_the_kl(tiny, settings):
    model, tok = tiny
    config = DistillConfig(epochs=15, batch_size=2, learning_rate=1e-3, lora_r=4, progress=False, **settings)
    before = distill_kl(model, tok, EXAMPLES, config)
    student, history = distill(model, tok, EXAMPLES, config)
    after = distill_kl(student, tok, EXAMPLES, config)
    assert len(history) == 15 * 2 and before > 0
    assert after < 0.2 * before
    # only LoRA weights moved; the teacher (adapters off) is the untouched base
    assert all("lora_" in n for n, p in student.named_parameters() if p.requires_grad)


def test_cached_teacher_equals_on_the_fly(tiny, tmp_path):
    model, tok = tiny
    base = dict(epochs=2, batch_size=2, positions="all", top_k=8, lora_r=4, progress=False, seed=3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    _, fly = distill(model, tok, EXAMPLES, DistillConfig(**base))
    from fcmatch.models import load

    model2, _ = load(str(tok.name_or_path))
    model2.load_state_dict(state)
    config = DistillConfig(**base, cache_dir=str(tmp_path / "cache"))
    _, cached = distill(model2, tok, EXAMPLES, config)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == len(EXAMPLES)
    assert [h["loss"] for h in cached] == pytest.approx([h["loss"] for h in fly], abs=1e-6)
    # the second run reads the files back: the same losses again
    model3, _ = load(str(tok.name_or_path))
    model3.load_state_dict(state)
    _, again = distill(model3, tok, EXAMPLES, config)
    assert [h["loss"] for h in again] == pytest.approx([h["loss"] for h in fly], abs=1e-6)


def test_a_broken_cache_file_names_itself(tiny, tmp_path):
    model, tok = tiny
    config = DistillConfig(epochs=1, batch_size=4, top_k=4, lora_r=4, progress=False, cache_dir=str(tmp_path))
    student, _ = distill(model, tok, EXAMPLES[:1], config)
    (victim,) = tmp_path.glob("*.pt")
    victim.write_bytes(b"not a tensor file")
    with pytest.raises(DistillCacheError, match=victim.name):
        distill(student, tok, EXAMPLES[:1], config)


def test_generated_answers_and_the_saved_run(tiny, tmp_path):
    from fcmatch.config import load_config

    model, tok = tiny
    config = DistillConfig(epochs=1, batch_size=4, positions="all", answers="greedy", max_new_tokens=4, lora_r=4,
                           progress=False, output_dir=str(tmp_path / "run"))
    _, history = distill(model, tok, EXAMPLES, config)
    assert len(history) == 1
    for name in ("adapter/adapter_config.json", "metrics.jsonl", "teacher_answers.jsonl", "config.yaml"):
        assert (tmp_path / "run" / name).is_file(), name
    assert load_config(DistillConfig, tmp_path / "run" / "config.yaml") == config


@pytest.mark.parametrize("bad, flag", [({"over": "labels"}, "label_tokens"), ({"answers": "greedy"}, "positions"),
                                       ({"label_tokens": [1]}, "over=labels"), ({"temperature": 0.0}, "temperature")])
def test_contradictory_settings_are_refused(bad, flag):
    with pytest.raises(ConfigError, match=flag):
        DistillConfig(**bad)
