"""CRAFT: concepts a model uses for a class, how much each matters, and where they are.

Fel et al., "CRAFT: Concept Recursive Activation FacTorization for Explainability",
CVPR 2023, within the Lens framework (Fel et al., NeurIPS 2023):

1. Cut the model at a layer into g (input → activations) and h (activations → logits);
   default: the final feature map, whose spatial mean is the pooled feature vector.
2. Cut each image (at the model's input size) into crops of ``patch_size`` px with
   stride 0.8 × patch, resize each crop to the input size, and keep g's spatially
   averaged activations: A (crops × channels).
3. Factorise A ≈ U W (``explainers.concepts.extractors``; NMF by default): W is the
   bank of r concepts.
4. Code every spatial position of every whole image against the fixed W: U(x), the
   concept maps.
5. Estimate each concept's importance for the class from U(x) through h
   (``explainers.concepts.importance``; Sobol total indices by default); the
   explanation's scores are the importances averaged over the images.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from explainers.concepts.extractors import EXTRACTORS, fit_concepts
from explainers.concepts.importance import IMPORTANCES, ConceptHead, concept_importance, importance_passes
from explainers.metrics.concepts import (
    c_deletion,
    c_insertion,
    c_mufidelity,
    metric_passes,
    relative_reconstruction_error,
    sparsity,
    strategic_clusters,
)
from explainers.core.engine import batched_logits, expect
from explainers.concepts.model_split import ModelSplit
from explainers.core.sobol import design_memory
from explainers.core.budget import DOUBLE, FLOAT, engine_bytes, image_input_bytes
from explainers.core.registry import SEED, register
from models.errors import ExplainerError

STRIDE_SHARE = 0.8
THUMBNAIL = 96  # largest side of a crop kept for the gallery


def crop_origins(size: int, patch: int) -> list[int]:
    """Start offsets along one axis of ``size`` px: stride 0.8 × patch, crops inside the image."""
    stride = max(1, int(STRIDE_SHARE * patch))
    return list(range(0, size - patch + 1, stride))


def crops_per_image(input_size, patch: int) -> int:
    h, w = input_size
    return len(crop_origins(h, patch)) * len(crop_origins(w, patch))


def _check_patch(input_size, patch_size) -> int:
    patch = int(patch_size)
    if not 8 <= patch <= min(input_size):
        raise ExplainerError(f"patch_size must lie between 8 and {min(input_size)} px (the model's input); got {patch_size}.")
    return patch


def head_passes(params) -> tuple[int, int]:
    """(forward, backward) passes through h per image: the prediction, the importance, the Lens metrics."""
    r = int(params["n_concepts"])
    passes = importance_passes(params["importance"], r, int(params["nb_design"]), int(params["ig_steps"]))
    backward = passes // 2 if params["importance"] in ("gradient-x-input", "integrated-gradients") else 0
    return 1 + passes - backward + metric_passes(r), backward


def _cost(params, model=None, **sizes):
    """Per image: the crops and the image through g; the passes through h too when h is the whole model."""
    size = model.input_size if model is not None else (224, 224)
    forward = crops_per_image(size, _check_patch(size, params["patch_size"])) + 1
    if model is not None and not ModelSplit(model, params["layer"]).fast_head:
        head_forward, head_backward = head_passes(params)
        return forward + head_forward, head_backward
    return forward, 0


def _resized_rgb(model, image: np.ndarray) -> np.ndarray:
    h, w = model.input_size
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))


def _memory(params, model, n_images: int = 1, **_) -> int:
    """Per image: its input, every crop's pooled activations (and NMF's coefficients and float64 copies), its
    activation map and concept maps; then one batch of crops through the engine and the importance's design."""
    split = ModelSplit(model, params["layer"])
    channels = split.channels
    positions = math.prod(split.activation_shape[1:]) if len(split.activation_shape) > 1 else 1
    crops = crops_per_image(model.input_size, _check_patch(model.input_size, params["patch_size"]))
    r = int(params["n_concepts"])
    per_image = (image_input_bytes(model) + crops * (channels + r) * (FLOAT + 2 * DOUBLE)
                 + positions * (channels + r) * (FLOAT + DOUBLE))
    design = int(params["nb_design"]) * (r + 2) * r * DOUBLE + design_memory(r, int(params["nb_design"]))
    head_batch = 64 * positions * (channels + r) * FLOAT  # _FAST_HEAD_BATCH maps rebuilt from concepts
    crops_through = engine_bytes(model, crops * n_images, mask_bytes=image_input_bytes(model))
    return n_images * per_image + crops_through + design + head_batch


@register(
    "craft",
    "image",
    "concepts",
    cost=_cost,
    defaults=dict(n_concepts=10, patch_size=64, layer=None, extractor="nmf", importance="sobol",
                  nb_design=32, ig_steps=32, seed=0, n_crops_shown=6),
    choices=dict(extractor=EXTRACTORS, importance=IMPORTANCES),
    many=True,
    # 64 concepts: more than anyone reads; patch_size is checked against the model's input too
    limits=dict(n_concepts=(1, 64), patch_size=(8, 1024), nb_design=(2, 1024), ig_steps=(1, 1024), seed=SEED,
                n_crops_shown=(1, 64)),
    memory=_memory,
)
def craft(model, images, target, *, n_concepts, patch_size, layer, extractor, importance, nb_design, ig_steps,
          seed, n_crops_shown):
    """CRAFT concepts of a class over a set of images (Fel et al. 2023): a concept bank, maps and importances."""
    patch = _check_patch(model.input_size, patch_size)
    split = ModelSplit(model, layer)
    timings = {}
    start = time.perf_counter()
    X = preprocessed(model, images)
    r = int(n_concepts)
    expect(len(images) * crops_per_image(model.input_size, patch) + len(images) * (1 + sum(head_passes(dict(
        n_concepts=r, importance=importance, nb_design=nb_design, ig_steps=ig_steps)))))
    A_crops, boxes = crop_activations(model, split, X, patch)
    activations, top1 = image_activations(model, split, X)
    index = Counter(top1.tolist()).most_common(1)[0][0] if target is None else int(target)
    timings["activations_s"] = time.perf_counter() - start

    start = time.perf_counter()
    U_crops, bank = fit_concepts(A_crops, r, extractor, seed)
    U = concept_coefficients(split, activations, bank)
    timings["factorise_s"] = time.perf_counter() - start

    start = time.perf_counter()
    head = ConceptHead(split, bank.W, index)
    local = concept_importance(head, U, importance, nb_design=int(nb_design), seed=int(seed), ig_steps=int(ig_steps))
    timings["importance_s"] = time.perf_counter() - start

    start = time.perf_counter()
    metrics = {
        "reconstruction_error": relative_reconstruction_error(A_crops, U_crops, bank.W),
        "sparsity": sparsity(U_crops),
        **lens_figures(head, U, local, seed),
    }
    timings["metrics_s"] = time.perf_counter() - start

    shown = min(int(n_crops_shown), len(boxes))
    best = np.argsort(-U_crops, axis=0, kind="stable")[:shown].T  # (r, shown) crop indices
    resized = [_resized_rgb(model, image) for image in images]
    side = min(patch, THUMBNAIL)

    def thumbnail(crop_index):
        k, top, left = boxes[crop_index]
        crop = Image.fromarray(resized[k][top : top + patch, left : left + patch])
        return np.asarray(crop.resize((side, side), Image.BICUBIC))

    spatial = split.activation_shape[1:] or (1, 1)
    maps = U.reshape(len(images), *spatial, r).transpose(0, 3, 1, 2)
    extras = {
        "importance_local": local.astype(np.float32),
        "concept_maps": np.ascontiguousarray(maps, dtype=np.float32),
        "concept_bank": bank.W,
        "concept_crops": np.stack([[thumbnail(c) for c in row] for row in best]).astype(np.uint8),
        "concept_crop_images": best_images(best, boxes),
        "predictions": [model.labels[int(t)] for t in top1],
        "metrics": metrics,
        "clusters": strategic_clusters(local, top1 == index),
        "layer": split.layer_name,
        "n_images": len(images),
        "n_crops": len(boxes),
        "n_head_passes": head.n_passes + len(images),  # and one per image for its prediction
        "timings": timings,
    }
    return np.asarray(local.mean(0), dtype=np.float32), index, {"extras": extras}


def preprocessed(model, images) -> torch.Tensor:
    """The images at the model's input size, one tensor (n, 3, H, W)."""
    return torch.cat([model.preprocess(image) for image in images])


def crop_activations(model, split: ModelSplit, X: torch.Tensor, patch: int) -> tuple[np.ndarray, list]:
    """CRAFT's step 2 on preprocessed images ``X``: every crop's spatially averaged activations at the split,
    A (crops × channels), and each crop's (image index in X, top, left). Images are independent: a dataset job
    computes this shard by shard and stacks the shards."""
    H, W_ = model.input_size
    boxes = [(k, top, left) for k in range(len(X)) for top in crop_origins(H, patch) for left in crop_origins(W_, patch)]

    def crop_batch(i, j):
        crops = torch.stack([X[k, :, top : top + patch, left : left + patch] for k, top, left in boxes[i:j]])
        return F.interpolate(crops, size=(H, W_), mode="bilinear", align_corners=False)

    def pooled(batch):
        a = split.g(batch)
        return a.mean(dim=(2, 3)) if a.ndim == 4 else a

    return batched_logits(model, len(boxes), crop_batch, forward=pooled).cpu().numpy(), boxes


def image_activations(model, split: ModelSplit, X: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The whole images' activations at the split and the model's top class of each (from h of them)."""
    activations = batched_logits(model, len(X), lambda i, j: X[i:j], forward=split.g)
    with torch.inference_mode():
        logits = split.h(activations)
    return activations, logits.argmax(1).cpu().numpy()


def concept_coefficients(split: ModelSplit, activations: torch.Tensor, bank) -> np.ndarray:
    """CRAFT's step 4: every spatial position of every image coded against the fixed bank, U (n, P, r)."""
    n, C = len(activations), split.channels
    positions = activations.reshape(n, C, -1).transpose(1, 2).cpu().numpy()  # (n, P, C)
    return bank.transform(positions.reshape(-1, C)).reshape(n, -1, bank.n_concepts)


def lens_figures(head: ConceptHead, U: np.ndarray, local: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The Lens figures of concept importances ``local`` (n, r) on images with coefficients U: C-Deletion,
    C-Insertion (means over the images) and C-µFidelity (a mean of per-image correlations)."""
    return {"c_deletion": c_deletion(head, U, local), "c_insertion": c_insertion(head, U, local),
            "c_mufidelity": c_mufidelity(head, U, local, seed=int(seed))}


def best_images(best: np.ndarray, boxes) -> np.ndarray:
    """Which image each gallery crop came from: (r, shown) image indices."""
    return np.array([[boxes[c][0] for c in row] for row in best], dtype=np.int64)
