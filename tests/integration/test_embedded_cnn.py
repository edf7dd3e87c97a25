"""The embedded EfficientNet-Lite0 and Grad-CAM on it: real weights, real images."""

import numpy as np
import pytest
from PIL import Image

from explainers import explain
from models.inputs.images import decode_image
from tests.conftest import encode, pearson

CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat", "Persian cat", "Siamese cat", "lynx"}


def test_labels_are_imagenet(cnn):
    assert len(cnn.labels) == 1000 and cnn.labels[285] == "Egyptian cat"


def test_chelsea_is_a_cat(cnn, chelsea):
    top5 = {label for _, label, _ in cnn.predict(chelsea).top(5)}
    assert top5 & CAT_CLASSES


def test_coffee_is_espresso(cnn, coffee):
    assert cnn.predict(coffee).top(1)[0][1] == "espresso"


def test_probabilities_sum_to_one(cnn, coffee):
    assert abs(float(cnn.predict(coffee).probs.sum()) - 1) < 1e-4


@pytest.mark.parametrize("as_pil", [False, True])
def test_scores_on_the_image_grid(cnn, chelsea, as_pil):
    img = Image.fromarray(chelsea) if as_pil else chelsea
    e = explain(cnn, img, method="grad-cam")
    assert e.scores.shape == chelsea.shape[:2]
    assert e.scores.dtype == np.float32 and e.scores.min() >= 0 and e.scores.max() <= 1
    assert e.target_label == "Egyptian cat" and e.device == "cpu"


def test_grad_cam_is_class_sensitive(cnn, chelsea):
    cat = explain(cnn, chelsea, method="grad-cam", target="Egyptian cat")
    cup = explain(cnn, chelsea, method="grad-cam", target="espresso")
    assert pearson(cat.scores, cup.scores) < 0.9


def test_no_hook_left_on_the_model(cnn, chelsea):
    explain(cnn, chelsea, method="grad-cam")
    for module in cnn.module.modules():
        assert not module._forward_hooks and not module._backward_hooks


def test_one_pixel_image(cnn):
    e = explain(cnn, np.array([[[120, 80, 40]]], dtype=np.uint8), method="grad-cam")
    assert e.scores.shape == (1, 1) and 0 <= e.scores[0, 0] <= 1


def test_heatmap_follows_exif_orientation(cnn, chelsea):
    """An upload stored sideways with an EXIF rotation gets the heatmap of the upright image."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(np.rot90(chelsea, k=1).copy()), "PNG", exif=exif)
    shown = decode_image(data)
    assert shown.shape == chelsea.shape
    upright = explain(cnn, chelsea, method="grad-cam", target="Egyptian cat")
    uploaded = explain(cnn, shown, method="grad-cam", target="Egyptian cat")
    np.testing.assert_allclose(uploaded.scores, upright.scores, atol=1e-4)
