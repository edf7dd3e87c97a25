"""Bundled sample inputs: all ship inside installed packages, nothing is downloaded."""

from __future__ import annotations

from typing import Callable

import numpy as np


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _digit(label: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from models.embedded.digits_vit import digit_images

        images, labels = digit_images("test")
        return images[int(np.flatnonzero(labels == label)[0])]  # 8×8, as the model saw in training

    return load


IMAGE_SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "chelsea (cat)": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "china.jpg": _sklearn("china.jpg"),
    "flower.jpg": _sklearn("flower.jpg"),
    "digit 3 (for vit-digits)": _digit(3),
    "digit 7 (for vit-digits)": _digit(7),
}


def sample_image(name: str) -> np.ndarray:
    """One bundled sample image as an H×W×3 uint8 array."""
    return IMAGE_SAMPLES[name]()


def sample_views(name: str, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` views of one sample (random crops of 60–95 % of each side, some mirrored), seeded.

    No wheel ships several photos of one ImageNet class, and concept extraction needs
    a set of images of one class: views of one photo are the honest stand-in (the
    concepts found are then the parts of that photo).
    """
    image = sample_image(name)
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    views = []
    for _ in range(int(n)):
        ch, cw = int(h * rng.uniform(0.6, 0.95)), int(w * rng.uniform(0.6, 0.95))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        view = image[top : top + ch, left : left + cw]
        views.append(np.ascontiguousarray(view[:, ::-1] if rng.random() < 0.5 else view))
    return views
