"""The embedded ViT: a tiny timm VisionTransformer trained at first use on sklearn's digits.

No ImageNet ViT ships in any wheel, so this one exists to run every ViT code
path (tokens to grid, CAMs) offline. The 8×8 digits are upscaled to 16×16 by
the adapter's own preprocessing, cut into 4×4 patches (a 4×4 token grid plus
the class token). Training is seeded and single-threaded (deterministic, and
faster than two threads for a model this small); the weights are cached as
safetensors under ``models.cache.cache_dir()``, keyed by the recipe.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from models.adapters.image import ImageClassifier
from models.cache import cache_dir, recipe_key
from models.preparing import step
from models.seeding import seeded

LABELS = [str(i) for i in range(10)]

RECIPE = {
    "model": "timm VisionTransformer",
    "img_size": 16,
    "patch_size": 4,
    "embed_dim": 64,
    "depth": 3,
    "num_heads": 4,
    "mlp_ratio": 2.0,
    "mean": 0.5,
    "std": 0.5,
    "test_size": 0.25,
    "epochs": 15,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 0.05,
    "label_smoothing": 0.1,
    "seed": 0,
}


def digit_images(split: str = "test", recipe: dict = RECIPE) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8×8 digits as (n, 8, 8, 3) uint8 RGB images (white on black) and their labels 0-9.

    ``split``: "train" or "test" (held out: a stratified, seeded fraction ``test_size``), or "all".
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.repeat(np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None], 3, axis=-1)
    if split == "all":
        return images, digits.target
    train, test = train_test_split(
        np.arange(len(images)), test_size=recipe["test_size"], random_state=0, stratify=digits.target
    )
    rows = {"train": train, "test": test}[split]
    return images[rows], digits.target[rows]


def _build(recipe: dict) -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=recipe["img_size"],
        patch_size=recipe["patch_size"],
        embed_dim=recipe["embed_dim"],
        depth=recipe["depth"],
        num_heads=recipe["num_heads"],
        mlp_ratio=recipe["mlp_ratio"],
        num_classes=len(LABELS),
    )


def _classifier(module: nn.Module, recipe: dict, device=None) -> ImageClassifier:
    size = recipe["img_size"]
    return ImageClassifier(
        name="vit-digits",
        module=module,
        labels=LABELS,
        input_size=(size, size),
        mean=(recipe["mean"],) * 3,
        std=(recipe["std"],) * 3,
        device=device,
    )


def _batch(model: ImageClassifier, images: np.ndarray) -> torch.Tensor:
    return torch.cat([model.preprocess(image) for image in images])


def held_out_accuracy(model: ImageClassifier, recipe: dict = RECIPE) -> float:
    """Top-1 accuracy on the held-out digits, through the adapter's preprocessing."""
    images, labels = digit_images("test", recipe)
    with torch.inference_mode():
        predicted = model.forward(_batch(model, images)).argmax(1).cpu().numpy()
    return float((predicted == labels).mean())


def train(recipe: dict = RECIPE) -> dict[str, torch.Tensor]:
    """Train the ViT from a seeded initialisation (AdamW, one-cycle schedule); its state dict."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with seeded(recipe["seed"], numpy=False):
            model = _classifier(_build(recipe), recipe, device="cpu")
            images, labels = digit_images("train", recipe)
            x, y = _batch(model, images), torch.as_tensor(labels)
            module = model.module.train()
            bs = recipe["batch_size"]
            steps_per_epoch = len(x) // bs
            opt = torch.optim.AdamW(module.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                opt, recipe["lr"], total_steps=recipe["epochs"] * steps_per_epoch, pct_start=0.15
            )
            order = torch.Generator().manual_seed(recipe["seed"])
            for epoch in range(recipe["epochs"]):
                step(1, 2, f"training the digits ViT, epoch {epoch + 1} of {recipe['epochs']} (the slow step)",
                     epoch / recipe["epochs"])
                perm = torch.randperm(len(x), generator=order)
                for i in range(steps_per_epoch):
                    rows = perm[i * bs : (i + 1) * bs]
                    loss = nn.functional.cross_entropy(module(x[rows]), y[rows], label_smoothing=recipe["label_smoothing"])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    schedule.step()
            return {k: v.detach().clone() for k, v in module.eval().state_dict().items()}
    finally:
        torch.set_num_threads(threads)


def cache_path(recipe: dict = RECIPE):
    return cache_dir() / f"vit-digits-{recipe_key(recipe)}.safetensors"


def vit_digits(device=None, recipe: dict = RECIPE) -> ImageClassifier:
    """The digits ViT: from the cache when trained before with this recipe, else trained now and cached."""
    from safetensors.torch import load_file, save_file

    path = cache_path(recipe)
    state = None
    if path.is_file():
        try:
            state = load_file(str(path))
        except Exception:  # a damaged cache file: train again
            state = None
    if state is None:
        state = train(recipe)
        step(2, 2, "writing the weights to Lumen's cache")
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            save_file(state, str(tmp), metadata={"labels": json.dumps(LABELS), "recipe": json.dumps(recipe)})
            os.replace(tmp, path)
        except OSError:  # an unwritable cache: keep the model for this session only
            tmp.unlink(missing_ok=True)
    with seeded(0, numpy=False):  # building draws random init weights: leave the caller's RNG alone
        module = _build(recipe)
    module.load_state_dict(state)
    return _classifier(module, recipe, device)
