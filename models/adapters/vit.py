"""Vision transformers as CAM methods need them: a default layer and a token-to-grid reshape.

A ViT layer outputs tokens (N, T, C): some prefix tokens (class, distillation,
registers) followed by one token per image patch, row by row. Swin keeps its
tokens as an image but channels last, (N, H, W, C). Both become (N, C, h, w).

Default layer: the first LayerNorm (``norm1``) of the last block, the input of
the last attention, as pytorch-grad-cam's ViT and Swin recipes use it. Later
is too late for a ViT: after the last attention only the class token feeds
the head, so the patch tokens there get no gradient.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from models.errors import ExplainerError


@dataclass(frozen=True)
class TokenLayout:
    """How a model lays out its feature maps.

    ``prefix_tokens``: tokens before the patch tokens in (N, T, C) outputs;
    None infers it assuming a square patch grid. ``channels_last``: 4-D
    outputs are (N, H, W, C) (Swin) rather than (N, C, H, W).
    """

    prefix_tokens: int | None = None
    channels_last: bool = False


@dataclass(frozen=True)
class TransformerDefaults:
    target_layer: str
    layout: TokenLayout


# Hugging Face model types -> tokens before the patches (class, distillation).
_HF_PREFIX = {"vit": 1, "deit": 2, "beit": 1, "data2vec-vision": 1, "swin": 0, "swinv2": 0, "donut-swin": 0}


def transformer_defaults(module: nn.Module) -> TransformerDefaults | None:
    """Default CAM layer and layout for a known timm or torchvision ViT/DeiT/Swin, else None."""
    from timm.models.beit import Beit
    from timm.models.eva import Eva
    from timm.models.swin_transformer import SwinTransformer
    from timm.models.swin_transformer_v2 import SwinTransformerV2
    from timm.models.vision_transformer import VisionTransformer  # DeiT subclasses it
    from torchvision.models.swin_transformer import SwinTransformer as TvSwin
    from torchvision.models.vision_transformer import VisionTransformer as TvViT

    if isinstance(module, (VisionTransformer, Beit, Eva)) and len(module.blocks):
        last = len(module.blocks) - 1
        return TransformerDefaults(f"blocks.{last}.norm1", TokenLayout(int(module.num_prefix_tokens)))
    if isinstance(module, (SwinTransformer, SwinTransformerV2)):
        stage = len(module.layers) - 1
        block = len(module.layers[stage].blocks) - 1
        return TransformerDefaults(f"layers.{stage}.blocks.{block}.norm1", TokenLayout(0, channels_last=True))
    if isinstance(module, TvViT):
        last = list(module.encoder.layers.named_children())[-1][0]
        return TransformerDefaults(f"encoder.layers.{last}.ln_1", TokenLayout(1))
    if isinstance(module, TvSwin):
        stage = len(module.features) - 1
        block = len(module.features[stage]) - 1
        return TransformerDefaults(f"features.{stage}.{block}.norm1", TokenLayout(0, channels_last=True))
    return None


def hf_transformer_defaults(model: nn.Module) -> TransformerDefaults | None:
    """The same for a Hugging Face image classifier (ViT, DeiT, BEiT, Swin): the last ``layernorm_before``."""
    names = [name for name, _ in model.named_modules() if name.endswith("layernorm_before")]
    if not names:
        return None
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return TransformerDefaults(names[-1], TokenLayout(_HF_PREFIX.get(model_type)))


def to_feature_map(activation: torch.Tensor, layout: TokenLayout, input_size: tuple[int, int]) -> torch.Tensor:
    """A layer output as (N, C, h, w): CNN maps as they are, Swin maps permuted, tokens on their patch grid."""
    if activation.ndim == 4:
        return activation.permute(0, 3, 1, 2) if layout.channels_last else activation
    if activation.ndim != 3:
        raise ExplainerError(
            f"This layer gives a {activation.ndim}-D output; CAM methods need a spatial feature map "
            "(N, C, h, w) or patch tokens (N, tokens, C)."
        )
    n, t, c = activation.shape
    prefix = layout.prefix_tokens if layout.prefix_tokens is not None else t - math.isqrt(t) ** 2
    patches = t - prefix
    in_h, in_w = input_size
    # the grid has the input's aspect ratio: h ≈ sqrt(patches * in_h / in_w), w ≈ sqrt(patches * in_w / in_h)
    h = round(math.sqrt(max(patches, 0) * in_h / in_w))
    w = round(math.sqrt(max(patches, 0) * in_w / in_h))
    if patches <= 0 or h * w != patches:
        raise ExplainerError(
            f"The layer's {t} tokens ({prefix} class/distillation tokens) do not form a patch grid "
            f"for a {in_h}×{in_w} input; pick another layer."
        )
    return activation[:, prefix:].transpose(1, 2).reshape(n, c, h, w)


# The Linear that reads a transformer block's FFN intermediate activations (after the activation function):
# timm ViT/DeiT/BEiT/EVA ``blocks.i.mlp.fc2``, Hugging Face ViT/DeiT ``layers.i.mlp.fc2`` (transformers 5) or
# ``encoder.layer.i.output.dense`` (4.x: its input is ``intermediate``'s output), torchvision ViT ``encoder_layer_i.mlp.3``.
_FFN_OUT = (
    re.compile(r"(^|\.)blocks\.\d+\.mlp\.fc2$"),
    re.compile(r"(^|\.)layers\.\d+\.mlp\.fc2$"),
    re.compile(r"(^|\.)encoder\.layer\.\d+\.output\.dense$"),
    re.compile(r"(^|\.)encoder_layer_\d+\.mlp\.3$"),
)


_SWIN = re.compile(r"(^|\.)(swin|layers\.\d+\.blocks)\.")


def ffn_layers(module: nn.Module, layout: TokenLayout | None = None) -> list[str]:
    """The names of the Linear layers whose input is each transformer block's FFN intermediate activation
    ("the neurons" of a ViT), one per block in order; [] for a model that is not a plain ViT (CNNs; Swin, whose
    stages change the token grid, ``layout.channels_last``)."""
    if layout is not None and layout.channels_last:
        return []
    if isinstance(module, torch.jit.ScriptModule):
        return []
    names = [name for name, m in module.named_modules()
             if isinstance(m, nn.Linear) and any(p.search(name) for p in _FFN_OUT)]
    if any(_SWIN.search(n) for n in names):
        return []  # a Swin: its stages merge patches
    return names
