"""Perturbation methods for images: occlusion, RISE and Sobol attribution.

Each one builds masks on the model's input grid, hides pixels with the image masker
(explainers/image/maskers.py), runs every masked input through the one engine
(explainers/core/engine.py) and turns the target's probabilities into a map with a
modality-free estimator. The first input of every run is the unmasked image: it
gives the top class when no target is given (and occlusion's reference), so each
method costs one pass more than its masks.

All three explain the target's softmax probability, as the RISE and occlusion
papers do; the scores are on the model's grid, then brought to the image's grid.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from explainers.core import sobol as sobol_core
from explainers.core.engine import batched_logits
from explainers.image.maskers import FILLS, ImageMasker, cells_to_pixels
from explainers.image.maps import to_pixel_grid, to_pixel_grid_signed
from explainers.core.budget import DOUBLE, FLOAT, engine_bytes
from explainers.core.registry import SEED, register
from models.errors import ExplainerError

COST_INPUT_SIZE = 224  # occlusion's window count when no model is given to the cost model


def whole_image_first(masks, masker: ImageMasker):
    """``make_batch`` for the engine: input 0 is the unmasked image, input k the k-th mask (``masks(a, b)``)."""

    def make_batch(i: int, j: int) -> torch.Tensor:
        parts = [torch.ones((1, *masker.size), device=masker.x.device)] if i == 0 else []
        if j > max(i, 1):
            parts.append(masks(max(i, 1) - 1, j - 1))
        return masker(torch.cat(parts) if len(parts) > 1 else parts[0])

    return make_batch


def target_probability(logits: torch.Tensor, target: int | None) -> tuple[torch.Tensor, int]:
    """The target's softmax probability for every input; None targets the top class of input 0."""
    index = int(logits[0].argmax()) if target is None else int(target)
    return torch.softmax(logits, dim=1)[:, index], index


# ---------------------------------------------------------------- estimators (scores -> map)


def mean_drop_over_windows(drops: torch.Tensor, window: tuple[int, int], stride: int, size: tuple[int, int]):
    """Occlusion estimator: each position's score is the mean of the drops of the windows covering it.

    ``drops``: (ny, nx), one per window on a regular grid of starts ``k · stride``;
    windows reaching past the border are clipped, so every position is covered.
    """
    box = torch.ones((1, 1, *window), dtype=drops.dtype, device=drops.device)
    total = F.conv_transpose2d(drops[None, None], box, stride=stride)[0, 0, : size[0], : size[1]]
    count = F.conv_transpose2d(torch.ones_like(drops)[None, None], box, stride=stride)[0, 0, : size[0], : size[1]]
    return total / count


def rise_weighting(scores: torch.Tensor, masks, n: int, p: float, chunk: int = 64) -> torch.Tensor:
    """RISE estimator, modality-free: Σ_i scores_i · M_i / (n · p), the masks ``masks(a, b)`` made chunk by chunk."""
    total = None
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        part = torch.einsum("n,n...->...", scores[a:b].float(), masks(a, b).to(scores.device).float())
        total = part if total is None else total + part
    return total / (n * p)


# ---------------------------------------------------------------- occlusion


def _positions(size: int, window: int, stride: int) -> tuple[int, int]:
    """Number of window starts 0, stride, 2·stride, ... needed to cover ``size``, and the clipped window."""
    window = min(window, size)
    return math.ceil((size - window) / stride) + 1, window


def _window_and_stride(params) -> tuple[int, int]:
    window, stride = _int(params, "window", 1), _int(params, "stride", 1)
    if stride > window:
        raise ExplainerError(
            f"occlusion's stride ({stride}) must not exceed its window ({window}): pixels would be left out."
        )
    return window, stride


def _occlusion_cost(params, model=None, **sizes) -> tuple[int, int]:
    window, stride = _window_and_stride(params)
    h, w = model.input_size if model is not None else (COST_INPUT_SIZE, COST_INPUT_SIZE)
    return _positions(h, window, stride)[0] * _positions(w, window, stride)[0] + 1, 0


def _mask_bytes(model) -> int:
    """One mask on the model's grid, as a float (and the bool it is made from)."""
    h, w = model.input_size
    return h * w * (FLOAT + 1)


def _occlusion_memory(params, model, **_) -> int:
    return engine_bytes(model, _occlusion_cost(params, model)[0], mask_bytes=_mask_bytes(model))


# Window and stride are in model-grid pixels; a window beyond the input is clipped to it.
WINDOW_LIMITS = {"window": (1, 1024), "stride": (1, 1024)}


@register(
    "occlusion",
    modality="image",
    family="perturbation",
    cost=_occlusion_cost,
    defaults={"window": 32, "stride": 16, "fill": "zero"},
    limits=WINDOW_LIMITS,
    memory=_occlusion_memory,
    signed=True,
    choices={"fill": FILLS},
    exclusive=False,  # forward passes only, no hook: runs beside other runs
)
def occlusion(model, image, target, window=32, stride=16, fill="zero"):
    """Occlusion (Zeiler & Fergus, ECCV 2014): how much the class probability drops when a patch is hidden.

    A ``window`` × ``window`` square (model-grid pixels) slides over the model's input
    in steps of ``stride``, replaced by the ``fill`` baseline (image_maskers.py).
    Window k's drop is p(x) - p(x with window k hidden), p the target's softmax
    probability; a pixel's score is the mean drop over the windows covering it.
    Signed: negative where hiding helps the class; scaled by the largest |score| into
    [-1, 1]. Passes: one per window, plus the unmasked image.
    """
    window, stride = _window_and_stride({"window": window, "stride": stride})
    masker = ImageMasker(model, image, fill)
    h, w = masker.size
    (ny, wy), (nx, wx) = _positions(h, window, stride), _positions(w, window, stride)
    device = masker.x.device
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)

    def masks(a: int, b: int) -> torch.Tensor:
        k = torch.arange(a, b, device=device)
        top, left = (k // nx)[:, None] * stride, (k % nx)[:, None] * stride
        hide_rows = (rows >= top) & (rows < top + wy)
        hide_cols = (cols >= left) & (cols < left + wx)
        return 1.0 - (hide_rows[:, :, None] & hide_cols[:, None, :]).float()

    logits = batched_logits(model, ny * nx + 1, whole_image_first(masks, masker))
    probs, index = target_probability(logits, target)
    drops = (probs[0] - probs[1:]).view(ny, nx)
    saliency = mean_drop_over_windows(drops, (wy, wx), stride, (h, w))
    return to_pixel_grid_signed(saliency, image.shape[0], image.shape[1]), index


# ---------------------------------------------------------------- RISE


RISE_CHUNK = 64  # masks made at once by the estimator (rise_weighting)


def _rise_memory(params, model, **_) -> int:
    """The engine's batches and output, the coarse cells (one byte each), the estimator's chunk of masks."""
    n, g = int(params["n_masks"]), int(params["grid"])
    h, w = model.input_size
    cells = n * g * g + RISE_DRAW * g * g * DOUBLE
    return engine_bytes(model, n + 1, mask_bytes=_mask_bytes(model)) + cells + 2 * RISE_CHUNK * h * w * FLOAT


@register(
    "rise",
    modality="image",
    family="perturbation",
    cost=lambda params, model=None, **sizes: (_int(params, "n_masks", 1) + 1, 0),
    defaults={"n_masks": 1000, "grid": 7, "p": 0.5, "seed": 0},
    exclusive=False,  # forward passes only, no hook: runs beside other runs
    # 8,000 masks: the paper's count for ResNet-50 (about 2 min on a GPU, long on CPU); a grid of 64 cells
    # a side is finer than any input it is upsampled to by RISE's bilinear smoothing needs.
    limits={"n_masks": (1, 8000), "grid": (1, 64), "p": (0.0, 1.0), "seed": SEED},
    memory=_rise_memory,
)
def rise(model, image, target, n_masks=1000, grid=7, p=0.5, seed=0):
    """RISE (Petsiuk, Das & Saenko, BMVC 2018): the mean of random masks weighted by the class probability.

    N = ``n_masks`` binary ``grid`` × ``grid`` masks, each cell kept with probability
    ``p``, are upsampled bilinearly to (grid + 1) · ⌈H / grid⌉ and cropped to H × W at
    a random shift below one cell, giving smooth masks M_i in [0, 1]. Saliency =
    Σ_i f(M_i ⊙ x) · M_i / (N · p), f the target's softmax probability. As in the
    authors' PyTorch code M_i multiplies the normalised input (hidden pixels take the
    model's mean colour). Min-max scaled to [0, 1]. Passes: N, plus the unmasked image.
    """
    n, s = _int({"n_masks": n_masks}, "n_masks", 1), _int({"grid": grid}, "grid", 1)
    p = float(p)
    if not 0 < p <= 1:
        raise ExplainerError(f"rise needs a keep probability p in (0, 1]; got {p}.")
    masker = ImageMasker(model, image, "zero")
    masks = rise_masks(n, s, p, masker.size, seed, masker.x.device)
    logits = batched_logits(model, n + 1, whole_image_first(masks, masker))
    probs, index = target_probability(logits, target)
    saliency = rise_weighting(probs[1:], masks, n, p, RISE_CHUNK)
    return to_pixel_grid(saliency, image.shape[0], image.shape[1]), index


def rise_masks(n: int, grid: int, p: float, size: tuple[int, int], seed: int, device):
    """RISE's random masks as a function ``masks(a, b)`` -> (b - a, h, w), the same on every call.

    The coarse grids and shifts are drawn once (small); full-size masks are made on
    demand, so that N masks never sit in memory at once. Bilinear upsampling is
    separable: the upsampled grid G is U_rows · G · U_colsᵀ, and cropping at a shift
    takes a block of rows of U_rows and U_cols — two small batched matrix products.
    """
    h, w = size
    if grid > min(h, w):
        raise ExplainerError(f"rise's grid ({grid}) cannot have more cells than the model input has pixels ({h}×{w}).")
    rng = np.random.default_rng(seed)
    # drawn RISE_DRAW masks at a time, kept as bools: the same draws as one rng.random((n, grid, grid)), in 1/8 of
    # the memory and without the n × grid² doubles at once
    cells = torch.cat([torch.from_numpy(rng.random((min(RISE_DRAW, n - a), grid, grid)) < p)
                       for a in range(0, n, RISE_DRAW)]).to(device)
    cell_h, cell_w = math.ceil(h / grid), math.ceil(w / grid)
    shifts = torch.from_numpy(rng.integers(0, [cell_h, cell_w], size=(n, 2))).to(device)
    up_rows = _linear_upsampling(grid, (grid + 1) * cell_h, device)  # ((grid + 1) · cell_h, grid)
    up_cols = _linear_upsampling(grid, (grid + 1) * cell_w, device)
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)

    def masks(a: int, b: int) -> torch.Tensor:
        r = up_rows[shifts[a:b, 0, None] + rows]  # (b - a, h, grid)
        c = up_cols[shifts[a:b, 1, None] + cols]  # (b - a, w, grid)
        return (r @ cells[a:b].float() @ c.transpose(1, 2)).clamp_(0, 1)  # clamp: float rounding

    return masks


RISE_DRAW = 256  # masks whose coarse cells are drawn at once


def _linear_upsampling(n_in: int, n_out: int, device) -> torch.Tensor:
    """The (n_out, n_in) matrix of 1-D linear upsampling as F.interpolate does it (align_corners=False)."""
    eye = torch.eye(n_in, device=device)[:, None, :]
    return F.interpolate(eye, size=n_out, mode="linear", align_corners=False)[:, 0, :].T.contiguous()


# ---------------------------------------------------------------- Sobol attribution

PERTURBATIONS = {"inpainting": "zero", "blur": "blur", "amplitude": "black"}


def _sobol_cost(params, model=None, **sizes) -> tuple[int, int]:
    g = _int(params, "grid_size", 1)
    return sobol_core.check_nb_design(params["nb_design"]) * (g * g + 2) + 1, 0


def _sobol_memory(params, model, **_) -> int:
    """The design (A and B, the rows made per batch by ``sobol_core.design_rows``), the engine's batches and
    output (nb_design · (grid_size² + 2) rows × classes), the outputs in float64 for the estimator."""
    g = int(params["grid_size"])
    n = int(params["nb_design"])
    rows = n * (g * g + 2)
    engine = engine_bytes(model, rows + 1, mask_bytes=_mask_bytes(model))
    return sobol_core.design_memory(g * g, n) + engine + 3 * rows * DOUBLE


@register(
    "sobol",
    modality="image",
    family="perturbation",
    cost=_sobol_cost,
    defaults={"grid_size": 8, "nb_design": 32, "perturbation": "inpainting", "scramble": True, "seed": 0},
    # the engine keeps nb_design · (grid_size² + 2) rows of class scores: at the maxima 256 · 1026 rows of
    # 1,000 ImageNet classes, 1 GB (and about 40 minutes on CPU); the paper uses grid 11, nb_design 32
    limits={"grid_size": (1, 32), "nb_design": (2, 256), "seed": SEED},
    memory=_sobol_memory,
    choices={"perturbation": tuple(PERTURBATIONS)},
    exclusive=False,  # forward passes only, no hook: runs beside other runs
)
def sobol_attribution(
    model, image, target, grid_size=8, nb_design=32, perturbation="inpainting", scramble=True, seed=0
):
    """Sobol attribution (Fel et al., NeurIPS 2021, "Look at the Variance!"): each cell's total Sobol index.

    The model input is cut into ``grid_size`` × ``grid_size`` cells; each cell i gets
    a real mask value X_i in [0, 1] from a (scrambled or plain) quasi-Monte-Carlo Sobol
    design of ``nb_design`` points (a power of two), upsampled nearest to the input.
    The perturbed input is, with M the upsampled mask: ``inpainting`` x·M + (1-M)·µ
    (µ = 0 of the model's input space), ``blur`` x·M + (1-M)·blur(x), ``amplitude``
    x·M (in pixel space). The score of cell i is the Jansen estimate of its total
    index ST_i = E[Var(f | X_~i)] / Var(f) for f the target's softmax probability
    (explainers/core/sobol.py). Min-max scaled to [0, 1]. Passes: nb_design · (grid_size² + 2),
    plus the unmasked image.
    """
    g = _int({"grid_size": grid_size}, "grid_size", 1)
    if perturbation not in PERTURBATIONS:
        raise ExplainerError(f"Unknown perturbation {perturbation!r}: use {', '.join(PERTURBATIONS)}.")
    masker = ImageMasker(model, image, PERTURBATIONS[perturbation])
    if g > min(masker.size):
        raise ExplainerError(f"grid_size ({g}) cannot exceed the model input's side ({min(masker.size)} pixels).")
    a_b = sobol_core.design_matrices(g * g, nb_design, seed, scramble)
    n_rows = sobol_core.design_size(g * g, nb_design)

    def masks(a: int, b: int) -> torch.Tensor:
        cells = torch.from_numpy(sobol_core.design_rows(*a_b, a, b)).float().to(masker.x.device).view(-1, g, g)
        return cells_to_pixels(cells, masker.size)

    logits = batched_logits(model, n_rows + 1, whole_image_first(masks, masker))
    probs, index = target_probability(logits, target)
    indices = sobol_core.jansen_total_order(probs[1:].cpu().numpy(), g * g, nb_design)
    saliency = torch.from_numpy(indices.reshape(g, g)).float()
    return to_pixel_grid(saliency, image.shape[0], image.shape[1]), index


def _int(params, name: str, low: int) -> int:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or value != int(value) or value < low:
        raise ExplainerError(f"{name} must be a whole number of at least {low}; got {value!r}.")
    return int(value)
