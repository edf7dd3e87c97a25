"""ViT, DeiT and Swin in the adapter: tokens onto the patch grid, default layers, Grad-CAM by its definition.

Tiny randomly initialised timm/torchvision models; nothing is downloaded.
"""

import numpy as np
import pytest
import timm
import torch
import torchvision

from explainers import explain
from explainers.image.maps import to_pixel_grid
from models import ExplainerError
from models.adapters.image import ImageClassifier
from models.adapters.vit import TokenLayout, to_feature_map

IMAGE = (np.random.default_rng(1).random((45, 61, 3)) * 255).astype(np.uint8)
VIT = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)


def build(kind: str, img_size=(32, 32), num_classes=5):
    torch.manual_seed(0)
    if kind == "vit":
        module = timm.create_model("vit_tiny_patch16_224", img_size=img_size, num_classes=num_classes, **VIT)
    elif kind == "deit":
        module = timm.create_model("deit_tiny_distilled_patch16_224", img_size=img_size, num_classes=num_classes, **VIT)
    elif kind == "swin":
        module = timm.create_model(
            "swin_tiny_patch4_window7_224",
            img_size=img_size,
            depths=(1, 2),
            num_heads=(1, 2),
            embed_dim=16,
            window_size=4,
            num_classes=num_classes,
        )
    elif kind == "tv-vit":
        module = torchvision.models.VisionTransformer(
            image_size=img_size[0], patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=num_classes
        )
    elif kind == "tv-swin":
        module = torchvision.models.swin_transformer.SwinTransformer(
            patch_size=[4, 4], embed_dim=16, depths=[1, 2], num_heads=[1, 2], window_size=[4, 4], num_classes=num_classes
        )
    labels = [str(i) for i in range(num_classes)]
    return ImageClassifier(kind, module, labels, input_size=img_size, mean=(0.5,) * 3, std=(0.25,) * 3, device="cpu")


# --- tokens to grid on hand-made activations ---------------------------------------------------


@pytest.mark.parametrize("prefix", [0, 1, 2])
def test_tokens_land_row_by_row_after_the_prefix(prefix):
    """Token prefix + r*w + c carries value (r, c) in every channel: it must land at row r, column c."""
    h, w, channels = 2, 4, 3
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    patches = torch.tensor(10 * rows + cols, dtype=torch.float32).reshape(-1)
    tokens = torch.cat([torch.full((prefix,), -1.0), patches])
    activation = tokens[None, :, None].repeat(1, 1, channels)  # (1, T, C)
    grid = to_feature_map(activation, TokenLayout(prefix), input_size=(16, 32))
    assert grid.shape == (1, channels, h, w)
    for k in range(channels):
        assert np.array_equal(grid[0, k].numpy(), 10 * rows + cols)


def test_unknown_prefix_is_inferred_for_square_grids():
    activation = torch.arange(18.0)[None, :, None]  # 2 prefix tokens + 4×4 patches
    grid = to_feature_map(activation, TokenLayout(None), input_size=(64, 64))
    assert grid.shape == (1, 1, 4, 4) and grid[0, 0, 0, 0] == 2 and grid[0, 0, 3, 3] == 17


def test_channels_last_maps_are_permuted():
    nhwc = torch.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    out = to_feature_map(nhwc, TokenLayout(0, channels_last=True), input_size=(12, 16))
    assert out.shape == (2, 5, 3, 4) and torch.equal(out[1, 4, 2, 3], nhwc[1, 2, 3, 4])
    assert to_feature_map(nhwc, TokenLayout(), input_size=(12, 16)) is nhwc  # a CNN map stays as it is


@pytest.mark.parametrize("shape", [(1, 7, 4), (1, 1, 4), (4, 8)])
def test_outputs_without_a_grid_are_an_explainer_error(shape):
    with pytest.raises(ExplainerError):
        to_feature_map(torch.zeros(shape), TokenLayout(1), input_size=(32, 32))


# --- real models: defaults and the patch order -------------------------------------------------


@pytest.mark.parametrize(
    "kind, layer, layout",
    [
        ("vit", "blocks.1.norm1", TokenLayout(1)),
        ("deit", "blocks.1.norm1", TokenLayout(2)),
        ("swin", "layers.1.blocks.1.norm1", TokenLayout(0, channels_last=True)),
        ("tv-vit", "encoder.layers.encoder_layer_1.ln_1", TokenLayout(1)),
        ("tv-swin", "features.3.1.norm1", TokenLayout(0, channels_last=True)),
    ],
)
def test_default_layer_is_the_last_blocks_norm1(kind, layer, layout):
    m = build(kind)
    assert m.target_layer_name == layer and m.layout == layout
    assert m.reshape(_capture(m, layer, torch.zeros(1, 3, 32, 32))).ndim == 4


def _capture(m, layer, x):
    out = []
    handle = m.layer(layer).register_forward_hook(lambda _m, _i, o: out.append(o.detach()))
    try:
        with torch.inference_mode():
            m.module(x)
    finally:
        handle.remove()
    return out[-1]


@pytest.mark.parametrize(
    "kind, layer, img_size, cell",
    [
        ("vit", "blocks.0.norm1", (16, 32), (8, 8)),  # non-square: a 2×4 grid
        ("deit", "blocks.0.norm1", (32, 16), (8, 8)),  # 4×2 grid behind two prefix tokens
        ("swin", "layers.0.blocks.0.norm1", (32, 32), (4, 4)),
    ],
)
def test_each_patch_lands_on_its_own_cell(kind, layer, img_size, cell):
    """Before the first attention a token sees only its patch: changing one patch changes one grid cell, there."""
    m = build(kind, img_size=img_size)
    x = torch.randn(1, 3, *img_size)
    base = m.reshape(_capture(m, layer, x))
    gh, gw = base.shape[2:]
    assert (gh, gw) == (img_size[0] // cell[0], img_size[1] // cell[1])
    for r, c in [(0, 0), (gh - 1, gw - 1), (gh // 2, gw - 1)]:
        moved = x.clone()
        moved[..., r * cell[0] : (r + 1) * cell[0], c * cell[1] : (c + 1) * cell[1]] += 1.0
        changed = (m.reshape(_capture(m, layer, moved)) - base).abs().amax(dim=(0, 1)) > 1e-6
        expected = torch.zeros(gh, gw, dtype=torch.bool)
        expected[r, c] = True
        assert torch.equal(changed, expected)


# --- Grad-CAM on transformers, by its definition ----------------------------------------------


def reference_grad_cam(m, image, target, as_grid):
    """Grad-CAM written out for one model: hook the layer, d logit / dA, weights = grid mean of G."""
    x = m.preprocess(image)
    kept = []
    handle = m.layer().register_forward_hook(lambda _m, _i, o: kept.append(o))
    try:
        logits = m.module(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logits[0, target], kept[0])
    A, G = as_grid(kept[0].detach()[0]), as_grid(grad[0])  # (C, h, w)
    cam = torch.relu((G.mean(dim=(1, 2))[:, None, None] * A).sum(0))
    return to_pixel_grid(cam, *image.shape[:2])


def _tokens(prefix, gh, gw):
    return lambda t: t[prefix:].reshape(gh, gw, -1).permute(2, 0, 1)


@pytest.mark.parametrize(
    "kind, as_grid",
    [
        ("vit", _tokens(1, 4, 4)),
        ("deit", _tokens(2, 4, 4)),
        ("swin", lambda t: t.permute(2, 0, 1)),
    ],
)
def test_grad_cam_on_transformers_matches_the_definition(kind, as_grid):
    m = build(kind)
    informative = 0
    for target in range(len(m.labels)):
        e = explain(m, IMAGE, method="grad-cam", target=target)
        assert e.scores.shape == IMAGE.shape[:2] and e.target == target
        np.testing.assert_allclose(e.scores, reference_grad_cam(m, IMAGE, target, as_grid), atol=1e-5)
        informative += float(e.scores.max() - e.scores.min()) > 0.5
    assert informative > 0  # at least one class gives a real map, so the comparison had something to compare
    for module in m.module.modules():
        assert not module._forward_hooks and not module._backward_hooks


def test_any_layer_of_a_vit_can_be_chosen():
    m = build("vit")
    e = explain(m, IMAGE, method="grad-cam", target=0, layer="blocks.0.norm1")
    assert e.scores.shape == IMAGE.shape[:2] and e.params["layer"] == "blocks.0.norm1"


def test_a_layer_without_a_grid_is_refused():
    m = build("vit")
    with pytest.raises(ExplainerError):
        explain(m, IMAGE, method="grad-cam", layer="head")
