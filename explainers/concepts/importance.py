"""How much each concept matters to a class: importance estimated on the concept coefficients U.

The activations of an image at the split layer are rebuilt from its coefficients,
ũ W, at every spatial position, and the head h reads the class logit from them.
Four estimators (Lens framework, Fel et al. 2023), each giving one value per
concept and image:

- ``sobol`` (CRAFT): the Sobol total-order index of each concept when every
  coefficient of concept i is scaled by one quasi-Monte-Carlo mask value m_i ∈ [0, 1]
  (Jansen estimator, ``explainers.core.sobol``); nb_design · (r + 2) head passes per image.
- ``gradient-x-input``: Σ_positions u_i · ∂h/∂u_i; when h is linear in the pooled
  activations it equals ū_i · (W_i · w_class), the optimum the paper proves for the
  penultimate layer.
- ``occlusion``: h(U) − h(U with concept i zeroed).
- ``integrated-gradients``: Σ_positions u_i · mean over α of ∂h/∂u_i (α U), from
  the all-zero baseline, midpoint Riemann sum of ``ig_steps`` points.
"""

from __future__ import annotations

import numpy as np
import torch

from explainers.core.engine import batched_logits, check_cancel
from explainers.core.sobol import design, jansen_total_order

IMPORTANCES = ("sobol", "gradient-x-input", "occlusion", "integrated-gradients")
_FAST_HEAD_BATCH = 64  # a pooled + linear head: 64 maps of 1280 × 7 × 7 stay in cache (bench.bench_craft)


class ConceptHead:
    """h as a function of concept coefficients U (B, P, r) at P spatial positions → the class logit (B,)."""

    def __init__(self, split, W: np.ndarray, target: int):
        self.split = split
        self.W = torch.as_tensor(W, dtype=torch.float32, device=split.model.device)
        self.target = int(target)
        self.n_passes = 0  # passes through h (forward; a backward counts one more per input)

    def activations(self, U: torch.Tensor) -> torch.Tensor:
        A = U @ self.W  # (B, P, C): positions-major, i.e. a channels-last map, so the view below copies nothing
        if len(self.split.activation_shape) == 1:
            return A[:, 0, :]
        C, h, w = self.split.activation_shape
        return A.reshape(A.shape[0], h, w, C).permute(0, 3, 1, 2)

    def logit(self, U: torch.Tensor) -> torch.Tensor:
        self.n_passes += int(U.shape[0])
        return self.split.h(self.activations(U))[:, self.target].float()

    def logits_of(self, n: int, make_U) -> np.ndarray:
        """The class logit for n coefficient sets ``make_U(i, j)`` (batched, with progress and cancel)."""
        size = _FAST_HEAD_BATCH if self.split.fast_head else None
        out = batched_logits(self.split.model, n, make_U, batch_size=size, forward=self.logit)
        return out.cpu().numpy().astype(np.float64)

    def gradient(self, U: torch.Tensor) -> torch.Tensor:
        """∂ logit / ∂U for a batch (B, P, r): each input's logit depends only on its own U."""
        U = U.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self.logit(U).sum(), U)
        self.n_passes += int(U.shape[0])
        if not self.split.fast_head:
            self.split.model.count_backward(int(U.shape[0]))
        return grad


def sobol_importance(head: ConceptHead, U: np.ndarray, nb_design: int = 32, seed: int = 0) -> np.ndarray:
    """Total-order indices (n_images, r) of the concepts, images batched together."""
    n_images, _, r = U.shape
    masks = torch.as_tensor(design(r, nb_design, seed), dtype=torch.float32, device=head.W.device)
    per_image = masks.shape[0]
    Ut = torch.as_tensor(U, device=head.W.device)

    def make(i, j):
        rows = torch.arange(i, j, device=Ut.device)
        return Ut[rows // per_image] * masks[rows % per_image][:, None, :]

    y = head.logits_of(n_images * per_image, make).reshape(n_images, per_image)
    return np.stack([jansen_total_order(y[k], r, nb_design) for k in range(n_images)]).astype(np.float32)


def gradient_x_input_importance(head: ConceptHead, U: np.ndarray) -> np.ndarray:
    Ut = torch.as_tensor(U, device=head.W.device)
    check_cancel()
    return (Ut * head.gradient(Ut)).sum(1).cpu().numpy().astype(np.float32)


def integrated_gradients_importance(head: ConceptHead, U: np.ndarray, ig_steps: int = 32) -> np.ndarray:
    Ut = torch.as_tensor(U, device=head.W.device)
    total = torch.zeros_like(Ut)
    for alpha in (np.arange(int(ig_steps)) + 0.5) / int(ig_steps):
        check_cancel()
        total += head.gradient(float(alpha) * Ut)
    return (Ut * total / int(ig_steps)).sum(1).cpu().numpy().astype(np.float32)


def occlusion_importance(head: ConceptHead, U: np.ndarray) -> np.ndarray:
    n_images, _, r = U.shape
    keep = torch.ones(r + 1, r, device=head.W.device)
    keep[torch.arange(1, r + 1), torch.arange(r)] = 0  # row 0: all concepts; row 1 + i: concept i removed
    Ut = torch.as_tensor(U, device=head.W.device)

    def make(i, j):
        rows = torch.arange(i, j, device=Ut.device)
        return Ut[rows // (r + 1)] * keep[rows % (r + 1)][:, None, :]

    y = head.logits_of(n_images * (r + 1), make).reshape(n_images, r + 1)
    return (y[:, :1] - y[:, 1:]).astype(np.float32)


def concept_importance(head: ConceptHead, U: np.ndarray, method: str = "sobol", *, nb_design: int = 32,
                       seed: int = 0, ig_steps: int = 32) -> np.ndarray:
    """Local importances (n_images, r) from the coefficients U (n_images, positions, r)."""
    if method == "sobol":
        return sobol_importance(head, U, nb_design, seed)
    if method == "gradient-x-input":
        return gradient_x_input_importance(head, U)
    if method == "integrated-gradients":
        return integrated_gradients_importance(head, U, ig_steps)
    return occlusion_importance(head, U)


def importance_passes(method: str, r: int, nb_design: int, ig_steps: int) -> int:
    """Passes through h per image (a gradient counts its forward and its backward)."""
    return {"sobol": nb_design * (r + 2), "gradient-x-input": 2, "occlusion": r + 1,
            "integrated-gradients": 2 * ig_steps}[method]
