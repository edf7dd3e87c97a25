"""Tiny hand-made image classifiers whose right answers are known by construction."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.adapters.image import ImageClassifier


class SmallCNN(nn.Module):
    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, n_classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class HeadedCNN(SmallCNN):
    """SmallCNN split the way timm models are: ``forward_head(forward_features(x))``, a linear head on
    pooled ReLUs; the feature map is the input's size / 8 (4×4 at 32 px)."""

    def __init__(self, n_classes: int = 5, channels: int = 8):
        nn.Module.__init__(self)
        self.features = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.AvgPool2d(8))
        self.head = nn.Linear(channels, n_classes)

    def forward_features(self, x):
        return self.features(x)

    def forward_head(self, features):
        return self.head(features.mean(dim=(2, 3)))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class RegionScore(nn.Module):
    """Class 0's logit is ``scale`` × the sum of the input over ``region`` (rows, cols) - ``offset``
    (squared if ``square``); class 1's is 0. Nothing outside the region can change the output."""

    def __init__(self, region: tuple[slice, slice], scale: float = 0.01, square: bool = False, offset: float = 0.0):
        super().__init__()
        self.features = nn.Identity()  # a spatial layer, so the adapter finds a target layer
        self.region, self.scale, self.square, self.offset = region, scale, square, offset

    def forward(self, x):
        part = self.features(x)[:, :, self.region[0], self.region[1]]
        score = part.sum(dim=(1, 2, 3)) * self.scale - self.offset
        if self.square:
            score = score**2
        return torch.stack([score, torch.zeros_like(score)], dim=1)


class CellScores(nn.Module):
    """Class 0's logit is Σ_c weight_c × mean of the input over cell c of a ``grid`` × ``grid`` partition."""

    def __init__(self, weights: np.ndarray):
        super().__init__()
        self.features = nn.Identity()
        self.weights = torch.as_tensor(weights, dtype=torch.float32)

    def forward(self, x):
        g = self.weights.shape[0]
        cells = nn.functional.adaptive_avg_pool2d(self.features(x).mean(dim=1, keepdim=True), g)[:, 0]
        score = (cells * self.weights).sum(dim=(1, 2))
        return torch.stack([score, torch.zeros_like(score)], dim=1)


class OutOfMemoryAbove(nn.Module):
    """Wraps a module; batches larger than ``limit`` raise ``error`` as a GPU (or CPU) out of memory would."""

    def __init__(self, inner: nn.Module, limit: int, error: Exception):
        super().__init__()
        self.inner, self.limit, self.error = inner, limit, error
        self.features = inner.features
        self.sizes: list[int] = []

    def forward(self, x):
        self.sizes.append(int(x.shape[0]))
        if x.shape[0] > self.limit:
            raise self.error
        return self.inner(x)


def classifier(module: nn.Module, size: int = 32, n_classes: int | None = None) -> ImageClassifier:
    """An adapter with identity normalisation (inputs are the image scaled to [0, 1])."""
    n = n_classes or 2
    return ImageClassifier("tiny", module, [f"class {i}" for i in range(n)], input_size=(size, size), device="cpu")


def small_cnn(size: int = 16, n_classes: int = 5) -> ImageClassifier:
    torch.manual_seed(0)
    return classifier(SmallCNN(n_classes), size, n_classes)


def random_image(size: int, seed: int = 0, low: int = 40, high: int = 220) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=(size, size, 3), dtype=np.uint8)
