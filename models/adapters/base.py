"""What every adapter has, whatever its input: ``ModelAdapter``.

An adapter (image classifier, text classifier, causal LM, tabular model) has a ``name``, the
``modality`` it takes, its class ``labels`` (empty for a language model, whose target is a
continuation), the ``device`` it runs on, the fair ``lock`` that sessions share it through, and
its pass counters (``n_forward``/``n_backward``, counted into the current run too: models/locks.py).
``class_index`` turns a target given as label or index into an index, or picks the top class of an
input. What a method keeps per model lives beside the method (models/per_model.py), never on the adapter.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from models.device import default_device, describe
from models.errors import ExplainerError
from models.sources.labels import label_index
from models.locks import ModelLock, count_backward, count_forward


class ModelAdapter:
    """The base of every adapter: name, modality, labels, device, lock, pass counters, ``class_index``."""

    modality: str = ""
    input_name = "input"  # what ``class_index`` calls an input in its sentence ("image", "text", "row")

    def __init__(self, name: str, labels: list[str], device: torch.device | str | None = None):
        self.name = name
        self.labels = list(labels)
        self.device = torch.device(device) if device is not None else default_device()
        self.lock = ModelLock()  # hooks are per module: one hooked explanation at a time (models/locks.py)
        self.n_forward = 0
        self.n_backward = 0

    @property
    def device_description(self) -> str:
        return describe(self.device)

    def count_forward(self, n: int = 1) -> None:
        """``n`` forward passes: added to this model's totals and to the current run's count."""
        count_forward(self, n)

    def count_backward(self, n: int = 1) -> None:
        count_backward(self, n)

    def class_index(self, target: int | str | None, x=None) -> int:
        """A class given as index or label, or the top class of the input ``x`` when None."""
        if target is None:
            if x is None:
                raise ExplainerError(f"No target class given and no {self.input_name} to pick the top class from.")
            return self.top_class(x)
        return label_index(target, self.labels)

    def top_class(self, x) -> int:
        """The index of the most probable class of ``x``."""
        return int(np.argmax(self.predict(x).probs))

    def fresh_copy(self) -> "ModelAdapter":
        """A shallow copy with its own lock and zero pass counts (same module until the caller replaces it).

        A copy is a new key for every per-model store (models/per_model.py), so it shares no cache."""
        clone = copy.copy(self)
        clone.lock = ModelLock()
        clone.n_forward = clone.n_backward = 0
        return clone
