"""``load_model("hf:DIR")`` for a sequence classifier: routing, labels, safetensors only, memory check."""

import numpy as np
import pytest

from explainers import explain
from models import ModelLoadError, load_model
from tests.tiny_text import tiny_bert, tokenizer


@pytest.fixture
def saved(tmp_path):
    _, hf = tiny_bert()
    hf.config.id2label = {0: "sad", 1: "calm", 2: "happy"}
    hf.config.label2id = {v: k for k, v in hf.config.id2label.items()}
    hf.save_pretrained(tmp_path / "clf")
    tokenizer().save_pretrained(tmp_path / "clf")
    return tmp_path / "clf"


def test_loads_and_explains_a_local_sequence_classifier(saved):
    m = load_model(f"hf:{saved}", device="cpu")
    assert m.modality == "text" and m.labels == ["sad", "calm", "happy"] and m.max_length == 64
    assert m.predict("a fine day").probs.shape == (3,)
    e = explain(m, "a fine day", method="integrated-gradients", target="happy")
    assert e.target_label == "happy" and np.all(np.isfinite(e.scores))
    assert e.extras["completeness"]["relative_error"] < 0.01


def test_pickled_weights_are_refused(saved):
    (saved / "model.safetensors").rename(saved / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors only"):
        load_model(f"hf:{saved}")


def test_too_large_for_memory_is_refused(saved, monkeypatch):
    import psutil

    class Tiny:
        available = 1024

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    with pytest.raises(ModelLoadError, match=r"needs \d+\.\d MiB for its weights but only 0\.0 MiB"):
        load_model(f"hf:{saved}")
