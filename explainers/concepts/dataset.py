"""CRAFT over a dataset: the images of one class in shards, the concept bank fitted once.

``craft`` (explainers/concepts/craft.py) holds every image in one process. For hundreds of images this module runs
the same steps with the images in shards, the shards wherever ``run_shards`` sends them (Ray actors in a dataset
job, a plain loop here and in tests):

1. per shard (``shard_crops``): the crops' pooled activations and each image's top class;
2. on the driver: the class (the most frequent top class unless given) and one factorisation of every crop's
   activations into the concept bank (``fit_concepts``);
3. per shard (``shard_concepts``): each image's concept coefficients against the bank, its concept importances and
   maps, and the Lens figures of the shard;
4. on the driver: the mean importance, the figures weighted by each shard's images, the gallery of the crops where
   each concept is strongest (only the images those crops come from are read again).

With the same images in the same order, the result equals ``explain(model, images, method="craft")``: the crops are
stacked in the same order before the one factorisation, and each image's importances depend on that image only.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from explainers.concepts.craft import (
    THUMBNAIL, _check_patch, _resized_rgb, best_images, concept_coefficients, crop_activations, image_activations,
    lens_figures, preprocessed,
)
from explainers.concepts.extractors import fit_concepts
from explainers.concepts.importance import ConceptHead, concept_importance
from explainers.concepts.model_split import ModelSplit
from explainers.core.explanation import Explanation
from explainers.core.registry import get_method
from explainers.metrics.concepts import relative_reconstruction_error, sparsity, strategic_clusters
from models.errors import ExplainerError
from models.locks import counting

# run_shards(fn, shards, **kwargs) -> [fn(model, images of shard, **kwargs) for each shard], in order
RunShards = Callable[..., list]


def shard_crops(model, images: Sequence[np.ndarray], *, patch_size: int, layer: str | None) -> dict[str, Any]:
    """Step 1 on one shard: its crops' pooled activations (crops × channels), each crop's (image in the shard, top,
    left), each image's top class, and the passes made."""
    with counting() as count:
        split = ModelSplit(model, layer)
        X = preprocessed(model, images)
        A_crops, boxes = crop_activations(model, split, X, _check_patch(model.input_size, patch_size))
        _, top1 = image_activations(model, split, X)
    return {"A_crops": A_crops, "boxes": boxes, "top1": top1, "n_forward": count.n_forward,
            "n_backward": count.n_backward}


def shard_concepts(model, images: Sequence[np.ndarray], *, bank, target: int, layer: str | None, importance: str,
                   nb_design: int, ig_steps: int, seed: int) -> dict[str, Any]:
    """Step 3 on one shard: each image's concept importances (n, r) and maps (n, r, h, w), the shard's Lens figures,
    and the passes made (through g for the coefficients, through h for the importances and figures)."""
    with counting() as count:
        split = ModelSplit(model, layer)
        activations, _ = image_activations(model, split, preprocessed(model, images))
        U = concept_coefficients(split, activations, bank)
        head = ConceptHead(split, bank.W, target)
        local = concept_importance(head, U, importance, nb_design=int(nb_design), seed=int(seed),
                                   ig_steps=int(ig_steps))
        figures = lens_figures(head, U, local, seed)
    spatial = split.activation_shape[1:] or (1, 1)
    maps = U.reshape(len(images), *spatial, bank.n_concepts).transpose(0, 3, 1, 2)
    return {"local": local.astype(np.float32), "maps": np.ascontiguousarray(maps, dtype=np.float32),
            "figures": figures, "n_images": len(images), "n_head_passes": head.n_passes,
            "n_forward": count.n_forward, "n_backward": count.n_backward, "layer": split.layer_name}


def local_shards(model, load: Callable[[Any], list[np.ndarray]]) -> RunShards:
    """``run_shards`` in this process: each shard's images read by ``load(shard)``."""
    def run(fn, shards, **kwargs):
        return [fn(model, load(shard), **kwargs) for shard in shards]
    return run


def _weighted(parts: list[dict], key: str) -> dict[str, float]:
    """Each Lens figure over all images: a mean of the shards' means weighted by their images (NaN shards left out)."""
    out = {}
    for name in parts[0][key]:
        values = [(p[key][name], p["n_images"]) for p in parts if np.isfinite(p[key][name])]
        out[name] = float(sum(v * n for v, n in values) / sum(n for _, n in values)) if values else float("nan")
    return out


def craft_dataset(model, shards: Sequence[Any], load: Callable[[Any], list[np.ndarray]], run_shards: RunShards | None =
                  None, *, target=None, progress: Callable[[str], None] | None = None, **params) -> Explanation:
    """CRAFT on the images of ``shards`` (each shard: what ``load(shard)`` turns into a list of RGB images, e.g. a
    list of file paths), steps 1 and 3 through ``run_shards`` (default: this process), as an ``Explanation`` of
    method "craft" like ``explain`` gives. ``progress(sentence)`` is told each step as it starts."""
    spec = get_method("craft", "image")
    params = spec.resolve_params(params)
    run_shards = run_shards or local_shards(model, load)
    say = progress or (lambda _sentence: None)
    if not shards:
        raise ExplainerError("CRAFT needs at least one image; the dataset is empty.")
    patch = _check_patch(model.input_size, params["patch_size"])
    timings = {}
    start = time.perf_counter()

    say(f"Cutting the images of {len(shards)} shards into crops and reading their activations")
    crops = run_shards(shard_crops, list(shards), patch_size=patch, layer=params["layer"])
    offsets = np.cumsum([0] + [len(c["top1"]) for c in crops])
    boxes = [(int(offsets[s]) + k, top, left) for s, c in enumerate(crops) for k, top, left in c["boxes"]]
    top1 = np.concatenate([c["top1"] for c in crops])
    index = Counter(top1.tolist()).most_common(1)[0][0] if target is None else model.class_index(target)
    A_crops = np.concatenate([c["A_crops"] for c in crops])
    timings["activations_s"] = time.perf_counter() - start

    start = time.perf_counter()
    say(f"Factorising {len(A_crops)} crops into {params['n_concepts']} concepts")
    U_crops, bank = fit_concepts(A_crops, int(params["n_concepts"]), params["extractor"], int(params["seed"]))
    timings["factorise_s"] = time.perf_counter() - start

    start = time.perf_counter()
    say("Measuring each concept's importance in every image")
    parts = run_shards(shard_concepts, list(shards), bank=bank, target=int(index), layer=params["layer"],
                       importance=params["importance"], nb_design=params["nb_design"], ig_steps=params["ig_steps"],
                       seed=params["seed"])
    local = np.concatenate([p["local"] for p in parts])
    timings["importance_s"] = time.perf_counter() - start

    shown = min(int(params["n_crops_shown"]), len(boxes))
    best = np.argsort(-U_crops, axis=0, kind="stable")[:shown].T  # (r, shown) crop indices
    wanted = sorted({boxes[c][0] for c in best.ravel()})
    resized = _images_at(model, shards, offsets, load, wanted)
    side = min(patch, THUMBNAIL)

    def thumbnail(crop_index):
        k, top, left = boxes[crop_index]
        return np.asarray(Image.fromarray(resized[k][top : top + patch, left : left + patch]).resize(
            (side, side), Image.BICUBIC))

    n_forward = sum(c["n_forward"] for c in crops) + sum(p["n_forward"] for p in parts)
    n_backward = sum(c["n_backward"] for c in crops) + sum(p["n_backward"] for p in parts)
    extras = {
        "importance_local": local,
        "concept_maps": np.concatenate([p["maps"] for p in parts]),
        "concept_bank": bank.W,
        "concept_crops": np.stack([[thumbnail(c) for c in row] for row in best]).astype(np.uint8),
        "concept_crop_images": best_images(best, boxes),
        "predictions": [model.labels[int(t)] for t in top1],
        "metrics": {"reconstruction_error": relative_reconstruction_error(A_crops, U_crops, bank.W),
                    "sparsity": sparsity(U_crops), **_weighted(parts, "figures")},
        "clusters": strategic_clusters(local, top1 == index),
        "layer": parts[0]["layer"],
        "n_images": len(top1),
        "n_crops": len(boxes),
        "n_head_passes": sum(p["n_head_passes"] for p in parts) + len(top1),
        "n_shards": len(shards),
        "timings": timings,
    }
    return Explanation(scores=np.asarray(local.mean(0), dtype=np.float32), method="craft", modality=model.modality,
                       model=model.name, target=int(index), target_label=model.labels[int(index)], params=params,
                       device=str(model.device), runtime_s=float(sum(timings.values())), n_forward=int(n_forward),
                       n_backward=int(n_backward), signed=spec.signed, extras=extras)


def _images_at(model, shards, offsets, load, wanted: list[int]) -> dict[int, np.ndarray]:
    """The images at global positions ``wanted``, at the model's input size (their shards read again, here)."""
    out = {}
    for s, shard in enumerate(shards):
        here = [k for k in wanted if offsets[s] <= k < offsets[s + 1]]
        if here:
            images = load(shard)
            out.update({k: _resized_rgb(model, images[k - int(offsets[s])]) for k in here})
    return out
