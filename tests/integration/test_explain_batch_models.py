"""``explain_batch`` on the embedded models: each image's map from a batch equals ``explain`` of that image alone,
with one forward (and one backward) call of the network per chunk."""

import numpy as np
import pytest

from explainers import explain, explain_batch
from models.embedded.digits_vit import digit_images
from models.inputs.samples import sample_image, sample_views

pytestmark = pytest.mark.slow


def module_calls(model):
    calls = []
    handle = model.module.register_forward_pre_hook(lambda _m, args: calls.append(int(args[0].shape[0])))
    return calls, handle


@pytest.mark.parametrize("method", ["grad-cam", "layer-cam", "eigen-cam", "saliency"])
def test_digits_vit(vit, method):
    images, labels = digit_images("test")
    images, labels = list(images[:12]), [int(v) for v in labels[:12]]
    targets = [None] * 6 + labels[6:]  # top classes and given ones
    explain(vit, images[0], method=method)  # the run budget's one-off measurement, before counting calls
    calls, handle = module_calls(vit)
    try:
        together = explain_batch(vit, images, method, targets=targets)
    finally:
        handle.remove()
    assert calls == [8, 4]  # the engine's CPU batch size, then the rest
    for image, target, e in zip(images, targets, together):
        alone = explain(vit, image, method=method, target=target)
        assert e.target == alone.target and e.scores.shape == (8, 8)
        assert np.allclose(e.scores, alone.scores, atol=1e-5), method


@pytest.mark.parametrize("method", ["grad-cam", "saliency"])
def test_efficientnet_photos_of_different_sizes(cnn, method):
    # the coffee view is one on which a channels-last batch moves saliency by 1e-2 (the batch keeps explain's layout)
    images = [sample_image("chelsea (cat)"), sample_views("coffee", n=3, seed=1)[0],
              *sample_views("astronaut", n=3, seed=1), sample_image("flower.jpg")]
    assert len({im.shape for im in images}) == len(images)
    explain(cnn, images[0], method=method)
    calls, handle = module_calls(cnn)
    try:
        together = explain_batch(cnn, images, method)
    finally:
        handle.remove()
    assert calls == [len(images)]
    for image, e in zip(images, together):
        alone = explain(cnn, image, method=method)
        assert e.target == alone.target and e.scores.shape == image.shape[:2]
        assert np.allclose(e.scores, alone.scores, atol=1e-5), method
        assert (e.n_forward, e.n_backward) == (1, 1)
