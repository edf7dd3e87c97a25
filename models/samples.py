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


IMAGE_SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "chelsea (cat)": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "china.jpg": _sklearn("china.jpg"),
    "flower.jpg": _sklearn("flower.jpg"),
}


def sample_image(name: str) -> np.ndarray:
    """One bundled sample image as an H×W×3 uint8 array."""
    return IMAGE_SAMPLES[name]()
