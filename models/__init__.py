"""Model loading and adapters (no Streamlit here).

    from models import load_model, list_models
    m = load_model("efficientnet-lite0")                       # embedded, offline
    m = load_model("vit-digits")                               # embedded ViT, trained at first use
    m = load_model("timm:resnet18", weights="w.safetensors")   # a model the user brings
    m = load_model("torchvision:resnet18", weights="w.pth", labels="classes.txt")
    m = load_model("torchscript:model.pt")
    m = load_model("hf:path/to/save_pretrained_dir")          # or a hub id when online
    m = load_model("tabular:breast_cancer:random-forest")      # trained now on a bundled table
    m = load_model("skops:model.skops", data="iris", trusted=[...])  # after showing untrusted types
    m = load_model("tabular:breast_cancer:xgboost")            # also lightgbm, catboost
    m = load_model("xgboost:model.json", data=frame, target="y")  # a booster's native file (.ubj; .txt; .cbm)
    m.predict(image).top(5)

``MODEL_SOURCES`` describes each kind of source for a page to offer.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.adapters.image import ImageClassifier, Prediction
from models.adapters.base import ModelAdapter
from models.errors import ExplainerError, InputError, LumenError, ModelLoadError
from models.sources.labels import LABEL_FILE_TYPES
from models.sources.weights import WEIGHT_FILE_TYPES


def _efficientnet(device=None):
    from models.embedded.efficientnet import efficientnet_lite0

    return efficientnet_lite0(device=device)


def _vit_digits(device=None):
    from models.embedded.digits_vit import vit_digits

    return vit_digits(device=device)


def _minilm_sentiment(device=None):
    from models.embedded.minilm_sentiment import minilm_sentiment

    return minilm_sentiment(device=device)


def _smollm2(device=None):
    from models.sources.causal_lm import smollm2_135m

    return smollm2_135m(device=device)


_EMBEDDED = {
    "efficientnet-lite0": (_efficientnet, "image", "EfficientNet-Lite0, ImageNet (1000 classes), embedded"),
    "vit-digits": (
        _vit_digits,
        "image",
        "Tiny ViT on 8×8 handwritten digits (10 classes), embedded; trained at first use (~15 s), then cached",
    ),
    "minilm-sentiment": (
        _minilm_sentiment,
        "text",
        "all-MiniLM-L6-v2 + sentiment head (negative/positive), embedded; head trained at first use (~20 s), then cached",
    ),
    "smollm2-135m": (
        _smollm2,
        "generation",
        "SmolLM2-135M-Instruct causal LM, embedded; dequantised at first use (~15 s), then cached",
    ),
}


@dataclass(frozen=True)
class ModelSource:
    """One way to bring a model: ``load_model(prefix + name, weights=..., labels=...)``."""

    prefix: str  # "" for embedded ids
    title: str
    name_is: str  # what follows the prefix
    weight_types: tuple[str, ...]  # file types of ``weights=``; () when the source takes none
    description: str


MODEL_SOURCES: dict[str, ModelSource] = {
    "embedded": ModelSource(
        "", "Embedded", "a model id from list_models()", (), "Ships with Lumen and works offline."
    ),
    "timm": ModelSource(
        "timm:",
        "timm architecture + weights",
        "a timm architecture name (list_architectures('timm'))",
        WEIGHT_FILE_TYPES,
        "A state dict (.pth/.pt loaded without unpickling objects, or .safetensors) for a timm "
        "architecture; the number of classes is read from the weights.",
    ),
    "torchvision": ModelSource(
        "torchvision:",
        "torchvision architecture + weights",
        "a torchvision classification architecture (list_architectures('torchvision'))",
        WEIGHT_FILE_TYPES,
        "A state dict (.pth/.pt loaded without unpickling objects, or .safetensors) for a "
        "torchvision architecture; the number of classes is read from the weights.",
    ),
    "torchscript": ModelSource(
        "torchscript:",
        "TorchScript file",
        "the path of a file saved with torch.jit.save",
        (),
        "A scripted or traced model. ImageNet normalisation at 224 px unless set; layer-based "
        "methods (CAMs) do not apply, since TorchScript takes no hooks.",
    ),
    "hf": ModelSource(
        "hf:",
        "Hugging Face image classifier",
        "a local save_pretrained directory, or a hub id (online only)",
        (),
        "Any AutoModelForImageClassification; class names, size and normalisation come from its "
        "config and image processor.",
    ),
}


def list_models(modality: str | None = None) -> list[str]:
    """Ids of the embedded models, optionally of one modality."""
    return [name for name, (_, mod, _) in _EMBEDDED.items() if modality in (None, mod)]


def list_architectures(source: str) -> list[str]:
    """Architecture names a ``timm:`` or ``torchvision:`` source accepts."""
    if source == "timm":
        import timm

        return timm.list_models()
    if source == "torchvision":
        from torchvision import models as tvm

        return tvm.list_models(module=tvm)
    raise ModelLoadError(f"'{source}' has no list of architectures; only timm and torchvision do.")


def describe_model(name: str) -> str:
    return _EMBEDDED[name][2] if name in _EMBEDDED else name


def load_model(
    name: str,
    device=None,
    *,
    weights=None,
    labels=None,
    input_size=None,
    mean=None,
    std=None,
    trusted=None,
    data=None,
    target=None,
) -> ModelAdapter:
    """Load a model: an embedded id, or ``timm:``/``torchvision:``/``torchscript:``/``hf:`` + name.

    ``weights``: path of a state dict (timm, torchvision). ``labels``: path of a
    .txt (one name per line) or .json (list, or {index: name}) file, or a list
    of names; else names stored with the weights, ImageNet's for 1000 outputs,
    or "class i". ``input_size`` (int or (h, w)), ``mean``, ``std`` (RGB in
    [0, 1]) override the source's preprocessing.
    ``tabular:DATASET:KIND`` (KIND e.g. random-forest, xgboost, lightgbm, catboost), ``skops:PATH`` (with ``trusted``
    types and ``data``) and ``xgboost:PATH`` (.json/.ubj), ``lightgbm:PATH`` (.txt), ``catboost:PATH`` (.cbm) (with
    ``data``: a bundled dataset name or a DataFrame, its target named by ``target`` or last) give a ``TabularModel``
    (models/adapters/tabular.py, models/sources/boosters.py). Text and generation ids give a ``TextClassifier`` or a
    ``CausalLM``; every one is a ``ModelAdapter`` (models/adapters/base.py).
    """
    if name.startswith(("tabular:", "skops:", "xgboost:", "lightgbm:", "catboost:")):
        from models.adapters.tabular import load_tabular

        return load_tabular(name, trusted=trusted, data=data, target=target)
    if name in _EMBEDDED:
        if any(v is not None for v in (weights, labels, input_size, mean, std)):
            raise ModelLoadError(f"'{name}' is embedded: it takes no weights, labels or preprocessing settings.")
        return _EMBEDDED[name][0](device=device)
    source, _, rest = name.partition(":")
    options = dict(labels=labels, device=device, input_size=input_size, mean=mean, std=std)
    if source in ("timm", "torchvision") and rest:
        from models.sources.image_files import timm_model, torchvision_model

        return (timm_model if source == "timm" else torchvision_model)(rest, weights, **options)
    if weights is not None and source in ("torchscript", "hf"):
        raise ModelLoadError(f"A {source}: model carries its own weights; give no separate weights file.")
    if source == "torchscript" and rest:
        from models.sources.image_files import torchscript_model

        return torchscript_model(rest, **options)
    if source == "hf" and rest:
        from models.sources.hf_image import hf_any

        return hf_any(rest, **options)
    raise ModelLoadError(
        f"Unknown model '{name}'. Embedded: {', '.join(_EMBEDDED)}; or bring one as "
        + ", ".join(f"{s.prefix}NAME" for s in MODEL_SOURCES.values() if s.prefix)
        + "."
    )


__all__ = [
    "ExplainerError",
    "ImageClassifier",
    "InputError",
    "LABEL_FILE_TYPES",
    "LumenError",
    "ModelAdapter",
    "MODEL_SOURCES",
    "ModelLoadError",
    "ModelSource",
    "Prediction",
    "WEIGHT_FILE_TYPES",
    "describe_model",
    "list_architectures",
    "list_models",
    "load_model",
]
