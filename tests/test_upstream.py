"""fcmatch follows transformers' renames (the KV cache's ``past_key_values`` -> ``cache``) without crashing or warning,
and its CPU fast path steps aside, with a warning, for an upstream forward it was not checked against."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from fcmatch import upstream
from fcmatch.extract import GenerationSettings, chat_prompt, generate_batch
from fcmatch.models import load
from fcmatch.tasks.causal import prompt_messages
from fcmatch.train.cpu import kernels, llama
from fcmatch.train.cpu.patch import speed_up_lora


def _peft_model(tiny_model_dir, dropout: float = 0.0):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from fcmatch.models import quiet_peft

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM",
                        init_lora_weights=False)
    with quiet_peft():
        return get_peft_model(model, config)


class _Recorder:
    """Collects transformers' deprecation notices: FutureWarnings and its ``logger.warning_once`` messages."""

    def __init__(self, monkeypatch):
        import transformers.utils.generic as generic

        self.messages: list[str] = []
        monkeypatch.setattr(generic.logger, "warning_once", lambda msg, *a, **k: self.messages.append(str(msg)))
        self._catch = warnings.catch_warnings(record=True)

    def __enter__(self):
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        self.messages += [str(w.message) for w in self._caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]

    def about_the_cache(self) -> list[str]:
        return [m for m in self.messages if "past_key_values" in m or "cache_params" in m or "`cache`" in m]


def test_cache_argument_follows_the_installed_release():
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaDecoderLayer

    name = upstream.cache_argument(LlamaForCausalLM)
    assert name in upstream.CACHE_NAMES
    assert name in upstream.forward_parameters(LlamaForCausalLM)
    assert upstream.cache_argument(LlamaAttention) == upstream.cache_argument(LlamaDecoderLayer) == name
    mixed = llama.mixed_class("InPlaceResidual", llama.InPlaceResidual, LlamaDecoderLayer)
    assert upstream.cache_argument(mixed) == name  # the mixin's own forward declares neither: the MRO decides


def test_pop_cache_takes_either_name_and_refuses_both():
    for name in upstream.CACHE_NAMES:
        kwargs = {name: "kv", "other": 1}
        assert upstream.pop_cache(kwargs) == "kv" and kwargs == {"other": 1}
    assert upstream.pop_cache({}) is None
    with pytest.raises(TypeError, match="twice"):
        upstream.pop_cache({"cache": 1, "past_key_values": 2})


def test_the_extraction_decoder_emits_no_deprecation_warning(tiny_model_dir, monkeypatch):
    model, tokenizer = load(str(tiny_model_dir))
    prompts = [chat_prompt(tokenizer, prompt_messages(s)) for s in ("Rain raises yields.", "Drought cuts income.")]
    with _Recorder(monkeypatch) as recorder:
        greedy = generate_batch(model, tokenizer, prompts, GenerationSettings(max_new_tokens=6))
        sampled = generate_batch(model, tokenizer, prompts, GenerationSettings(max_new_tokens=6, temperature=0.7))
    assert len(greedy) == len(sampled) == 2
    assert recorder.about_the_cache() == []


@pytest.mark.parametrize("name", upstream.CACHE_NAMES)
def test_sped_up_attention_takes_a_kv_cache_under_either_name(tiny_model_dir, name):
    """A decode step with a KV cache takes the fallback branch of the fused attention (the kernels never see a cache):
    the same logits as peft's model, whichever name the caller used."""
    from transformers import DynamicCache

    reference = _peft_model(tiny_model_dir)
    fused = copy.deepcopy(reference)
    assert speed_up_lora(fused)["residual"] == 2
    ids = torch.randint(3, 200, (1, 6))
    logits = []
    for model in (reference, fused):
        model.eval()
        with torch.no_grad():
            cache = DynamicCache(config=model.config)
            model(input_ids=ids[:, :5], use_cache=True, **upstream.cache_kwargs(model, cache))
            logits.append(model(input_ids=ids[:, 5:], use_cache=True, **upstream.cache_kwargs(model, cache)).logits)
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-5, atol=1e-5)
    # a layer called directly with either name: the mixins pass it on under the name the attention declares
    layer = fused.get_base_model().model.layers[0]
    hidden = torch.randn(1, 1, fused.config.hidden_size)
    position = torch.tensor([[0]])
    embeddings = fused.get_base_model().model.rotary_emb(hidden, position)
    with torch.no_grad():
        out = layer(hidden, position_ids=position, position_embeddings=embeddings, use_cache=True,
                    **{name: DynamicCache(config=fused.config)})
    assert out.shape == hidden.shape


def test_attention_falls_back_when_the_kernels_refuse_the_tensor(tiny_model_dir, monkeypatch):
    """A tensor the C kernels do not take (as a CUDA tensor or a half dtype would be) runs transformers' attention:
    loss and gradients are peft's."""
    from conftest import assert_same_training_step

    reference = _peft_model(tiny_model_dir, 0.0)
    fused = copy.deepcopy(reference)
    speed_up_lora(fused)
    monkeypatch.setattr(kernels, "usable", lambda *tensors: False)
    assert_same_training_step(reference, fused, torch.randint(3, 200, (1, 9)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_training_step_under_autocast_runs_the_fallbacks(tiny_model_dir, dtype):
    """bf16/fp16 autocast on CPU: the fused layers hand half inputs to peft and the attention to transformers."""
    fused = _peft_model(tiny_model_dir, 0.1)
    speed_up_lora(fused)
    fused.train()
    ids = torch.randint(3, 200, (1, 9))
    with torch.autocast("cpu", dtype=dtype):
        loss = fused(input_ids=ids, labels=ids, use_cache=False).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in fused.parameters() if p.requires_grad)


def test_an_unknown_upstream_attention_keeps_transformers_forward(tiny_model_dir, monkeypatch):
    """A release whose attention forward takes other arguments gets no rotary fast path, with a warning naming it."""
    from transformers.models.llama.modeling_llama import LlamaAttention

    from fcmatch.train.cpu import patch

    original = LlamaAttention.forward

    def renamed(self, hidden_states, position_embeddings=None, attention_mask=None, kv_state=None, **kwargs):
        return original(self, hidden_states, position_embeddings=position_embeddings, attention_mask=attention_mask,
                        **kwargs)

    monkeypatch.setattr(LlamaAttention, "forward", renamed)
    monkeypatch.setattr(patch, "_WARNED", set())
    assert not llama.known_attention(LlamaAttention)
    model = _peft_model(tiny_model_dir)
    with pytest.warns(UserWarning, match="LlamaAttention"):
        counts = speed_up_lora(model)
    assert counts["rotary"] == 0 and counts["fused"] > 0
    ids = torch.randint(3, 200, (1, 7))
    model(input_ids=ids, labels=ids, use_cache=False).loss.backward()


def test_known_signatures_of_the_supported_releases():
    """The forwards of transformers 5.0 (``past_key_values``, ``cache_position``) and of later 5.x (``cache``)."""

    class Attention50:
        def forward(self, hidden_states, position_embeddings=None, attention_mask=None, past_key_values=None,
                    cache_position=None, **kwargs): ...

    class AttentionNew:
        def forward(self, hidden_states, position_embeddings=None, attention_mask=None, cache=None, **kwargs): ...

    class AttentionOther:
        def forward(self, hidden_states, attention_mask=None, position_embeddings=None, cache=None, **kwargs): ...

    assert llama.known_attention(Attention50) and llama.known_attention(AttentionNew)
    assert not llama.known_attention(AttentionOther)

    class Decoder50:
        def forward(self, hidden_states, attention_mask=None, position_ids=None, past_key_values=None, use_cache=False,
                    cache_position=None, position_embeddings=None, **kwargs):
            self.input_layernorm, self.self_attn, self.post_attention_layernorm, self.mlp  # noqa: B018

    class DecoderExtraNorm(Decoder50):
        def forward(self, hidden_states, attention_mask=None, cache=None, **kwargs):
            self.input_layernorm, self.self_attn, self.post_attention_layernorm, self.mlp  # noqa: B018
            self.post_feedforward_layernorm  # noqa: B018

    assert llama.known_decoder_layer(Decoder50)
    assert not llama.known_decoder_layer(DecoderExtraNorm)
