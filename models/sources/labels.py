"""Class names for a model someone brings: from its file, an uploaded list, ImageNet, or numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from models.errors import ExplainerError, ModelLoadError

LABEL_FILE_TYPES = ("txt", "json")

METADATA_KEYS = ("labels", "classes", "class_names", "id2label")
"""Where class names may be stored next to weights (checkpoint entries, safetensors metadata)."""

_PLACEHOLDER = re.compile(r"LABEL_\d+")  # Hugging Face's names when a config has none


def parse_labels(data: object, source: str) -> list[str]:
    """Class names from a list, or a dict index -> name whose keys are exactly 0..N-1."""
    if isinstance(data, Mapping):
        try:
            by_index = {int(k): str(v) for k, v in data.items()}
        except (TypeError, ValueError):
            raise ModelLoadError(f"The class names in {source} map non-numbers to names; use index -> name.") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise ModelLoadError(f"The class indices in {source} are not 0..{len(by_index) - 1} without gaps.")
        return [by_index[i] for i in range(len(by_index))]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return [str(v) for v in data]
    raise ModelLoadError(f"The class names in {source} are neither a list nor an index -> name mapping.")


def read_labels(path) -> list[str]:
    """Class names from a .txt file (one per line) or a .json file (a list, or {index: name})."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"Cannot read the class-names file {path.name}: {e.__class__.__name__}.") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:  # RecursionError: nested too deep
            line = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
            raise ModelLoadError(f"The class-names file {path.name} is not valid JSON{line}.") from None
        labels = parse_labels(data, path.name)
    else:
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelLoadError(f"The class-names file {path.name} has no names in it.")
    return labels


def from_metadata(metadata: Mapping[str, object] | None) -> list[str] | None:
    """Class names stored with weights: keys ``labels``/``classes``/``id2label``, as lists, dicts or JSON text."""
    for key in METADATA_KEYS:
        value = (metadata or {}).get(key)
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                continue
        labels = parse_labels(value, f"the weights' '{key}' entry")
        if labels and not all(_PLACEHOLDER.fullmatch(name) for name in labels):
            return labels
    return None


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names, shipped offline inside torchvision."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.DEFAULT.meta["categories"])


def resolve_labels(n_outputs: int, given=None, stored: list[str] | None = None) -> list[str]:
    """The class names for a head with ``n_outputs`` outputs.

    First what the user gave (a path to a .txt/.json file or a list of names),
    then names stored with the weights, then ImageNet's when there are 1000
    outputs, else "class 0".."class N-1". Given or stored names must match
    the number of outputs.
    """
    if given is not None:
        names, source = (read_labels(given), Path(given).name) if isinstance(given, (str, Path)) else (list(given), "the given list")
    elif stored:
        names, source = stored, "the weights file"
    elif n_outputs == 1000:
        return list(imagenet_labels())
    else:
        return [f"class {i}" for i in range(n_outputs)]
    if len(names) != n_outputs:
        raise ModelLoadError(
            f"The model has {n_outputs} outputs but {source} names {len(names)} classes; they must match."
        )
    return [str(n) for n in names]


def label_index(target, labels: list[str]) -> int:
    """The index of a class given as its label or its index, or an ``ExplainerError`` sentence."""
    if isinstance(target, str):
        if target not in labels:
            shown = ", ".join(labels) if len(labels) <= 20 else f"{len(labels)} classes"
            raise ExplainerError(f"'{target}' is not one of the model's classes ({shown}).")
        return labels.index(target)
    index = int(target)
    if not 0 <= index < len(labels):
        raise ExplainerError(f"Class index {index} is out of range 0..{len(labels) - 1}.")
    return index
