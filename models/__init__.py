"""Model loading and adapters (no Streamlit here).

    from models import load_model, list_models
    m = load_model("efficientnet-lite0")
    m.predict(image).top(5)
"""

from __future__ import annotations

from models.adapter import ImageClassifier, Prediction
from models.embedded import efficientnet_lite0
from models.errors import ExplainerError, InputError, LumenError, ModelLoadError

_EMBEDDED = {
    "efficientnet-lite0": (efficientnet_lite0, "image", "EfficientNet-Lite0, ImageNet (1000 classes), embedded"),
}


def list_models(modality: str | None = None) -> list[str]:
    """Ids of the embedded models, optionally of one modality."""
    return [name for name, (_, mod, _) in _EMBEDDED.items() if modality in (None, mod)]


def describe_model(name: str) -> str:
    return _EMBEDDED[name][2] if name in _EMBEDDED else name


def load_model(name: str, device=None) -> ImageClassifier:
    """Load a model by id. Embedded ids load offline from installed wheels."""
    if name not in _EMBEDDED:
        raise ModelLoadError(f"Unknown model '{name}'. Available: {', '.join(_EMBEDDED)}.")
    loader = _EMBEDDED[name][0]
    return loader(device=device)


__all__ = [
    "ExplainerError",
    "ImageClassifier",
    "InputError",
    "LumenError",
    "ModelLoadError",
    "Prediction",
    "describe_model",
    "list_models",
    "load_model",
]
