"""Adapters on one base switch with the same outputs as separately loaded models; merges and measurements."""

from __future__ import annotations

import pytest
import torch

from fcmatch.metacog.adapters import AdapterSet, adapter_bytes, measure, parameter_bytes
from fcmatch.models import load


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    from peft import LoraConfig, get_peft_model

    out = {}
    root = tmp_path_factory.mktemp("metacog-adapters")
    for i, name in enumerate(("answer", "validator", "exar")):
        torch.manual_seed(i)
        base, _ = load(str(tiny_model_dir))
        # init_lora_weights=False: random A and B, so each adapter changes the outputs differently
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                init_lora_weights=False))
        model.save_pretrained(root / name / "adapter")
        out[name] = root / name
    return out


def _ids():
    return torch.tensor([[5, 40, 41, 42, 43, 44], [6, 50, 51, 52, 53, 54]])


def test_switching_equals_separately_loaded_models(tiny_model_dir, adapters):
    shared = AdapterSet(load(str(tiny_model_dir))[0], adapters)
    ids = _ids()
    seen = []
    for name in ("validator", "answer", "exar", "validator"):  # switch back and forth
        with torch.no_grad():
            got = shared.use(name)(input_ids=ids).logits
            alone = load(str(tiny_model_dir), adapter=adapters[name])[0](input_ids=ids).logits
        torch.testing.assert_close(got, alone)
        seen.append(got)
    assert not torch.allclose(seen[0], seen[1])  # the adapters differ
    with pytest.raises(KeyError, match="not loaded"):
        shared.use("judge")


def test_weighted_merge_and_measure(tiny_model_dir, adapters):
    shared = AdapterSet(load(str(tiny_model_dir))[0], adapters)
    merged = shared.merge(["answer", "validator"], [0.5, 0.2], "cat", "merged")
    assert merged.active_adapter == "merged"
    assert adapter_bytes(merged, "merged") == adapter_bytes(merged, "answer") + adapter_bytes(merged, "validator")
    with pytest.raises(ValueError, match="combination"):
        shared.merge(["answer"], [1.0], "ties-merge", "x")
    shared.merge(["answer", "exar"], [0.5, 0.5], "svd", "merged_svd")
    result = measure(lambda: load(str(tiny_model_dir))[0], adapters, _ids(), ("cat", "linear"), repeats=1)
    base = parameter_bytes(load(str(tiny_model_dir))[0]) / 2**20
    assert result["separate"]["parameter_mb"] > 2.5 * base > result["one_base"]["parameter_mb"]
    assert set(result["merged"]) == {"cat", "linear"}
    assert all(v["seconds_per_call"] > 0 for v in result["merged"].values())
