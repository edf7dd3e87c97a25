"""The image-classifier adapter: one interface over every kind of image model.

Pages and explainers ask the adapter, never the model: ``preprocess``,
``forward`` (counted), ``predict``, ``target_layer``, ``reshape``, ``labels``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from models.adapters.base import ModelAdapter
from models.errors import ExplainerError, InputError
from models.inputs.images import to_rgb_array
from models.per_model import PerModel
from models.adapters.vit import TokenLayout, to_feature_map, transformer_defaults


@dataclass
class Prediction:
    """Class probabilities for one input, with the class names."""

    probs: np.ndarray  # (n_classes,) float32, sums to 1
    labels: list[str]

    def top(self, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes as (index, label, probability), best first."""
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(int(i), self.labels[i], float(self.probs[i])) for i in order]


_LAYER_SHAPES = PerModel()  # (model, layer name) -> the layer's output shape for one input


class ImageClassifier(ModelAdapter):
    """A torch image classifier with its preprocessing and class names.

    ``mean``/``std`` normalise an RGB image scaled to [0, 1]:
    ``(x - mean) / std`` per channel. The image is resized (not cropped) to
    ``input_size`` so that every input pixel has a place on the model's grid
    and maps back exactly onto the heatmap.

    ``target_layer``: the default layer of CAM methods; None picks the last
    block's ``norm1`` for a known ViT/DeiT/Swin (models/adapters/vit.py), else the
    last layer with a spatial map. ``layout`` says how to read a layer's
    output as a feature map (tokens, channels last); None detects it.
    TorchScript modules take no hooks: they load, predict and take
    input-level methods, but have no layers (``supports_layers`` False).
    """

    modality = "image"
    input_name = "image"

    def __init__(
        self,
        name: str,
        module: nn.Module,
        labels: list[str],
        input_size: tuple[int, int] = (224, 224),
        mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
        std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        target_layer: str | None = None,
        device: torch.device | str | None = None,
        layout: TokenLayout | None = None,
    ):
        super().__init__(name, labels, device)
        self.module = module.eval().to(self.device)
        self.input_size = tuple(input_size)
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        known = transformer_defaults(module)
        self.layout = layout or (known.layout if known else TokenLayout())
        self.supports_layers = not isinstance(module, torch.jit.ScriptModule)
        self._no_layer = "TorchScript models cannot be hooked, so layer-based methods (CAMs) do not apply."
        self.target_layer_name = None
        if self.supports_layers:
            try:
                self.target_layer_name = target_layer or (known.target_layer if known else self._last_spatial_layer())
            except ExplainerError as e:  # the model still predicts; only layer methods are unavailable
                self._no_layer = str(e)

    def preprocess(self, image) -> torch.Tensor:
        """An image (PIL or array) as a normalised (1, 3, H, W) tensor on the model's device."""
        rgb = to_rgb_array(image)
        h, w = self.input_size
        resized = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BICUBIC), dtype=np.float32)
        x = torch.from_numpy(resized).permute(2, 0, 1).unsqueeze(0).to(self.device) / 255.0
        return (x - self._mean) / self._std

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits for a preprocessed batch; every image counts as one forward pass.

        Holds the model's lock: a pass from another session must not fire the hooks an
        explanation has on the shared module, nor change its pass count.
        """
        with self.lock:
            self.count_forward(batch.shape[0])
            return self.module(batch)

    def predict(self, image) -> Prediction:
        with torch.inference_mode():
            logits = self.forward(self.preprocess(image))
        probs = torch.softmax(logits.float(), dim=1)[0].cpu().numpy()
        if probs.shape[0] != len(self.labels):
            raise InputError(
                f"The model gives {probs.shape[0]} outputs but has {len(self.labels)} class names."
            )
        return Prediction(probs=probs, labels=self.labels)

    def layer(self, name: str | None = None) -> nn.Module:
        """The named submodule (default: the target layer)."""
        if not self.supports_layers or not (name or self.target_layer_name):
            raise ExplainerError(self._no_layer)
        name = name or self.target_layer_name
        try:
            return self.module.get_submodule(name)
        except AttributeError:
            raise ExplainerError(f"The model has no layer named '{name}'.") from None

    def layer_output_shape(self, name: str | None = None) -> tuple[int, ...]:
        """Shape of a layer's output (as ``reshape`` gives it) for one input; probed once per layer."""
        name = name or self.target_layer_name
        return _LAYER_SHAPES.get(self, name, lambda: self._probe_layer_shape(name))

    def _probe_layer_shape(self, name: str) -> tuple[int, ...]:
        seen = []
        with self.lock:
            handle = self.layer(name).register_forward_hook(lambda _m, _i, out: seen.append(out))
            try:
                with torch.inference_mode():
                    self.module(torch.zeros(1, 3, *self.input_size, device=self.device))
            finally:
                handle.remove()
        out = seen[-1][0] if isinstance(seen[-1], (tuple, list)) else seen[-1]
        return tuple(self.reshape(out).shape)

    @property
    def target_layer(self) -> nn.Module:
        return self.layer()

    def reshape(self, activation: torch.Tensor) -> torch.Tensor:
        """A layer output as a (N, C, h, w) feature map.

        CNN maps already are; Swin's (N, H, W, C) is permuted; ViT tokens
        (N, T, C) lose their class/distillation tokens and are laid on the
        patch grid (models/adapters/vit.py).
        """
        return to_feature_map(activation, self.layout, self.input_size)

    def spatial_layers(self) -> list[str]:
        """Names of the modules whose output is an (N, C, h, w) map with h, w > 1, in the order they run (one forward
        of a blank input; a module that runs twice, as a ResNet block's ReLU, where it runs last): the layers a CAM
        or a channel attribution can read."""
        fired: list[str] = []

        def hook(name):
            def record(_module, _inputs, output):
                if isinstance(output, torch.Tensor) and output.ndim == 4 and min(output.shape[2:]) > 1:
                    fired.append(name)

            return record

        with self.lock:
            handles = [m.register_forward_hook(hook(n)) for n, m in self.module.named_modules() if n]
            try:
                with torch.inference_mode():
                    self.module(torch.zeros(1, 3, *self.input_size, device=self.device))
            finally:
                for h in handles:
                    h.remove()
        return list(reversed(dict.fromkeys(reversed(fired))))  # each once, where it ran last

    def _last_spatial_layer(self) -> str:
        """Name of the last module, in execution order, that outputs an (N, C, h, w) map with h, w > 1."""
        fired = self.spatial_layers()
        if not fired:
            raise ExplainerError("The model has no layer with a spatial feature map to explain.")
        return fired[-1]
