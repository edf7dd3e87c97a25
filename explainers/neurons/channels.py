"""The channels of a CNN layer behind a class: each channel's contribution, its map, its most activating crops.

``channel-attribution`` scores every channel k of a conv layer (default: the adapter's target layer) for the
class: ``rule="gradient-x-activation"`` (default) Σ_ij A_kij · ∂logit/∂A_kij — one forward and one backward; for a
linear head after global average pooling it is exactly channel k's share of the logit (w_ck · mean A_k), the shares
summing to the logit less the bias — or ``rule="conductance"``, Captum's LayerConductance (the layer's integrated
gradients from a black image, ``n_steps`` steps on points from the black image to the input, both included, so
that its layer differences telescope: complete for a linear head after pooling), summed over space. Channels are ranked by score (the most positive
first). ``extras["neurons"]``: one entry per top-``top_k`` channel (layer, index, score, mean and max activation);
``extras["channel_maps"]``: their activation maps (k, h, w) on the model's input grid (``model.input_size``);
``extras["channel_scores"]``: every channel's score. ``scores``: Σ over the top-k channels with a positive score of
score_k · A_k, ReLU'd, on the image's pixel grid scaled to [0, 1] (a Grad-CAM restricted to the top channels and
weighted by their contributions).

``top_crops(model, data, channels, layer=...)``: each chosen channel's most activating crops over a dataset (a
folder, a ZIP, or a bundled name read through explainers/batch/reader.py), bounded in images and crops.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from explainers.core.budget import image_backward_bytes
from explainers.core.engine import check_cancel, passes_made, report_progress
from explainers.core.registry import register
from explainers.image.cam import _forward_keeping, layer_activations, layer_gradients
from explainers.image.gradients import CountedTarget, reference_input
from explainers.image.maps import resize_map, to_pixel_grid
from models.errors import ExplainerError, InputError
from models.per_model import PerModel

RULES = ("gradient-x-activation", "conductance")
MAX_TOP_K = 64
MAX_STEPS = 256
MAX_CROP_IMAGES = 2000  # images one crop search reads at most
MAX_CROPS = 16  # crops per channel
MAX_CROP_CHANNELS = 64
CROP_BATCH = 16
CONDUCTANCE_BATCH = 8  # LayerConductance's internal batch (inputs per forward and backward)


def is_vision_transformer(model) -> bool:
    """An image model that is a known vision transformer (timm/torchvision/Hugging Face ViT, DeiT, Swin, BEiT)."""
    from models.adapters.vit import hf_transformer_defaults, transformer_defaults

    module = getattr(model, "module", None)
    return (isinstance(module, nn.Module) and getattr(model, "modality", None) == "image"
            and (transformer_defaults(module) is not None or hf_transformer_defaults(module) is not None))


def is_cnn(model) -> bool:
    """An image model with convolutions that is not a known vision transformer (whose one convolution is the patch
    embedding): the models ``channel-attribution`` fits."""
    module = getattr(model, "module", None)
    if not isinstance(module, nn.Module) or getattr(model, "modality", None) != "image" or is_vision_transformer(model):
        return False
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


_LAYERS = PerModel()  # model -> the names of its layers with a channel map


def channel_layers(model) -> list[str]:
    """The layers whose output is an (N, C, h, w) map with h, w > 1, in the order they run (one forward of a blank
    input, kept per model): the layers ``channel-attribution`` can read, for a page's layer chooser."""
    return list(_LAYERS.get(model, "layers", lambda: tuple(model.spatial_layers())))


def _channel_map(model, layer: str | None) -> None:
    """Refuse a layer whose output is not a (C, h, w) channel map."""
    shape = model.layer_output_shape(layer)
    if len(shape) != 4:
        raise ExplainerError(f"Layer '{layer or model.target_layer_name}' gives no channel map (its output is "
                             f"{tuple(shape)}); choose a convolutional layer.")


def conductance_points(n_steps: int) -> int:
    """Inputs LayerConductance runs (forward and backward) for ``n_steps`` at ``CONDUCTANCE_BATCH`` a batch: its
    n_steps + 1 points, in batches that each repeat the previous batch's last point (its differences need it)."""
    points = int(n_steps) + 1
    batches = 1 if points <= CONDUCTANCE_BATCH else 1 + -(-(points - CONDUCTANCE_BATCH) // (CONDUCTANCE_BATCH - 1))
    return points + batches - 1


def _cost(params, model=None, **sizes) -> tuple[int, int]:
    if params.get("rule") == "conductance":
        points = conductance_points(params["n_steps"])
        return points + 1, points  # the forward that finds A and the class, then Captum's points
    return 1, 1


def _memory(params, model, **_) -> int:
    steps = int(params["n_steps"]) if params.get("rule") == "conductance" else 1
    return image_backward_bytes(model, CONDUCTANCE_BATCH if steps > 1 else 1)


def channel_scores(model, image: np.ndarray, target: int | None, layer: str | None = None,
                   rule: str = "gradient-x-activation", n_steps: int = 32):
    """(A (C, h, w), scores (C,), target_index): the layer's activations and each channel's score for the class."""
    if rule not in RULES:
        raise ExplainerError(f"Unknown rule '{rule}'. Choose one of: {', '.join(RULES)}.")
    _channel_map(model, layer)
    check_cancel()
    if rule == "gradient-x-activation":
        A, G, index = layer_gradients(model, image, target, layer)
        passes_made(1)
        return A, (A * G).sum(dim=(1, 2)), index
    if int(n_steps) < 2:
        raise ExplainerError(f"n_steps must be at least 2 (got {n_steps}).")
    from captum.attr import LayerConductance

    x, A, index, _ = layer_activations(model, image, target, layer)
    passes_made(1)
    module = model.layer(layer)
    with torch.enable_grad():
        conductance = LayerConductance(CountedTarget(model, index), module).attribute(
            x, baselines=reference_input(model, "black"), n_steps=int(n_steps), internal_batch_size=CONDUCTANCE_BATCH,
            method="riemann_trapezoid")
    return A, model.reshape(conductance.detach())[0].sum(dim=(1, 2)), index


@register(
    "channel-attribution",
    modality="image",
    family="neurons",
    cost=_cost,
    defaults={"layer": None, "top_k": 8, "rule": "gradient-x-activation", "n_steps": 32},
    choices={"rule": RULES},
    limits={"top_k": (1, MAX_TOP_K), "n_steps": (2, MAX_STEPS)},
    memory=_memory,
    requires=is_cnn,
)
def channel_attribution(model, image, target, layer=None, top_k=8, rule="gradient-x-activation", n_steps=32):
    """Channel attribution: each channel's contribution to the class (gradient × activation, or layer conductance), top-k channels and their maps.

    ``scores``: the top channels' maps weighted by their (positive) contributions, on the image's pixel grid.
    """
    A, scores, index = channel_scores(model, image, target, layer, rule, n_steps)
    k = max(1, min(int(top_k), scores.shape[0]))
    order = torch.argsort(scores, descending=True, stable=True)[:k]
    name = layer or model.target_layer_name
    h, w = model.input_size
    maps = torch.stack([resize_map(A[c], h, w) for c in order.tolist()])
    neurons = [{"layer": name, "index": int(c), "score": float(scores[c]), "mean_activation": float(A[c].mean()),
                "max_activation": float(A[c].max())} for c in order.tolist()]
    weights = scores[order].clamp_min(0)
    combined = torch.relu(torch.einsum("k,khw->hw", weights, A[order]))
    extras = {
        "neurons": neurons,
        "channel_maps": maps.cpu().numpy().astype(np.float32),
        "channel_scores": scores.detach().cpu().numpy().astype(np.float32),
        "layer": name,
        "rule": rule,
        "map": "ReLU(Σ over the top-k channels of max(score, 0) × activation), min-max scaled",
    }
    return to_pixel_grid(combined, image.shape[0], image.shape[1]), index, {"extras": extras}


# ---------------------------------------------------------------- most activating crops over a dataset


@dataclass(frozen=True)
class Crop:
    """One crop of a dataset image around where a channel fires most: the item's path, the activation, the crop."""

    path: str
    activation: float
    image: np.ndarray  # (size, size, 3) uint8


def top_crops(model, data, channels: list[int], layer: str | None = None, per_channel: int = 4,
              max_images: int = 200, crop_fraction: float = 0.5, size: int = 64, progress=None) -> dict[int, list[Crop]]:
    """Each of ``channels``' ``per_channel`` most activating crops over the first ``max_images`` images of ``data``
    (a folder, ZIP or bundled dataset name, read by explainers/batch/reader.py), strongest first: the square of
    ``crop_fraction`` of the image's shorter side centred on the cell where the channel's activation peaks,
    resized to ``size`` px. One forward per image (in batches of ``CROP_BATCH``), counted; Cancel is checked
    between batches; ``progress(done, total)`` in images. Unreadable items are skipped."""
    from explainers.batch.reader import load_item, read_items

    if not channels:
        raise InputError("Choose at least one channel to find crops for.")
    if len(channels) > MAX_CROP_CHANNELS:
        raise InputError(f"Crops are found for up to {MAX_CROP_CHANNELS} channels at once; {len(channels)} were chosen.")
    if not 1 <= int(per_channel) <= MAX_CROPS:
        raise InputError(f"Crops per channel must be between 1 and {MAX_CROPS} (got {per_channel}).")
    if not 1 <= int(max_images) <= MAX_CROP_IMAGES:
        raise InputError(f"Crops are searched over 1 to {MAX_CROP_IMAGES:,} images (got {max_images}).")
    if not 0 < float(crop_fraction) <= 1:
        raise InputError(f"The crop is a fraction of the image's side in (0, 1] (got {crop_fraction}).")
    _channel_map(model, layer)
    n_channels = model.layer_output_shape(layer)[1]
    wanted = [int(c) for c in channels]
    if any(not 0 <= c < n_channels for c in wanted):
        raise InputError(f"The layer has channels 0..{n_channels - 1}.")
    items = read_items(data, model, limit=int(max_images))
    if not items:
        raise InputError("The dataset has no images.")
    heaps: dict[int, list] = {c: [] for c in wanted}
    counter = 0
    for start in range(0, len(items), CROP_BATCH):
        report_progress(start, len(items))
        batch = []
        for entry in items[start : start + CROP_BATCH]:
            try:
                batch.append((entry.path, load_item(model, entry)))
            except Exception:  # noqa: BLE001 - an unreadable item is skipped, as the batch runner reports it
                continue
        if not batch:
            continue
        x = torch.cat([model.preprocess(img) for _, img in batch])
        with torch.inference_mode():
            _, activation = _forward_keeping(model, x, layer)
        passes_made(len(batch))
        A = model.reshape(activation)[:, wanted]  # (n, k, h, w)
        n, k, gh, gw = A.shape
        peak, where = A.flatten(2).max(dim=2)
        for i, (path, img) in enumerate(batch):
            for j, c in enumerate(wanted):
                value = float(peak[i, j])
                entry = (value, counter, path, img, divmod(int(where[i, j]), gw), (gh, gw))
                counter += 1
                if len(heaps[c]) < per_channel:
                    heapq.heappush(heaps[c], entry)
                elif value > heaps[c][0][0]:
                    heapq.heapreplace(heaps[c], entry)
        if progress is not None:
            progress(min(start + CROP_BATCH, len(items)), len(items))
    out = {}
    for c, heap in heaps.items():
        ranked = sorted(heap, key=lambda e: (-e[0], e[1]))
        out[c] = [Crop(path, value, crop_around(img, cell, grid, crop_fraction, size))
                  for value, _, path, img, cell, grid in ranked]
    return out


def crop_around(image: np.ndarray, cell: tuple[int, int], grid: tuple[int, int], fraction: float, size: int) -> np.ndarray:
    """The square of ``fraction`` of the image's shorter side centred on ``cell`` of a ``grid`` laid over the image
    (kept inside the image), resized to ``size`` × ``size``."""
    height, width = image.shape[:2]
    side = max(1, int(round(fraction * min(height, width))))
    cy = (cell[0] + 0.5) * height / grid[0]
    cx = (cell[1] + 0.5) * width / grid[1]
    top = int(min(max(0, round(cy - side / 2)), height - side))
    left = int(min(max(0, round(cx - side / 2)), width - side))
    patch = image[top : top + side, left : left + side]
    return np.asarray(Image.fromarray(patch).resize((size, size), Image.NEAREST if side < size else Image.BILINEAR))
