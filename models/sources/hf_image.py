"""Hugging Face image classifiers: a local ``save_pretrained`` directory, or a hub id when online.

Offline (no network, or ``HF_HUB_OFFLINE=1``) a hub id fails at once with a
sentence, never after a network timeout. Remote code is never trusted.
"""

from __future__ import annotations

import os
import re
import socket
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from models.adapters.image import ImageClassifier
from models.errors import ModelLoadError, reason
from models.sources.labels import from_metadata
from models.inputs.limits import check_size
from models.sources.image_files import IMAGENET_MEAN, IMAGENET_STD, classifier
from models.adapters.vit import hf_transformer_defaults

_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


class LogitsOnly(nn.Module):
    """A transformers model called like a torch classifier: pixels in, logits out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def hub_offline(timeout: float = 2.0) -> bool:
    """True when offline mode is set or the hub's address does not answer within ``timeout`` seconds."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    if constants.HF_HUB_OFFLINE or any(str(f).strip().lower() in ("1", "true", "yes", "on") for f in flags):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return False
    except OSError:
        return True


def _offline_error(name: str) -> ModelLoadError:
    return ModelLoadError(
        f"'{name}' is not a local directory, and the Hugging Face hub cannot be reached (offline) "
        "to download it. Use a local directory instead: one saved with save_pretrained "
        "(config.json, the weights and preprocessor_config.json)."
    )


def _preprocessing(processor, config) -> tuple[tuple[int, int], tuple, tuple]:
    """Input size, mean and std equivalent to the processor's resize/crop, rescale and normalise.

    The processor computes ``(x255 * factor - mean) / std``; with x01 = x255 / 255 that is
    ``(x01 - mean / g) / (std / g)`` where g = 255 * factor.
    """
    if processor is None:  # no preprocessor_config.json: the config's size and ImageNet statistics
        size = getattr(config, "image_size", 224)
        size = (size, size) if isinstance(size, int) else tuple(size)
        return size, IMAGENET_MEAN, IMAGENET_STD
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    sizes = crop or processor.size
    if sizes.get("height") and sizes.get("width"):
        size = (int(sizes.get("height")), int(sizes.get("width")))
    else:
        edge = sizes.get("shortest_edge") or sizes.get("longest_edge") or 224
        size = (int(edge), int(edge))
    if not getattr(processor, "do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    else:
        mean, std = processor.image_mean, processor.image_std
        mean = (mean,) * 3 if isinstance(mean, (int, float)) else tuple(mean)
        std = (std,) * 3 if isinstance(std, (int, float)) else tuple(std)
    g = 255.0 * (getattr(processor, "rescale_factor", 1 / 255) if getattr(processor, "do_rescale", True) else 1.0)
    return size, tuple(m / g for m in mean), tuple(s / g for s in std)


def resolve_source(source: str) -> tuple[str, str, bool]:
    """(reference for from_pretrained, name to show, is local) of a directory or hub id, or a sentence.

    A local directory must hold config.json; a hub id offline fails at once.
    """
    path = Path(source).expanduser()
    local = path.is_dir()
    if not local and (path.exists() or not _HUB_ID.fullmatch(source) or source.startswith(".")):
        raise ModelLoadError(f"'{source}' is neither a Hugging Face model directory nor a hub id.")
    if not local and hub_offline():
        raise _offline_error(source)
    ref, shown = (str(path), path.name) if local else (source, source)
    if local and not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{shown} is not a Hugging Face model directory: it has no config.json (save one with save_pretrained)."
        )
    if local:
        check_size(path)
    return ref, shown, local


# Which loader takes a model, by the suffix of the architecture named in its config.json:
# (suffix, "module:function"); the function takes (source, **options) like hf_model.
HF_ROUTES: list[tuple[str, str]] = [
    ("ForSequenceClassification", "models.sources.hf_text:hf_text_classifier"),
    ("ForCausalLM", "models.sources.causal_lm:hf_causal_lm"),
]


def hf_any(source: str, **options):
    """Route a Hugging Face model to the loader of its task (image, text classifier, causal LM)."""
    ref, shown, local = resolve_source(source)
    architectures = []
    if local:
        import json

        try:
            architectures = json.loads((Path(ref) / "config.json").read_text()).get("architectures") or []
        except (OSError, ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
            raise ModelLoadError(f"The config.json of {shown} is not valid JSON.") from None
        architectures = [architectures] if isinstance(architectures, str) else architectures
        if not isinstance(architectures, list):
            raise ModelLoadError(f"The config.json of {shown} names its architectures wrongly (not a list).")
    else:
        from transformers import AutoConfig

        try:
            architectures = AutoConfig.from_pretrained(ref, trust_remote_code=False).architectures or []
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"Could not get '{source}' from the Hugging Face hub: {str(e).splitlines()[0][:200]}") from None
    for suffix, target in HF_ROUTES:
        if any(str(a).endswith(suffix) for a in architectures):
            import importlib

            module, _, function = target.partition(":")
            return getattr(importlib.import_module(module), function)(source, **options)
    return hf_model(source, **options)


def hf_model(source: str, labels=None, device=None, input_size=None, mean=None, std=None) -> ImageClassifier:
    """``AutoModelForImageClassification`` + ``AutoImageProcessor`` from a directory or hub id.

    Labels: the config's ``id2label`` (unless only placeholders), else as
    models/sources/labels.py decides. Size and normalisation: the processor's.
    """
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    ref, shown, local = resolve_source(source)
    if local:
        refuse_pickled_only(Path(ref))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModelForImageClassification.from_pretrained(
                ref, local_files_only=local, trust_remote_code=False, use_safetensors=True
            )
    except OSError as e:
        if local:
            raise ModelLoadError(
                f"{shown} is not a complete Hugging Face model directory: it needs config.json and "
                f"the weights saved by save_pretrained ({reason(e)})."
            ) from None
        raise ModelLoadError(f"Could not get '{source}' from the Hugging Face hub ({reason(e)}).") from None
    except ValueError as e:
        raise ModelLoadError(f"'{shown}' is not an image-classification model ({reason(e)}).") from None
    except Exception as e:  # noqa: BLE001 - a damaged config or weights file fails in many ways
        raise ModelLoadError(f"{shown} could not be loaded: a file in it is damaged or invalid ({reason(e)}).") from None
    try:
        processor = AutoImageProcessor.from_pretrained(ref, local_files_only=local)
    except Exception as e:  # noqa: BLE001
        if local and (Path(ref) / "preprocessor_config.json").is_file():
            raise ModelLoadError(f"The preprocessor_config.json of {shown} is damaged ({reason(e)}).") from None
        processor = None  # none saved: the config's size and ImageNet statistics
    try:
        size, p_mean, p_std = _preprocessing(processor, model.config)
    except Exception as e:  # noqa: BLE001 - sizes or statistics of the wrong type or length
        raise ModelLoadError(f"The preprocessing settings of {shown} are invalid ({reason(e)}).") from None
    defaults = hf_transformer_defaults(model)
    return classifier(
        f"hf:{shown}",
        LogitsOnly(model),
        input_size=input_size or size,
        mean=mean or p_mean,
        std=std or p_std,
        labels=labels,
        stored_labels=from_metadata({"id2label": model.config.id2label}),
        device=device,
        target_layer=f"model.{defaults.target_layer}" if defaults else None,
        layout=defaults.layout if defaults else None,
    )


_GIB = 1024**3


def load_model_and_tokenizer(auto_class, ref: str, shown: str, local: bool, what: str, **kwargs):
    """(module, tokenizer) through ``auto_class.from_pretrained``: safetensors only, no remote code;
    the free memory checked first for a local directory; any failure becomes one ``ModelLoadError``."""
    from transformers import AutoTokenizer

    if local:
        check_fits_memory(weights_size(Path(ref)), shown)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = auto_class.from_pretrained(
                ref, local_files_only=local, trust_remote_code=False, use_safetensors=True, **kwargs
            )
            tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=local, trust_remote_code=False)
    except Exception as e:  # noqa: BLE001 - missing, damaged or invalid files fail in many ways
        raise ModelLoadError(
            f"{shown} could not be loaded as {what}: it needs valid config.json, model.safetensors and "
            f"tokenizer files ({reason(e)})."
        ) from None
    return module, tokenizer


def refuse_pickled_only(directory: Path) -> None:
    """A ``ModelLoadError`` when ``directory`` has pickled weights (pytorch_model.bin...) and no safetensors."""
    if any(directory.glob("*.safetensors")):
        return
    pickled = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt*")]
    if pickled:
        raise ModelLoadError(
            f"{directory.name} holds only pickled weights ({', '.join(sorted(pickled))}); Lumen loads "
            "safetensors only, since unpickling can run arbitrary code. Convert with "
            "model.save_pretrained(dir, safe_serialization=True)."
        )


def weights_size(directory: Path) -> int:
    """Bytes of the safetensors weights in ``directory``, or a ``ModelLoadError`` saying why there are none."""
    refuse_pickled_only(directory)
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"{directory.name} has no model.safetensors: save the model with save_pretrained.")
    return sum(p.stat().st_size for p in files)


def _size(n: int) -> str:
    return f"{n / _GIB:.2f} GiB" if n >= _GIB else f"{n / 1024**2:.1f} MiB"


def check_fits_memory(size: int, shown: str) -> None:
    import psutil

    free = psutil.virtual_memory().available
    if size > free:
        raise ModelLoadError(
            f"{shown} needs {_size(size)} for its weights but only {_size(free)} of memory is free."
        )
