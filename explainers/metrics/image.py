"""How faithful an image explanation is (agreement between explanations: explainers/metrics/agreement.py).

Images (on the model's input grid; the explanation is resized to it). The headline figures
(``HEADLINE["image"]`` is ``srg``, higher is better) perturb patches, not pixels: deleting scattered
pixels makes inputs unlike any the model saw, and a random map then "wins" pixel deletion.

- ``morf_auc`` / ``lerf_auc`` (region perturbation, Samek et al., "Evaluating the visualization of what a
  deep neural network has learned", IEEE TNNLS 2017; Quantus ``RegionPerturbation``): the grid is cut into
  ``REGION_CELLS`` × ``REGION_CELLS`` patches (16 × 16 pixels at 224), each scored by the mean of the map in
  it, and the patches are removed ``REGION_CELLS_PER_STEP`` at a time, most relevant first (MoRF; lower area
  is better) or least relevant first (LeRF; higher is better); the area under the softmax probability of the
  class over the share of patches removed, x ∈ [0, 1]. LeRF deletion is MoRF insertion read backwards (the
  same inputs), so the pair covers deletion and insertion.
- ``srg``, the symmetric relevance gain (Blücher, Vielhaben & Strodthoff, "Decoupling Pixel Flipping and
  Occlusion Strategy for Consistent XAI Benchmarks", TMLR 2024): AUC(LeRF) − AUC(MoRF). A random map's two
  orders are alike in distribution, so its gain is zero up to noise; higher is better.
- Removed patches are imputed by ROAD's noisy linear imputation (Rong et al., "A Consistent and Efficient
  Evaluation Strategy for Attribution Methods", ICML 2022; ``road_impute``) by default (``fill="road"``), so
  that the shape of the removed region carries little class information; a constant, blurred or black
  fill (explainers/image/maskers.py) is an option.
- ``deletion_auc`` / ``insertion_auc``: the RISE-paper pixel curves (Petsiuk et al., RISE, BMVC 2018),
  an option (``pixel_curves=True``: 450 more passes per map at 224 px, 5× the region figures): pixels are removed (set to the ``fill`` baseline, default 0 of the input space:
  the mean colour) or inserted (into a blurred copy of the image) in decreasing order of the
  explanation's score, ``pixels_per_step`` at a time; the area under the softmax probability of the
  class over the fraction of pixels changed, x ∈ [0, 1] (trapezoids). Lower deletion, higher insertion.
- ``average_drop`` and ``increase_in_confidence`` (Chattopadhyay et al.,
  Grad-CAM++, WACV 2018): the image multiplied by the explanation (min-max scaled
  to [0, 1]; signed maps keep their positive part) against the image itself:
  AD = max(0, Y − O) / Y · 100, IC = 1 if O > Y else 0.

``image_faithfulness_many`` measures several maps of one image in one engine call (Compare): their inputs fill
the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from explainers.core.engine import batched_logits_sets
from explainers.core.modality import HEADLINE  # noqa: F401  (the figure each modality's table sorts by)
from explainers.image.maskers import ImageMasker
from explainers.image.maps import resize_map
from explainers.core.explanation import Explanation
from models.errors import ExplainerError



@dataclass
class Curve:
    """A deletion or insertion curve: the class probability after each step, and its area."""

    fractions: np.ndarray  # x: share of pixels changed, 0 … 1
    probabilities: np.ndarray
    auc: float


def _on_input_grid(model, scores: np.ndarray) -> torch.Tensor:
    h, w = model.input_size
    return resize_map(torch.as_tensor(np.asarray(scores, dtype=np.float32)), h, w).to(model.device)


@dataclass
class _Inputs:
    """One metric's perturbed inputs of one map and how its result is read from the class probabilities: the unit
    ``_measure`` batches, so that the figures of several maps on one image go through the engine together."""

    n: int
    make: Callable[[int, int], torch.Tensor]  # inputs i..j-1 (preprocessed, on the model's device)
    target: int
    read: Callable[[np.ndarray], object]  # the target's softmax probabilities (n,) -> the metric's result


def _measure(model, sets: list[_Inputs]) -> list:
    """Every set's result, all their inputs in one engine call (``batched_logits_sets``)."""
    logits = batched_logits_sets(model, [(s.n, s.make) for s in sets])
    return [s.read(torch.softmax(z, dim=1)[:, s.target].cpu().numpy().astype(np.float64)) for s, z in zip(sets, logits)]


def _maskers(model, image):
    """A cache of ``ImageMasker``s of ``image`` by fill: one preprocessing per fill however many maps are measured."""
    made = {}

    def masker(fill):
        key = tuple(fill) if isinstance(fill, (list, tuple)) else fill
        if key not in made:
            made[key] = ImageMasker(model, image, fill=fill)
        return made[key]

    return masker


def _curve_inputs(model, masker, scores, target: int, insertion: bool, pixels_per_step: int) -> _Inputs:
    grid = _on_input_grid(model, scores)
    h, w = grid.shape
    n_pixels = h * w
    step = max(1, int(pixels_per_step))
    n_steps = -(-n_pixels // step)
    rank = torch.empty(n_pixels, dtype=torch.long, device=grid.device)
    rank[torch.argsort(grid.flatten(), descending=True, stable=True)] = torch.arange(n_pixels, device=grid.device)
    rank = rank.view(h, w)

    def make(i, j):
        changed = torch.arange(i, j, device=grid.device).view(-1, 1, 1) * step  # pixels changed at each step
        in_changed = (rank[None] < changed).float()
        return masker(in_changed if insertion else 1 - in_changed)

    fractions = np.minimum(np.arange(n_steps + 1) * step, n_pixels) / n_pixels
    return _Inputs(n_steps + 1, make, target,
                   lambda p: Curve(fractions, p, float(np.trapezoid(p, fractions))))


def _curve(model, image, scores, target: int, insertion: bool, pixels_per_step: int, fill) -> Curve:
    masker = ImageMasker(model, image, fill="blur" if insertion else fill)
    return _measure(model, [_curve_inputs(model, masker, scores, target, insertion, pixels_per_step)])[0]


def deletion_curve(model, image, scores, target: int, pixels_per_step: int = 224, fill="zero") -> Curve:
    return _curve(model, image, scores, target, False, pixels_per_step, fill)


def insertion_curve(model, image, scores, target: int, pixels_per_step: int = 224) -> Curve:
    return _curve(model, image, scores, target, True, pixels_per_step, "blur")


def deletion_auc(model, image, scores, target: int, pixels_per_step: int = 224, fill="zero") -> float:
    return deletion_curve(model, image, scores, target, pixels_per_step, fill).auc


def insertion_auc(model, image, scores, target: int, pixels_per_step: int = 224) -> float:
    return insertion_curve(model, image, scores, target, pixels_per_step).auc


def _confidence_inputs(model, masker, scores, target: int) -> _Inputs:
    grid = _on_input_grid(model, scores).clamp(min=0)
    low, high = grid.min(), grid.max()
    keep = (grid - low) / (high - low) if high > low else torch.ones_like(grid)
    batch = torch.stack([torch.ones_like(keep), keep])

    def read(p):
        y, o = p
        return float(max(0.0, y - o) / y * 100 if y > 0 else 0.0), float(o > y)

    return _Inputs(2, lambda i, j: masker(batch[i:j]), target, read)


def confidence_change(model, image, scores, target: int) -> tuple[float, float]:
    """(Average Drop in %, Increase in Confidence 0/1) for one image and its explanation."""
    masker = ImageMasker(model, image, fill="black")  # lerp(black, x, E) = x · E in pixel space
    return _measure(model, [_confidence_inputs(model, masker, scores, target)])[0]


# ------------------------------------------------------------------ region perturbation (the headline figures)

REGION_CELLS = 14  # cells a side: 16×16-pixel patches on a 224 grid
REGION_CELLS_PER_STEP = 4  # cells removed per step: 49 steps on a 14×14 grid
REGION_FILL = "road"
ROAD_NOISE = 0.01  # std of the noise added to imputed values, in the model's input space (Rong et al.: 0.01)
ROAD_ITERATIONS = 12  # neighbour-averaging sweeps after the coarse-to-fine start
REGION_FILLS = ("road", "zero", "blur", "black")
# The 8-neighbourhood weights of ROAD's noisy linear imputer (Rong et al. 2022, their code's NoisyLinearImputer).
_ROAD_KERNEL = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]])


@dataclass
class RegionCurves:
    """MoRF and LeRF deletion curves over the cells of a grid, and the symmetric relevance gain."""

    fractions: np.ndarray  # x: share of cells removed, 0 … 1
    morf: np.ndarray  # class probability, most relevant cells removed first
    lerf: np.ndarray  # least relevant first
    morf_auc: float
    lerf_auc: float
    order: np.ndarray  # cell indices (row-major) in MoRF order

    @property
    def srg(self) -> float:
        return self.lerf_auc - self.morf_auc


def _cell_index(h: int, w: int, g: tuple[int, int], device) -> torch.Tensor:
    """(h, w) row-major cell index of each pixel: pixel row r is in cell row floor(r · g / h) (as cells_to_pixels)."""
    rows, cols = (F.interpolate(torch.arange(n, dtype=torch.float32, device=device)[None, None], size=s)[0, 0].long()
                  for n, s in zip(g, (h, w)))
    return rows[:, None] * g[1] + cols[None, :]


def cell_scores(model, scores, cells: int = REGION_CELLS) -> torch.Tensor:
    """The explanation on the model grid averaged over each cell of a ``cells`` × ``cells`` grid -> (g, g')."""
    grid = _on_input_grid(model, scores)
    h, w = grid.shape
    g = (max(1, min(int(cells), h)), max(1, min(int(cells), w)))
    index = _cell_index(h, w, g, grid.device).flatten()
    total = torch.zeros(g[0] * g[1], device=grid.device).index_add_(0, index, grid.flatten().float())
    count = torch.zeros(g[0] * g[1], device=grid.device).index_add_(0, index, torch.ones_like(index, dtype=torch.float32))
    return (total / count).view(g)


def _smooth(v: torch.Tensor) -> torch.Tensor:
    """Each pixel's weighted mean of its in-image 8 neighbours (ROAD's weights), per channel."""
    c = v.shape[1]
    kernel = _ROAD_KERNEL.to(v.device, v.dtype).expand(c, 1, 3, 3)
    total = F.conv2d(v, kernel, padding=1, groups=c)
    weight = F.conv2d(torch.ones_like(v[:, :1]), kernel[:1], padding=1)
    return total / weight


def _pull(v: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Coarse-to-fine start: an unknown pixel takes the mean of the known ones in the smallest block that has any."""
    mean = v / known.clamp_min(1e-12)
    if bool((known > 0).all()) or min(v.shape[-2:]) <= 1:
        return torch.where(known > 0, mean, torch.zeros_like(mean))
    coarse = _pull(F.avg_pool2d(v, 2, ceil_mode=True), F.avg_pool2d(known, 2, ceil_mode=True))
    up = F.interpolate(coarse, scale_factor=2, mode="nearest")[..., : v.shape[-2], : v.shape[-1]]
    return torch.where(known > 0, mean, up)


def road_impute(x: torch.Tensor, keep: torch.Tensor, noise: float = ROAD_NOISE, iterations: int = ROAD_ITERATIONS,
                generator: torch.Generator | None = None, seeds=None) -> torch.Tensor:
    """ROAD's noisy linear imputation (Rong et al., "A Consistent and Efficient Evaluation Strategy for
    Attribution Methods", ICML 2022): every removed pixel (``keep`` < 0.5) takes the weighted mean of its
    8 neighbours (1/6 across an edge, 1/12 across a corner), known pixels stay, plus Gaussian noise of std
    ``noise`` on the removed ones. ROAD solves that linear system exactly; here it is approached by
    ``iterations`` Jacobi sweeps from a coarse-to-fine start (a lone removed pixel is exact after one sweep).
    The noise comes from ``generator``, or with ``seeds`` (one int per input) from a generator seeded per input,
    so an input's noise does not depend on the batch it is in.

    ``x``: (n, c, h, w) or (1, c, h, w), ``keep``: (n, 1, h, w) -> (n, c, h, w)."""
    known = (keep > 0.5).to(x.dtype)
    x = x.expand(known.shape[0], *x.shape[1:])
    v = _pull(x * known, known)
    for _ in range(int(iterations)):
        v = torch.lerp(_smooth(v), x, known)
    if noise:
        if seeds is not None:
            e = torch.stack([torch.randn(v.shape[1:], generator=torch.Generator().manual_seed(int(k)), dtype=v.dtype)
                             for k in seeds])
        else:
            e = torch.randn(v.shape, generator=generator, dtype=v.dtype, device="cpu")
        v = v + (1 - known) * float(noise) * e.to(v.device)
    return v


def _region_inputs(model, masker, scores, target: int, cells: int, cells_per_step: int, road: bool,
                   noise: float, seed: int) -> _Inputs:
    g_scores = cell_scores(model, scores, cells)
    n_cells = g_scores.numel()
    step = max(1, int(cells_per_step))
    n_steps = -(-n_cells // step)
    order = torch.argsort(-g_scores.flatten(), stable=True)  # MoRF; LeRF: argsort of the scores, ascending
    lerf = torch.argsort(g_scores.flatten(), stable=True)
    ranks = torch.empty((2, n_cells), dtype=torch.long, device=g_scores.device)
    ranks[0, order] = torch.arange(n_cells, device=g_scores.device)
    ranks[1, lerf] = torch.arange(n_cells, device=g_scores.device)
    # inputs: MoRF after 0..n_steps steps, then LeRF after 1..n_steps-1 steps
    which = torch.cat([torch.zeros(n_steps + 1, dtype=torch.long), torch.ones(max(0, n_steps - 1), dtype=torch.long)])
    removed = torch.cat([torch.arange(n_steps + 1), torch.arange(1, n_steps)]) * step
    h, w = masker.size
    index = _cell_index(h, w, tuple(g_scores.shape), masker.x.device)

    def make(i, j):
        rank = ranks[which[i:j].to(ranks.device)]  # (b, n_cells)
        keep_cells = (rank >= removed[i:j, None].to(rank.device)).float()  # (b, n_cells)
        keep = keep_cells[:, index][:, None]  # (b, 1, h, w)
        if road:  # each input's noise from its own seed: the same for every map at the same step
            return road_impute(masker.x, keep, noise, seeds=[int(seed) * 100_003 + k for k in range(i, j)]
                               ).contiguous(memory_format=torch.channels_last)
        return masker(keep)

    fractions = np.minimum(np.arange(n_steps + 1) * step, n_cells) / n_cells

    def read(p):
        morf = p[: n_steps + 1]
        lerf_p = np.concatenate([p[:1], p[n_steps + 1:], p[n_steps: n_steps + 1]]) if n_steps > 1 else morf.copy()
        return RegionCurves(fractions, morf, lerf_p, float(np.trapezoid(morf, fractions)),
                            float(np.trapezoid(lerf_p, fractions)), order.cpu().numpy())

    return _Inputs(len(which), make, target, read)


def _is_road(fill) -> bool:
    return isinstance(fill, str) and fill == "road"


def region_curves(model, image, scores, target: int, cells: int = REGION_CELLS,
                  cells_per_step: int = REGION_CELLS_PER_STEP, fill=REGION_FILL, noise: float = ROAD_NOISE,
                  seed: int = 0) -> RegionCurves:
    """Region perturbation (Samek et al., "Evaluating the visualization of what a deep neural network has
    learned", IEEE TNNLS 2017; Quantus ``RegionPerturbation``): the model grid is cut into ``cells`` × ``cells``
    patches, each scored by the mean of the map in it; patches are removed ``cells_per_step`` at a time, most
    relevant first (MoRF) and least relevant first (LeRF), ties in row-major order. Removed patches are
    imputed from their neighbours (``fill="road"``, ``road_impute``; the noise of the k-th input is seeded by
    ``seed`` and k, so every map meets the same noise at the same step) or set to a masker fill ("zero",
    "blur", "black", an (r, g, b) colour). The curves are the softmax probability of ``target`` over the share
    of patches removed, x ∈ [0, 1]; their areas by trapezoids. Both orders share the image (x = 0) and the
    all-removed input (x = 1): 2 · steps passes for both curves, one engine call."""
    masker = ImageMasker(model, image, fill="zero" if _is_road(fill) else fill)
    inputs = _region_inputs(model, masker, scores, target, cells, cells_per_step, _is_road(fill), noise, seed)
    return _measure(model, [inputs])[0]


def region_passes(model, cells: int = REGION_CELLS, cells_per_step: int = REGION_CELLS_PER_STEP) -> int:
    """Forward passes ``region_curves`` makes (both orders)."""
    h, w = model.input_size
    n_cells = max(1, min(int(cells), h)) * max(1, min(int(cells), w))
    n_steps = -(-n_cells // max(1, int(cells_per_step)))
    return 2 * n_steps if n_steps > 1 else n_steps + 1


def image_faithfulness(model, image, e: Explanation, pixels_per_step: int = 224, cells: int = REGION_CELLS,
                       cells_per_step: int = REGION_CELLS_PER_STEP, fill=REGION_FILL, pixel_curves: bool = False) -> dict:
    """The headline region figures of ``e`` for its target (``srg``, ``morf_auc``, ``lerf_auc``: patches, ROAD
    imputation), Average Drop and Increase in Confidence, and with ``pixel_curves`` the RISE-paper pixel figures
    (``deletion_auc``, ``insertion_auc``); the curves for drawing (lists: ``region_fractions``, ``morf_curve``,
    ``lerf_curve``; with the pixel curves ``fractions``, ``deletion_curve``, ``insertion_curve``)."""
    return image_faithfulness_many(model, image, [e], pixels_per_step, cells, cells_per_step, fill, pixel_curves)[0]


def image_faithfulness_many(model, image, explanations, pixels_per_step: int = 224, cells: int = REGION_CELLS,
                            cells_per_step: int = REGION_CELLS_PER_STEP, fill=REGION_FILL,
                            pixel_curves: bool = False) -> list[dict]:
    """``image_faithfulness`` of each explanation of ``image``, every figure of every map in ONE engine call (the
    batches fill across maps: on a GPU, a Compare's curves go through in a few large batches). Each map's figures
    equal those measured alone (up to the float noise of another batch composition)."""
    masker = _maskers(model, image)
    road = _is_road(fill)
    sets = []
    for e in explanations:
        sets.append(_region_inputs(model, masker("zero" if road else fill), e.scores, e.target, cells, cells_per_step,
                                   road, ROAD_NOISE, 0))
        if pixel_curves:
            sets.append(_curve_inputs(model, masker("zero"), e.scores, e.target, False, pixels_per_step))
            sets.append(_curve_inputs(model, masker("blur"), e.scores, e.target, True, pixels_per_step))
        sets.append(_confidence_inputs(model, masker("black"), e.scores, e.target))  # x · E in pixel space
    results = iter(_measure(model, sets))
    out = []
    for _ in explanations:
        region = next(results)
        figures = {"srg": region.srg, "morf_auc": region.morf_auc, "lerf_auc": region.lerf_auc}
        if pixel_curves:
            deletion, insertion = next(results), next(results)
            figures.update(deletion_auc=deletion.auc, insertion_auc=insertion.auc)
        drop, increase = next(results)
        figures.update(average_drop=drop, increase_in_confidence=increase)
        if pixel_curves:
            figures.update(fractions=deletion.fractions.tolist(), deletion_curve=deletion.probabilities.tolist(),
                           insertion_curve=insertion.probabilities.tolist())
        figures.update(region_fractions=region.fractions.tolist(), morf_curve=region.morf.tolist(),
                       lerf_curve=region.lerf.tolist())
        out.append(figures)
    return out


def faithfulness_passes(model, pixels_per_step: int = 224, cells: int = REGION_CELLS,
                        cells_per_step: int = REGION_CELLS_PER_STEP, pixel_curves: bool = False) -> int:
    """Forward passes ``image_faithfulness`` makes: the two region curves, the two pixel curves, the confidence pair."""
    h, w = model.input_size
    pixels = 2 * (-(-(h * w) // max(1, int(pixels_per_step))) + 1) if pixel_curves else 0
    return region_passes(model, cells, cells_per_step) + pixels + 2
