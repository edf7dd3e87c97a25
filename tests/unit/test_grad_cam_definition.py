"""Grad-CAM against its definition on a tiny hand-made conv net, computed independently with autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainers import ExplainerError, explain
from models.adapters.image import ImageClassifier


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.features = nn.Sequential(nn.Conv2d(6, 5, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Linear(5, 4)

    def forward(self, x):
        return self.head(self.features(self.stem(x)).mean(dim=(2, 3)))


@pytest.fixture
def tiny():
    torch.manual_seed(3)
    net = TinyNet()
    return ImageClassifier("tiny", net, labels=list("abcd"), input_size=(8, 8), target_layer="features", device="cpu")


@pytest.fixture
def image():
    return np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)


def grad_cam_by_hand(net: TinyNet, image: np.ndarray, target: int) -> np.ndarray:
    x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    activations = net.features(net.stem(x))
    logit = net.head(activations.mean(dim=(2, 3)))[0, target]
    (grads,) = torch.autograd.grad(logit, activations)
    weights = grads.mean(dim=(2, 3))[0]  # one weight per channel: the mean gradient
    cam = F.relu((weights[:, None, None] * activations[0]).sum(0)).detach()
    cam = F.interpolate(cam[None, None], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    if cam.max() == 0:  # nothing supports this class: Lumen's convention is an all-zero map
        return cam.numpy()
    return (cam / cam.max()).numpy()


@pytest.mark.parametrize("target", [0, 1, 2, 3])
def test_grad_cam_matches_definition(tiny, image, target):
    expected = grad_cam_by_hand(tiny.module, image, target)
    e = explain(tiny, image, method="grad-cam", target=target)
    assert e.scores.shape == (8, 8) and e.scores.dtype == np.float32
    np.testing.assert_allclose(e.scores, expected, atol=1e-5)
    assert (e.n_forward, e.n_backward) == (1, 1)
    assert e.target == target and e.target_label == "abcd"[target]


def test_default_target_is_top_class(tiny, image):
    e = explain(tiny, image, method="grad-cam")
    assert e.target == tiny.predict(image).top(1)[0][0]


def test_frozen_parameters_still_explain(tiny, image):
    for p in tiny.module.parameters():
        p.requires_grad_(False)
    e = explain(tiny, image, method="grad-cam", target=1)
    assert e.scores.max() <= 1 and e.scores.min() >= 0


def test_hooks_removed_after_success_and_failure(tiny, image):
    explain(tiny, image, method="grad-cam")
    with pytest.raises(ExplainerError):
        explain(tiny, image, method="grad-cam", layer="no.such.layer")
    with pytest.raises(ExplainerError):
        explain(tiny, image, method="grad-cam", target=99)
    for module in tiny.module.modules():
        assert not module._forward_hooks and not module._backward_hooks and not module._forward_pre_hooks


def test_default_layer_is_last_spatial_map():
    net = TinyNet()
    adapter = ImageClassifier("tiny", net, labels=list("abcd"), input_size=(8, 8), device="cpu")
    assert adapter.target_layer_name == "features"


def test_unknown_method_and_parameter(tiny, image):
    with pytest.raises(ExplainerError, match="No image explainer named 'nope'"):
        explain(tiny, image, method="nope")
    with pytest.raises(ExplainerError, match="no parameter steps"):
        explain(tiny, image, method="grad-cam", steps=3)
