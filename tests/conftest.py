"""Shared fixtures: each embedded model is loaded once per test session."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.samples import sample_image


@pytest.fixture(scope="session")
def cnn():
    from models import load_model

    return load_model("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="session")
def vit():
    """The embedded digits ViT: trained on first use (seconds), then read from the cache."""
    from models import load_model

    return load_model("vit-digits", device="cpu")


@pytest.fixture(scope="session")
def smollm():
    """The embedded causal LM: dequantised from its GGUF on first use (~20 s), then read from the cache (~1 s)."""
    from models import load_model

    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return sample_image("chelsea (cat)")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return sample_image("coffee")


def encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save_args)
    return buf.getvalue()


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def minilm():
    """The embedded sentiment classifier: its head trained on first use (~20 s), then read from the cache."""
    from models import load_model

    return load_model("minilm-sentiment", device="cpu")
