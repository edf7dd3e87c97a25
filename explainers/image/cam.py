"""Class activation maps over one shared mechanism.

``layer_activations`` (forward only) and ``layer_gradients`` (one forward, one
backward down to the layer) own the hook, the target and the clean-up; each CAM
method is a small rule on the activations A (C, h, w) and the gradients
G = d logit_target / dA (C, h, w) of the chosen layer.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from explainers.image.maps import to_pixel_grid
from explainers.core.budget import forward_bytes, image_activation_bytes, image_backward_bytes, image_input_bytes
from explainers.core.registry import SEED, SharedPass, register
from models.errors import ExplainerError

CamRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EPS = 1e-7


def _forward_keeping(model, x: torch.Tensor, layer: str | None):
    """Logits of ``x`` and the output of ``layer`` during that forward; the hook never outlives the call."""
    captured = []

    def keep(_module, _inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        out = out.clone()  # later in-place ops must not overwrite what we keep
        captured.append(out)
        return out if not isinstance(output, (tuple, list)) else type(output)([out, *output[1:]])

    handle = model.layer(layer).register_forward_hook(keep)
    try:
        logits = model.forward(x)
    finally:
        handle.remove()
    if not captured:
        raise ExplainerError(f"Layer '{layer or model.target_layer_name}' was not used in the forward pass.")
    return logits, captured[-1]


def layer_activations(model, image: np.ndarray, target: int | None, layer: str | None = None):
    """One forward pass: (x, A (C, h, w), target_index, logits) — no gradients."""
    x = model.preprocess(image)
    with torch.inference_mode():
        logits, activation = _forward_keeping(model, x, layer)
    index = int(logits[0].argmax()) if target is None else target
    return x, model.reshape(activation)[0], index, logits[0]


def layer_gradients(model, image: np.ndarray, target: int | None, layer: str | None = None):
    """One forward and one backward pass: (A, G, target_index), each (C, h, w).

    The backward pass runs only from the target logit down to the layer
    (``torch.autograd.grad``), not through the rest of the network.
    """
    x = model.preprocess(image).requires_grad_(True)
    with torch.enable_grad():
        logits, activation = _forward_keeping(model, x, layer)
        index = int(logits[0].argmax()) if target is None else target
        (grad,) = torch.autograd.grad(logits[0, index], activation)
    model.count_backward(1)
    return model.reshape(activation.detach())[0], model.reshape(grad)[0], index


def preprocess_stack(model, images: list[np.ndarray]) -> torch.Tensor:
    """Several images, each preprocessed as alone (resized to the model's input size whatever its own), as one
    (N, 3, H, W) batch, in the layout ``explain`` feeds one image in: channels-last (the engine's CPU layout,
    ``engine_layout``) would be ~10 % faster on CPU but moves input gradients by up to 1e-2 of their largest
    (saliency on EfficientNet-Lite0), and a batch's maps must equal those made alone."""
    return torch.cat([model.preprocess(image) for image in images])


def row_targets(logits: torch.Tensor, targets: list[int | None]) -> list[int]:
    """Each row's class to explain: its given index, else the row's top class (as ``logits[0].argmax()`` alone)."""
    top = logits.detach().argmax(dim=1).tolist()
    return [int(top[i]) if t is None else int(t) for i, t in enumerate(targets)]


def layer_gradients_batch(model, images: list[np.ndarray], targets: list[int | None], layer: str | None = None):
    """``layer_gradients`` of several images in one forward of their stack and one backward of the sum of each
    row's target logit down to the layer: [(A, G, target_index), ...], each (C, h, w) as for that image alone
    (rows are independent in eval mode, so each row's gradient is its own logit's). Counts n forward and n
    backward passes (one per image, as alone)."""
    x = preprocess_stack(model, images).requires_grad_(True)
    with torch.enable_grad():
        logits, activation = _forward_keeping(model, x, layer)
        index = row_targets(logits, targets)
        rows = torch.arange(len(images), device=logits.device)
        chosen = logits[rows, torch.tensor(index, device=logits.device)]
        (grad,) = torch.autograd.grad(chosen.sum(), activation)
    model.count_backward(len(images))
    A, G = model.reshape(activation.detach()), model.reshape(grad)
    return [(A[i], G[i], index[i]) for i in range(len(images))]


def layer_activations_batch(model, images: list[np.ndarray], targets: list[int | None], layer: str | None = None):
    """``layer_activations`` of several images in one forward of their stack (no gradients):
    [((A, target_index), target_index), ...], A (C, h, w) as for that image alone."""
    x = preprocess_stack(model, images)
    with torch.inference_mode():
        logits, activation = _forward_keeping(model, x, layer)
    index = row_targets(logits, targets)
    A = model.reshape(activation)
    return [((A[i], index[i]), index[i]) for i in range(len(images))]


def add_gradient_noise(G: torch.Tensor, level: float, seed: int) -> torch.Tensor:
    """G + level · std(G) · ε, ε ~ N(0, 1) seeded: gradient noise of a scale-free size."""
    if level <= 0:
        return G
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    noise = torch.randn(G.shape, generator=generator, dtype=torch.float32).to(G.device)
    return G + float(level) * G.std() * noise


def gradient_cam(rule: CamRule, id: str = ""):
    """Turn a rule ``(A, G) -> (h, w) map`` into an image explainer (``register(..., wrap=gradient_cam)``).

    ``grad_noise`` (a multiple of the gradients' standard deviation, seeded by
    ``seed``) perturbs the gradients before the rule sees them: it is how the
    robustness of a rule to noisy gradients is measured. (``id``, the method's, is not needed here.)
    ``passes``: the (A, G, target_index) of ``layer_gradients`` already made for this image, target and layer
    (``LAYER_GRADIENTS``, shared by the gradient CAMs chosen together); None makes them here.
    """

    def explain_with(model, image, target, layer=None, grad_noise=0.0, seed=0, *, passes=None):
        activations, gradients, index = layer_gradients(model, image, target, layer) if passes is None else passes
        gradients = add_gradient_noise(gradients, grad_noise, seed)
        saliency = rule(activations, gradients)
        return to_pixel_grid(saliency, image.shape[0], image.shape[1]), index

    explain_with.__doc__ = rule.__doc__
    return explain_with


def _shared_layer_gradients(model, image, target, layer=None):
    passes = layer_gradients(model, image, target, layer)
    return passes, passes[2]


def _batched_layer_gradients(model, images, targets, layer=None):
    return [(passes, passes[2]) for passes in layer_gradients_batch(model, images, targets, layer)]


# One forward and one backward to the layer, shared by every gradient CAM on the same image, target and layer;
# ``explain_batch``: one forward and one backward for a stack of images.
LAYER_GRADIENTS = SharedPass("layer gradients", keys=("layer",), compute=_shared_layer_gradients,
                             batch=_batched_layer_gradients)


def _shared_layer_activations(model, image, target, layer=None):
    _, A, index, _ = layer_activations(model, image, target, layer)
    return (A, index), index


# One forward to the layer (Eigen-CAM's); ``explain_batch``: one forward for a stack of images.
LAYER_ACTIVATIONS = SharedPass("layer activations", keys=("layer",), compute=_shared_layer_activations,
                               batch=layer_activations_batch)


def one_pass(params, model=None, **sizes) -> tuple[int, int]:
    return 1, 1


def one_backward(params, model, **_) -> int:
    """Peak bytes of one input through the network and back (the CAMs' layer maps are small next to it)."""
    return image_backward_bytes(model, 1)


def one_forward(params, model, **_) -> int:
    return forward_bytes(image_activation_bytes(model)[1], image_input_bytes(model))


# What every gradient CAM shares: ``@register(id, **GRADIENT_CAM)`` on a rule ``(A, G) -> (h, w) map``.
GRADIENT_CAM = dict(
    modality="image", family="cam", cost=one_pass, wrap=gradient_cam, memory=one_backward, shares=LAYER_GRADIENTS,
    defaults={"layer": None, "grad_noise": 0.0, "seed": 0},
    limits={"grad_noise": (0.0, 10.0), "seed": SEED},  # noise of 10 standard deviations drowns any gradient
)


def weighted_sum(weights: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """ReLU(Σ_k w_k A_k) for channel weights (C,) and activations (C, h, w)."""
    return torch.relu(torch.einsum("k,khw->hw", weights, A))


@register("grad-cam", **GRADIENT_CAM)
def grad_cam(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017): ReLU(Σ_k w_k A_k), w_k = mean gradient of channel k."""
    return weighted_sum(G.mean(dim=(1, 2)), A)


@register("grad-cam++", **GRADIENT_CAM)
def grad_cam_plus_plus(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al., WACV 2018): w_k = Σ_ij α_ij ReLU(G_ij), α = G²/(2G² + Σ_ab A_ab · G³).

    α uses the paper's closed form for an exponential output (higher derivatives
    as powers of the first); where G = 0, α = 0.
    """
    g2, g3 = G.pow(2), G.pow(3)
    denominator = 2 * g2 + A.sum(dim=(1, 2), keepdim=True) * g3
    alpha = torch.where(G != 0, g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator)), 0.0)
    return weighted_sum((alpha * torch.relu(G)).sum(dim=(1, 2)), A)


@register("xgrad-cam", **GRADIENT_CAM)
def xgrad_cam(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """XGrad-CAM (Fu et al., BMVC 2020): w_k = Σ_ij G_ij A_ij / Σ_ij A_ij."""
    weights = (G * A).sum(dim=(1, 2)) / (A.sum(dim=(1, 2)) + EPS)
    return weighted_sum(weights, A)


@register("hires-cam", **GRADIENT_CAM)
def hires_cam(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """HiResCAM (Draelos & Carin, 2020): ReLU(Σ_k G_k ⊙ A_k), element-wise, no spatial averaging."""
    return torch.relu((G * A).sum(dim=0))


@register("layer-cam", **GRADIENT_CAM)
def layer_cam(A: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al., IEEE TIP 2021): ReLU(Σ_k ReLU(G_k) ⊙ A_k)."""
    return torch.relu((torch.relu(G) * A).sum(dim=0))


def forward_only(params, model=None, **sizes) -> tuple[int, int]:
    return 1, 0


@register("eigen-cam", modality="image", family="cam", cost=forward_only, defaults={"layer": None}, memory=one_forward,
          shares=LAYER_ACTIVATIONS)
def eigen_cam(model, image, target, layer=None, *, passes=None):
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): projection on the first principal component of the activations.

    Class-agnostic: the positions × channels matrix is centred per channel, its
    first right-singular vector gives the map; the SVD's arbitrary sign is fixed
    so the map correlates positively with the channel sum of the activations.
    """
    if passes is None:  # else the activations already made for this image (``explain_batch``)
        passes, _ = _shared_layer_activations(model, image, target, layer)
    A, index = passes
    saliency = first_component_map(A)
    return to_pixel_grid(saliency, image.shape[0], image.shape[1]), index


def first_component_map(A: torch.Tensor) -> torch.Tensor:
    """(C, h, w) activations -> (h, w) projection on their first principal component, sign-fixed."""
    C, h, w = A.shape
    positions = A.reshape(C, h * w).T.double()
    centred = positions - positions.mean(dim=0, keepdim=True)
    if h * w < 2 or not torch.any(centred):
        return torch.zeros(h, w, device=A.device)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    projection = centred @ vh[0]
    total = positions.sum(dim=1)
    if torch.dot(projection - projection.mean(), total - total.mean()) < 0:
        projection = -projection
    return projection.reshape(h, w).float()
