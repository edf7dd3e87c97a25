"""Class activation maps over one shared mechanism.

``layer_gradients`` owns the hook, the target and the single backward pass;
each CAM method is a weight rule on the activations A (1, C, h, w) and the
gradients G = d logit_target / dA of the chosen layer.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from explainers.maps import to_pixel_grid
from explainers.registry import register
from models.errors import ExplainerError

CamRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def layer_gradients(model, image: np.ndarray, target: int | None, layer: str | None = None):
    """One forward and one backward pass: (A, G, target_index) for ``layer``.

    The backward pass runs only from the target logit down to the layer
    (``torch.autograd.grad``), not through the rest of the network, and the
    hook is removed before returning, whatever happens.
    """
    x = model.preprocess(image).requires_grad_(True)
    captured = []

    def keep(_module, _inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        out = out.clone()  # later in-place ops must not overwrite what we keep
        captured.append(out)
        return out if not isinstance(output, (tuple, list)) else type(output)([out, *output[1:]])

    handle = model.layer(layer).register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model.forward(x)
    finally:
        handle.remove()
    if not captured:
        raise ExplainerError(f"Layer '{layer or model.target_layer_name}' was not used in the forward pass.")
    activation = captured[-1]
    index = int(logits[0].argmax()) if target is None else target
    (grad,) = torch.autograd.grad(logits[0, index], activation)
    model.count_backward(1)
    return model.reshape(activation.detach()), model.reshape(grad), index


def gradient_cam(rule: CamRule):
    """Turn a weight rule ``(A, G) -> (h, w) map`` into an image explainer."""

    def explain_with(model, image, target, layer=None):
        activations, gradients, index = layer_gradients(model, image, target, layer)
        saliency = rule(activations[0], gradients[0])
        return to_pixel_grid(saliency, image.shape[0], image.shape[1]), index

    explain_with.__doc__ = rule.__doc__
    return explain_with


ONE_PASS = lambda params: (1, 1)  # noqa: E731 - a cost model: one forward, one backward


def grad_cam_rule(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017): ReLU(Σ_k w_k A_k), w_k = mean gradient of channel k."""
    weights = G.mean(dim=(1, 2))
    return torch.relu(torch.einsum("k,khw->hw", weights, A))


register("grad-cam", modality="image", family="cam", cost=ONE_PASS, defaults={"layer": None})(
    gradient_cam(grad_cam_rule)
)
