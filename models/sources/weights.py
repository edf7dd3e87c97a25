"""Reading a weights file someone uploads, without ever unpickling arbitrary objects.

``.pth``/``.pt`` files load with ``torch.load(weights_only=True)`` (tensors and
plain containers only); ``.safetensors`` files hold nothing but tensors and a
text metadata table. The format is recognised from the content, not the name.
"""

from __future__ import annotations

import pickle
import re
import struct
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from models.errors import ModelLoadError, reason
from models.sources.labels import METADATA_KEYS, from_metadata
from models.inputs.limits import check_size

WEIGHT_FILE_TYPES = ("pth", "pt", "bin", "safetensors")

_UNSAFE = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net")


def _is_safetensors(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 0 < length <= path.stat().st_size - 8


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as e:  # SafetensorError and friends: the file is damaged
        raise ModelLoadError(f"The safetensors file {path.name} is damaged or incomplete ({reason(e)}).") from None


def _read_torch(path: Path) -> tuple[dict, dict]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = _UNSAFE.search(str(e))
        what = f" (it needs the Python class {found.group(1)})" if found else ""
        raise ModelLoadError(
            f"{path.name} is a pickled Python object{what}, not just weights. Lumen never unpickles "
            "uploaded files, because unpickling can run any code on this machine. Save the weights "
            "alone instead: torch.save(model.state_dict(), 'weights.pth'), or a .safetensors file."
        ) from None
    except Exception as e:  # empty, truncated, not a torch file at all
        raise ModelLoadError(
            f"{path.name} is not a readable PyTorch weights file (damaged, empty or another format: "
            f"{e.__class__.__name__})."
        ) from None
    if not isinstance(obj, Mapping):
        raise ModelLoadError(f"{path.name} holds a {type(obj).__name__}, not a state dict of named tensors.")
    metadata = {k: v for k, v in obj.items() if k in METADATA_KEYS}
    rest = {k: v for k, v in obj.items() if k not in METADATA_KEYS}
    for key in _CHECKPOINT_KEYS:  # a training checkpoint: {"state_dict": {...}, "epoch": ..., ...}
        inner = rest.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return dict(inner), metadata
    return rest, metadata


def read_state_dict(path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """The named tensors of a weights file and the class names stored with them, if any.

    A training checkpoint's ``state_dict`` (or ``model``...) entry is taken;
    DataParallel's ``module.`` prefix is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"No weights file at {path.name}.")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"The weights file {path.name} is empty (0 bytes).")
    check_size(path)
    tensors, metadata = _read_safetensors(path) if _is_safetensors(path) else _read_torch(path)
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad or not tensors:
        detail = f": '{bad[0]}' is a {type(tensors[bad[0]]).__name__}" if bad else ""
        raise ModelLoadError(f"{path.name} is not a state dict of named tensors{detail}.")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors, from_metadata(metadata)


def head_outputs(state: Mapping[str, torch.Tensor], head: str) -> int | None:
    """Number of classes of the head layer ``head`` in a state dict (its weight's first dimension)."""
    weight = state.get(f"{head}.weight")
    return int(weight.shape[0]) if weight is not None and weight.ndim >= 2 else None


def fit(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``module``, or say which keys do not fit (a few of each kind)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    for title, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            problems.append(f"{title} ({len(keys)}): {', '.join(keys[:3])}{more}")
    if problems:
        raise ModelLoadError(f"The weights do not fit {what}: " + "; ".join(problems) + ".")
    module.load_state_dict(state)
