"""``Explanation``: the one object that flows from explainers to pages, metrics and reports."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

_OPTIONAL_LISTS = ("tokens", "target_tokens", "feature_names")


@dataclass
class Explanation:
    """Attribution scores with everything needed to show, compare and reproduce them.

    ``scores`` is float32: (H, W) on the input image's own pixel grid for images,
    (n_tokens,) for text classification, (n_target_tokens, n_input_tokens) for
    generation, (n_features,) for tables.
    """

    scores: np.ndarray
    method: str
    modality: str
    model: str
    target: int | None = None
    target_label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    runtime_s: float = 0.0
    n_forward: int = 0
    n_backward: int = 0
    tokens: list[str] | None = None
    target_tokens: list[str] | None = None
    feature_names: list[str] | None = None
    base_value: float | None = None  # the explainer's reference output (SHAP's expected value)
    extras: dict[str, Any] = field(default_factory=dict)  # method-specific named results: arrays or JSON values
    # scores keep their sign ([-1, 1]) or not ([0, 1]): set by explain() from the method; renderers read it here
    signed: bool | None = None
    # the modality's faithfulness figures ({figure: number or list per step}), measured by the library
    # (explainers.faithfulness, compare(), the command line's --metrics); {} when not measured
    faithfulness: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.signed is None:  # built by hand or read from an older bundle: the method's convention, else the data's
            self.signed = _declared_sign(self.method, self.modality, self.scores)
        self.signed = bool(self.signed)

    def to_dict(self) -> dict[str, Any]:
        """Plain fields, with ``scores`` as a float32 array (see ``to_json`` for text)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["scores"] = self.scores.copy()
        d["params"] = dict(self.params)
        d["extras"] = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self.extras.items()}
        d["faithfulness"] = dict(self.faithfulness)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Explanation":
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        scores = kwargs["scores"]
        if isinstance(scores, dict):  # the JSON form written by to_json
            scores = _decode_array({**scores, "__array__": True})
        kwargs["scores"] = np.array(scores, dtype=np.float32)
        kwargs["extras"] = {k: _decode_array(v) for k, v in (kwargs.get("extras") or {}).items()}
        if not kwargs.get("faithfulness") and isinstance(kwargs["extras"].get("faithfulness"), dict):
            kwargs["faithfulness"] = kwargs["extras"].pop("faithfulness")  # an older bundle kept it in extras
        kwargs["faithfulness"] = dict(kwargs.get("faithfulness") or {})
        for name in _OPTIONAL_LISTS:
            if kwargs.get(name) is not None:
                kwargs[name] = list(kwargs[name])
        return cls(**kwargs)

    def to_json(self) -> str:
        """Lossless JSON: scores as base64 of their float32 bytes, with shape and dtype."""
        d = self.to_dict()
        d["scores"] = _encode_array(self.scores)
        d["extras"] = {k: _encode_array(v) if isinstance(v, np.ndarray) else v for k, v in d["extras"].items()}
        return json.dumps(d, default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> "Explanation":
        return cls.from_dict(json.loads(text))


def _declared_sign(method: str, modality: str, scores: np.ndarray) -> bool:
    from explainers.core.registry import get_method  # the registry imports nothing of this module's users

    try:
        return bool(get_method(method, modality).signed)
    except Exception:  # noqa: BLE001 - a method this Lumen does not know (an imported bundle, a test's own)
        return bool(np.nanmin(scores) < 0) if scores.size else False


def _encode_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    return {"__array__": True, "dtype": a.dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode_array(value):
    if isinstance(value, dict) and value.get("__array__"):
        raw = base64.b64decode(value["data"])
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
