"""Models someone brings: a timm or torchvision architecture with a weights file, or a TorchScript file.

Architectures are built with random weights (never downloaded) and the
uploaded state dict is loaded into them; the number of classes is read from
the weights' head. Every failure is a ``ModelLoadError`` sentence.
"""

from __future__ import annotations

import difflib
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from models.adapters.image import ImageClassifier
from models.errors import ModelLoadError
from models.sources.labels import parse_labels, resolve_labels
from models.inputs.limits import check_size
from models.sources.torchscript_guard import archive_refusal, first_forward, refusal
from models.adapters.vit import TokenLayout
from models.sources.weights import fit, head_outputs, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _size(value) -> tuple[int, int] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, (int, float)) else list(value)[-2:]  # 224, [224], (3, h, w)
    return (int(values[0]), int(values[-1]))


def _unknown(kind: str, name: str, known: list[str]) -> ModelLoadError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ModelLoadError(f"{kind} has no architecture named '{name}'.{hint}")


def _outputs(module: nn.Module, input_size: tuple[int, int], name: str) -> int:
    """Number of class scores, from one forward pass on a blank image (also proves the model runs)."""
    try:
        with torch.inference_mode():
            out = module(torch.zeros(1, 3, *input_size))
    except Exception as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ModelLoadError(
            f"{name} fails on a 1×3×{input_size[0]}×{input_size[1]} image ({e.__class__.__name__}: {first})."
        ) from None
    return _class_count(tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__, name)


def _class_count(shape, name: str) -> int:
    """The number of class scores in an output of ``shape`` (a tuple, or the name of what came instead)."""
    if not isinstance(shape, tuple) or len(shape) != 2 or shape[0] != 1:
        raise ModelLoadError(f"{name} gives {shape} for one image, not a row of class scores.")
    return int(shape[1])


def classifier(
    name: str,
    module: nn.Module,
    *,
    input_size,
    mean,
    std,
    labels=None,
    stored_labels: list[str] | None = None,
    device=None,
    target_layer: str | None = None,
    layout: TokenLayout | None = None,
    outputs: int | None = None,
) -> ImageClassifier:
    """The adapter for a loaded module: count its outputs (unless ``outputs`` gives them) and name them
    (models/sources/labels.py)."""
    module = module.eval()
    size = _size(input_size)
    n = outputs if outputs is not None else _outputs(module, size, name)
    return ImageClassifier(
        name=name,
        module=module,
        labels=resolve_labels(n, labels, stored_labels),
        input_size=size,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        target_layer=target_layer,
        device=device,
        layout=layout,
    )


def _require(weights, source: str):
    if weights is None:
        raise ModelLoadError(
            f"A {source} architecture needs a weights file (.pth, .pt or .safetensors); "
            "Lumen downloads no weights."
        )
    return read_state_dict(weights)


def timm_model(arch: str, weights, labels=None, device=None, input_size=None, mean=None, std=None) -> ImageClassifier:
    """A timm architecture (pretrained=False) with an uploaded state dict.

    Normalisation and input size come from the architecture's pretrained
    config (``timm.data.resolve_model_data_config``) unless given.
    """
    import timm
    from timm.data import resolve_model_data_config

    if not timm.is_model(arch):
        raise _unknown("timm", arch, timm.list_models())
    state, stored = _require(weights, "timm")
    module = timm.create_model(arch, pretrained=False)
    heads = module.pretrained_cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    n = next((k for k in (head_outputs(state, h) for h in heads) if k is not None), None)
    if n is not None and n != module.num_classes:
        module.reset_classifier(n)
    fit(module, state, f"timm '{arch}'")
    cfg = resolve_model_data_config(module)
    return classifier(
        f"timm:{arch}",
        module,
        input_size=input_size or cfg["input_size"],
        mean=mean or cfg["mean"],
        std=std or cfg["std"],
        labels=labels,
        stored_labels=stored,
        device=device,
    )


def _torchvision_head(module: nn.Module, n_classes: int) -> str | None:
    """Name of the last Linear/Conv2d layer with ``n_classes`` outputs: the classifier."""
    head = None
    for name, m in module.named_modules():
        if (isinstance(m, nn.Linear) and m.out_features == n_classes) or (
            isinstance(m, nn.Conv2d) and m.out_channels == n_classes
        ):
            head = name
    return head


def _torchvision_preprocessing(arch: str):
    """Crop size, mean and std of the architecture's published weights (metadata only, nothing downloaded)."""
    from torchvision import models as tvm

    try:
        t = tvm.get_model_weights(arch).DEFAULT.transforms()
        return tuple(t.crop_size), tuple(t.mean), tuple(t.std)
    except Exception:  # no published weights or no image transform: ImageNet defaults
        return (224, 224), IMAGENET_MEAN, IMAGENET_STD


def torchvision_model(arch: str, weights, labels=None, device=None, input_size=None, mean=None, std=None) -> ImageClassifier:
    """A torchvision classification architecture (weights=None) with an uploaded state dict.

    Normalisation and input size are those of the architecture's published
    weights (ImageNet 224 px where it has none) unless given.
    """
    from torchvision import models as tvm

    known = tvm.list_models(module=tvm)
    if arch not in known:
        raise _unknown("torchvision", arch, known)
    state, stored = _require(weights, "torchvision")
    with warnings.catch_warnings():  # e.g. inception's init-weights notice
        warnings.simplefilter("ignore")
        module = tvm.get_model(arch, weights=None)
        head = _torchvision_head(module, 1000)
        n = head_outputs(state, head) if head else None
        if n is not None and n != 1000:
            module = tvm.get_model(arch, weights=None, num_classes=n)
    fit(module, state, f"torchvision '{arch}'")
    size, default_mean, default_std = _torchvision_preprocessing(arch)
    return classifier(
        f"torchvision:{arch}",
        module,
        input_size=input_size or size,
        mean=mean or default_mean,
        std=std or default_std,
        labels=labels,
        stored_labels=stored,
        device=device,
    )


def torchscript_model(path, labels=None, device=None, input_size=None, mean=None, std=None) -> ImageClassifier:
    """A TorchScript file (``torch.jit.save``), ImageNet normalisation at 224 px unless given.

    Class names may ride along as an extra file ``labels.json`` or
    ``labels.txt`` (``torch.jit.save(m, path, _extra_files=...)``).
    TorchScript modules take no hooks: layer-based methods (CAMs) do not apply.
    The file is a program: it loads only if it uses pure tensor operators, and its first forward
    pass runs in a child process with a time and memory limit (models/sources/torchscript_guard.py).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"No TorchScript file at {path.name}.")
    check_size(path)
    refused = archive_refusal(path, path.name)  # before torch.jit.load, which runs __setstate__
    if refused:
        raise ModelLoadError(refused)
    extra = {"labels.json": "", "labels.txt": ""}
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise ModelLoadError(
            f"{path.name} is not a readable TorchScript file (save one with torch.jit.save; "
            f"{e.__class__.__name__})."
        ) from None
    refused = refusal(module, path.name)
    if refused:
        raise ModelLoadError(refused)
    size = _size(input_size or (224, 224))
    shape = first_forward(path, size, f"torchscript:{path.name}")
    stored = None
    if extra["labels.json"]:
        try:
            stored = parse_labels(json.loads(extra["labels.json"]), "the TorchScript file's labels.json")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise ModelLoadError(f"The labels.json inside {path.name} is not valid JSON.") from None
    elif extra["labels.txt"]:
        text = extra["labels.txt"]
        try:
            text = text.decode("utf-8") if isinstance(text, bytes) else text
        except UnicodeDecodeError:
            raise ModelLoadError(f"The labels.txt inside {path.name} is not UTF-8 text.") from None
        stored = [line.strip() for line in text.splitlines() if line.strip()]
    return classifier(
        f"torchscript:{path.name}",
        module,
        input_size=size,
        mean=mean or IMAGENET_MEAN,
        std=std or IMAGENET_STD,
        labels=labels,
        stored_labels=stored,
        device=device,
        outputs=_class_count(shape, f"torchscript:{path.name}"),
    )
