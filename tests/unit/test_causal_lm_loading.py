"""load_model("hf:DIR") for causal LMs: routed by architecture, safetensors only, refused when too large."""

import json
from types import SimpleNamespace

import pytest

from models import ModelLoadError, load_model


def _dir(tmp_path, files):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    for name in files:
        (tmp_path / name).write_bytes(b"\0" * 1024)
    return tmp_path


def test_pickled_weights_refused_with_the_reason(tmp_path):
    with pytest.raises(ModelLoadError, match="only pickled weights.*arbitrary"):
        load_model(f"hf:{_dir(tmp_path, ['pytorch_model.bin'])}")


def test_too_large_for_free_memory_refused_with_both_sizes(tmp_path, monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=512))
    with pytest.raises(ModelLoadError, match=r"needs \d+\.\d MiB for its weights but only 0\.0 MiB"):
        load_model(f"hf:{_dir(tmp_path, ['model.safetensors'])}")


def test_a_saved_causal_lm_loads(tmp_path, smollm):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=smollm.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    smollm.tokenizer.save_pretrained(tmp_path)
    model = load_model(f"hf:{tmp_path}", device="cpu")
    assert model.modality == "generation" and model.name == f"hf:{tmp_path.name}"
    assert model.encode("Hello world").prompt_ids == smollm.encode("Hello world").prompt_ids
    assert model.max_prompt_tokens == 32  # half the context
