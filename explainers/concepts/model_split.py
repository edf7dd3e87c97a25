"""A model cut at a layer into g (input → activations) and h (activations → logits), for concept methods.

g runs the model only up to the layer (a hook stops the forward pass there). h
replaces the layer's output with given activations and runs the rest: through
the model's own ``forward_head`` when the layer is the model's final feature map
(timm models; checked numerically once), else by running the whole model on a
placeholder input with a hook that swaps the layer's output in — correct for any
model, at the price of the layers below.
"""

from __future__ import annotations

import torch

from models.errors import ExplainerError
from models.per_model import PerModel

_PROBED = PerModel()  # (model, layer name) -> (activation shape, fast_head): probed once per model and layer


class _Reached(Exception):
    """Raised by the hook once the layer has produced its output: the rest of the forward pass is not needed."""

    def __init__(self, output: torch.Tensor):
        self.output = output


def _output(output):
    return output[0] if isinstance(output, (tuple, list)) else output


class ModelSplit:
    """``g(batch)`` → the layer's activations (N, C[, h, w]); ``h(activations)`` → logits (N, classes).

    Cheap to make: the layer is probed once per model and layer (kept in ``_PROBED``, not on the model)."""

    def __init__(self, model, layer: str | None = None):
        self.model = model
        self.layer_name = layer or model.target_layer_name
        self.layer = model.layer(self.layer_name)
        self.activation_shape, self.fast_head = _PROBED.get(model, self.layer_name, self._probe)

    def _probe(self) -> tuple[tuple[int, ...], bool]:
        """The layer's activation shape for one input, and whether the model's ``forward_head`` rebuilds it."""
        # a random probe: on a constant one, a wrong head could agree with the model by accident
        probe = torch.rand(2, 3, *self.model.input_size, generator=torch.Generator().manual_seed(0)).to(self.model.device)
        with torch.inference_mode():
            activation = self._g(probe)
        if activation.ndim not in (2, 4):
            raise ExplainerError(
                f"Layer '{self.layer_name}' gives activations of shape {tuple(activation.shape)}; concept "
                "methods take a convolutional feature map (N, C, h, w) or pooled features (N, C). "
                "Choose a convolutional layer."
            )
        return tuple(activation.shape[1:]), self._head_matches(probe, activation)

    @property
    def channels(self) -> int:
        return self.activation_shape[0]

    def _g(self, batch: torch.Tensor) -> torch.Tensor:
        def stop(_module, _inputs, output):
            raise _Reached(_output(output))

        handle = self.layer.register_forward_hook(stop)
        try:
            self.model.module(batch)
        except _Reached as reached:
            return reached.output
        finally:
            handle.remove()
        raise ExplainerError(f"Layer '{self.layer_name}' was not used in the forward pass.")

    def g(self, batch: torch.Tensor) -> torch.Tensor:
        """Activations of a preprocessed batch at the layer (counted as forward passes: the model ran up to it)."""
        self.model.count_forward(batch.shape[0])
        return self._g(batch).float()

    def _head_matches(self, probe: torch.Tensor, activation: torch.Tensor) -> bool:
        head = getattr(self.model.module, "forward_head", None)
        if head is None or activation.ndim != 4:
            return False
        with torch.inference_mode():
            try:
                direct = head(activation.clone())
            except Exception:  # any signature or shape mismatch: use the general path
                return False
            full = self.model.module(probe)
        return direct.shape == full.shape and torch.allclose(direct, full, rtol=1e-4, atol=1e-4)

    def h(self, activations: torch.Tensor) -> torch.Tensor:
        """Logits with the layer's output replaced by ``activations`` (differentiable in them)."""
        activations = activations.to(self.model.device)
        if self.fast_head:
            return self.model.module.forward_head(activations)

        def swap(_module, _inputs, output):
            if isinstance(output, (tuple, list)):
                return type(output)([activations, *output[1:]])
            return activations

        placeholder = torch.zeros(activations.shape[0], 3, *self.model.input_size, device=self.model.device)
        handle = self.layer.register_forward_hook(swap)
        try:
            return self.model.forward(placeholder)  # the layers below run too: counted as full passes
        finally:
            handle.remove()
