"""Hugging Face image classifiers from local save_pretrained directories; hub ids offline fail at once.

No test here touches the network: the hub is switched off (HF_HUB_OFFLINE) or
pointed at a closed local port.
"""

import json

import numpy as np
import pytest
import torch
import transformers as T

from explainers import explain
from models import ModelLoadError, load_model

IMAGE = (np.random.default_rng(2).random((41, 59, 3)) * 255).astype(np.uint8)
SMALL = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
NAMES = {0: "cat", 1: "dog", 2: "cow"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def save_hf(directory, model_cls, config, processor=True):
    torch.manual_seed(0)
    model = model_cls(config).eval()
    model.save_pretrained(directory)
    if processor:
        T.ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3]).save_pretrained(directory)
    return model


def hf_logits(model, x):
    with torch.inference_mode():
        return model(pixel_values=x).logits


@pytest.mark.parametrize(
    "model_cls, config_cls, kwargs, layer, prefix",
    [
        (T.ViTForImageClassification, T.ViTConfig, SMALL, "model.vit.layers.1.layernorm_before", 1),
        (T.DeiTForImageClassificationWithTeacher, T.DeiTConfig, SMALL, "model.deit.layers.1.layernorm_before", 2),
        (
            T.SwinForImageClassification,
            T.SwinConfig,
            dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4),
            "model.swin.encoder.layers.1.blocks.0.layernorm_before",
            0,
        ),
    ],
)
def test_local_directory_round_trip(tmp_path, model_cls, config_cls, kwargs, layer, prefix):
    config = config_cls(num_labels=3, id2label=NAMES, label2id={v: k for k, v in NAMES.items()}, **kwargs)
    original = save_hf(tmp_path / "m", model_cls, config)
    m = load_model(f"hf:{tmp_path / 'm'}", device="cpu")
    assert m.labels == ["cat", "dog", "cow"] and m.input_size == (32, 32)
    assert torch.allclose(m._mean.flatten().cpu(), torch.tensor([0.4, 0.5, 0.6]))
    assert torch.allclose(m._std.flatten().cpu(), torch.tensor([0.2, 0.25, 0.3]))
    x = m.preprocess(IMAGE)
    with torch.inference_mode():
        assert torch.equal(m.forward(x), hf_logits(original, x))
    assert m.target_layer_name == layer and m.layout.prefix_tokens == prefix
    e = explain(m, IMAGE, method="grad-cam")
    assert e.scores.shape == IMAGE.shape[:2] and e.target_label in NAMES.values()


def test_processor_arithmetic_equals_the_processor(tmp_path):
    """Our resize + (x - mean) / std must give what the HF processor computes for an image of the input size."""
    save_hf(tmp_path / "m", T.ViTForImageClassification, T.ViTConfig(num_labels=3, **SMALL))
    m = load_model(f"hf:{tmp_path / 'm'}", device="cpu")
    image = (np.random.default_rng(3).random((32, 32, 3)) * 255).astype(np.uint8)  # no resize: compare arithmetic
    theirs = T.AutoImageProcessor.from_pretrained(tmp_path / "m")(images=image, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(m.preprocess(image), theirs, atol=1e-5, rtol=1e-5)


def test_placeholder_names_give_way(tmp_path):
    save_hf(tmp_path / "m", T.ViTForImageClassification, T.ViTConfig(num_labels=3, **SMALL))
    assert load_model(f"hf:{tmp_path / 'm'}", device="cpu").labels == ["class 0", "class 1", "class 2"]
    (tmp_path / "names.json").write_text(json.dumps(["x", "y", "z"]))
    assert load_model(f"hf:{tmp_path / 'm'}", labels=tmp_path / "names.json", device="cpu").labels == ["x", "y", "z"]


def test_without_processor_config(tmp_path):
    save_hf(tmp_path / "m", T.ViTForImageClassification, T.ViTConfig(num_labels=2, **SMALL), processor=False)
    m = load_model(f"hf:{tmp_path / 'm'}", device="cpu")
    assert m.input_size == (32, 32) and len(m.labels) == 2


def test_directory_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(f"hf:{tmp_path / 'empty'}")


def test_directory_without_weights(tmp_path):
    T.ViTConfig(num_labels=3, **SMALL).save_pretrained(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="not a complete Hugging Face model directory"):
        load_model(f"hf:{tmp_path / 'm'}")


def test_not_a_classifier(tmp_path):
    T.BertModel(T.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ModelLoadError, match="not an image-classification model"):
        load_model(f"hf:{tmp_path / 'bert'}")


@pytest.mark.timeout(30)  # a network wait hidden behind the message would hang here
def test_hub_id_offline_fails_at_once():
    with pytest.raises(ModelLoadError, match="hub cannot be reached .*local directory"):
        load_model("hf:google/vit-base-patch16-224")


@pytest.mark.timeout(30)
def test_hub_unreachable_without_offline_flag(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # closed port: refused at once
    with pytest.raises(ModelLoadError, match="hub cannot be reached"):
        load_model("hf:some-org/some-model")


@pytest.mark.parametrize("source", ["./no/such/dir", "/no/such/dir", "a b c"])
def test_neither_directory_nor_hub_id(source):
    with pytest.raises(ModelLoadError, match="neither a Hugging Face model directory nor a hub id"):
        load_model(f"hf:{source}")
