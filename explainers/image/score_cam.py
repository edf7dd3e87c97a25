"""Score-CAM: gradient-free CAM weights from how much each activation map, used as a mask, keeps the class."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explainers.image.cam import layer_activations, weighted_sum
from explainers.core.engine import batched_logits
from explainers.image.maps import to_pixel_grid
from explainers.core.budget import FLOAT, engine_bytes, image_input_bytes
from explainers.core.registry import register


def score_cam_cost(params, model=None, **sizes) -> tuple[int, int]:
    """One forward for the activations, then one per channel of the layer."""
    channels = model.layer_output_shape(params["layer"])[1] if model is not None else 0
    return 1 + channels, 0


def score_cam_memory(params, model, **_) -> int:
    """Every channel's map upsampled to the input (twice: interpolated, then scaled), then the engine's batches."""
    channels = score_cam_cost(params, model)[0] - 1
    h, w = model.input_size
    return 2 * channels * h * w * FLOAT + engine_bytes(model, channels, params["batch_size"], image_input_bytes(model))


@register("score-cam", modality="image", family="cam", cost=score_cam_cost,
          defaults={"layer": None, "batch_size": None}, limits={"batch_size": (1, 64)}, memory=score_cam_memory)
def score_cam(model, image, target, layer=None, batch_size=None):
    """Score-CAM (Wang et al., CVPR-W 2020): w = softmax_k(logit_c(x ⊙ M_k)), CAM = ReLU(Σ_k w_k A_k).

    M_k is channel k's activation map upsampled to the input (bilinear, corners
    aligned) and min-max scaled to [0, 1]; the masked input x ⊙ M_k is taken in
    the model's normalised space; the softmax runs over the channels. This is the
    form pytorch-grad-cam implements, so the two can be compared map for map.
    """
    x, A, index, _ = layer_activations(model, image, target, layer)
    masks = F.interpolate(A[None].float(), size=x.shape[-2:], mode="bilinear", align_corners=True)[0]
    flat = masks.reshape(masks.shape[0], -1)
    low, high = flat.min(dim=1).values, flat.max(dim=1).values
    masks = (masks - low[:, None, None]) / (high - low + 1e-8)[:, None, None]

    def make_batch(i, j):
        return x * masks[i:j, None]

    logits = batched_logits(model, masks.shape[0], make_batch, batch_size=batch_size)
    weights = torch.softmax(logits[:, index].float(), dim=0)
    saliency = weighted_sum(weights.to(A.dtype), A)
    return to_pixel_grid(saliency, image.shape[0], image.shape[1]), index
