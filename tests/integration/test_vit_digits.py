"""The embedded digits ViT: accuracy on held-out digits, the recipe-keyed cache, determinism, CAMs."""

import numpy as np
import pytest
import torch

import models.embedded.digits_vit as digits
from explainers import explain
from models import load_model


def test_held_out_accuracy(vit):
    assert digits.held_out_accuracy(vit) >= 0.9


def test_predicts_digits_through_the_common_api(vit):
    images, labels = digits.digit_images("test")
    correct = [vit.predict(img).top(1)[0][1] == str(label) for img, label in zip(images[:50], labels[:50])]
    assert np.mean(correct) >= 0.85
    assert vit.labels == [str(i) for i in range(10)] and vit.input_size == (16, 16)


def test_held_out_digits_were_not_trained_on():
    train, _ = digits.digit_images("train")
    test, _ = digits.digit_images("test")
    seen = {img.tobytes() for img in train}
    assert len(test) == pytest.approx(0.25 * (len(train) + len(test)), abs=1)
    assert sum(img.tobytes() in seen for img in test) < 0.02 * len(test)  # only the dataset's own duplicates


def test_second_load_comes_from_the_cache(vit, monkeypatch):
    assert digits.cache_path().is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of reading the cache")

    monkeypatch.setattr(digits, "train", no_training)
    again = load_model("vit-digits", device="cpu")
    x = torch.cat([vit.preprocess(img) for img in digits.digit_images("test")[0][:20]])
    with torch.inference_mode():
        assert torch.equal(again.forward(x), vit.forward(x))


def test_a_changed_recipe_gets_its_own_cache_file():
    changed = dict(digits.RECIPE, epochs=digits.RECIPE["epochs"] + 1)
    assert digits.cache_path(changed) != digits.cache_path(digits.RECIPE)
    assert digits.cache_path(dict(digits.RECIPE)) == digits.cache_path(digits.RECIPE)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "c"))
    assert digits.cache_path().parent == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_training_is_deterministic_and_leaves_the_callers_rng_alone():
    short = dict(digits.RECIPE, epochs=1)
    state = torch.random.get_rng_state()
    a, b = digits.train(short), digits.train(short)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_damaged_cache_file_is_retrained(tmp_path, monkeypatch):
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path))
    short = dict(digits.RECIPE, epochs=1)
    digits.cache_path(short).write_bytes(b"damaged")
    m = digits.vit_digits(device="cpu", recipe=short)
    assert len(m.labels) == 10 and digits.cache_path(short).stat().st_size > 1000


def test_grad_cam_on_the_digits_vit(vit):
    images, labels = digits.digit_images("test")
    for img, label in zip(images[:3], labels[:3]):
        big = np.kron(img, np.ones((4, 4, 1), dtype=np.uint8))  # 32×32, as a page would show it
        e = explain(vit, big, method="grad-cam", target=str(label))
        assert e.scores.shape == (32, 32) and e.target == label
        assert e.scores.dtype == np.float32 and 0 <= e.scores.min() <= e.scores.max() <= 1
    assert vit.target_layer_name == f"blocks.{digits.RECIPE['depth'] - 1}.norm1"


def test_grad_cam_looks_at_the_ink(vit):
    """On average over held-out digits, the true class's map is higher on the strokes than on the background."""
    images, labels = digits.digit_images("test")
    margins = []
    for img, label in zip(images[:60], labels[:60]):
        big = np.kron(img, np.ones((4, 4, 1), dtype=np.uint8))
        scores = explain(vit, big, method="grad-cam", target=int(label)).scores
        ink = big[..., 0] > 128
        margins.append(scores[ink].mean() - scores[~ink].mean())
    assert np.mean(margins) > 0
