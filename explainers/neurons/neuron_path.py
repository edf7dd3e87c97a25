"""The influential neuron path of a vision transformer (Wang et al., "Discovering Influential Neuron Path in
Vision Transformers", ICLR 2025).

Neurons: the FFN intermediate units of each transformer block, after the activation function — the input of the
block's second FFN Linear (timm ``blocks.i.mlp.fc2``, Hugging Face ``layers.i.mlp.fc2`` / ``output.dense``;
``models.adapters.vit.ffn_layers`` names them). A neuron's activation on an image is its value at every token
(class token and patches); the method treats the neuron as that whole vector, as the paper does: scaling a
neuron scales it at every token. Where one number per neuron is needed (the "top activation" rule of the
ablation check) it is the mean over tokens.

Joint influence of a set S of neurons across layers (the paper's joint attribution score): integrated gradients
along the path on which every neuron of S is set to α·a (a: its activation on the image, at every token) for α
from 0 to 1, every other unit as the model computes it,

    JI(S) = Σ_{(l, n) ∈ S} Σ_t a_{l,n,t} ∫₀¹ ∂F/∂z_{l,n,t}(α a) dα,

F the target class's probability. By the chain rule JI(S) = F(S at a) − F(S at 0) up to the quadrature error
(``n_steps`` Gauss–Legendre points; "completeness", tests/unit/test_neuron_path.py). F(S at a) is the model's
own probability: setting a neuron to its value changes nothing.

Layer-progressive search: at block l, each candidate neuron n is scored by JI(path so far ∪ {(l, n)}); the best
joins the path, then block l + 1. Candidates: the ``candidates`` neurons of the block with the largest first-order
influence (gradient × activation summed over tokens, from one forward and backward at the image: JI's linear
approximation); ``candidates=0``: every neuron. All of a block's candidates × steps go through the model in
batches of ``batch_size`` rows, one forward and one backward per row.

Ablation check (the paper's): the class probability with the path's neurons zeroed (at every token), against
``n_random`` random paths (one neuron per block, seeded) and the path of a simpler rule, the neuron with the
largest mean activation in each block.

Scores (the map on the image): the mean over the path of each neuron's activation map over the patch grid, each
divided by its largest |value|, brought onto the image's pixel grid and divided by its largest |value| (signed).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from explainers.core.budget import image_backward_bytes
from explainers.core.engine import batched_logits, passes_made
from explainers.core.registry import SEED, register
from explainers.image.maps import resize_map, scale_by_max_abs
from models.adapters.vit import ffn_layers, to_feature_map
from models.errors import ExplainerError

METHOD = "neuron-path"  # its id: the Neurons page imports it (pages name no method themselves)

N_STEPS, CANDIDATES, N_RANDOM, BATCH = 16, 16, 20, 64
NOT_A_VIT = ("neuron-path explains vision transformers (timm or Hugging Face ViT/DeiT): it needs the FFN layers of "
             "transformer blocks, which this model does not have.")


def neuron_layers(model) -> list[str]:
    """The FFN layers (``ffn_layers``) of an image model's network; [] when it has none or takes no hooks."""
    if not getattr(model, "supports_layers", False) or getattr(model, "module", None) is None:
        return []
    return ffn_layers(model.module, getattr(model, "layout", None))


def is_vit(model) -> bool:
    """``requires``: neuron-path applies to image models with transformer blocks (``neuron_layers``)."""
    return bool(neuron_layers(model))


def widths(model) -> list[int]:
    """Neurons per block."""
    return [int(model.module.get_submodule(name).in_features) for name in neuron_layers(model)]


def _candidates(k, width: int) -> int:
    return width if not k else min(int(k), width)


def neuron_path_cost(params, model=None, **sizes) -> tuple[int, int]:
    """One forward and backward at the image (target, activations, first-order scores); per block, candidates ×
    n_steps rows forward and backward; the ablation check: the path, ``n_random`` random paths and the top-activation
    path forward."""
    sizes_per_block = widths(model) if model is not None and is_vit(model) else []
    search = sum(_candidates(params["candidates"], w) for w in sizes_per_block) * int(params["n_steps"])
    return 1 + search + 2 + int(params["n_random"]), 1 + search


def neuron_path_memory(params, model, **_) -> int:
    return image_backward_bytes(model, int(params["batch_size"]))


def _check(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ExplainerError(f"neuron-path: {name} must be a whole number of at least {low} (got {value!r}).")
    return int(value)


class _Neurons:
    """Pre-hooks on every block's FFN output Linear (while ``installed``) that overwrite chosen neurons, row by row:
    ``overwrite[block] = (index, values)`` puts ``values`` ((rows, tokens), or a scalar) in neuron ``index[row]`` of
    that block for each row of the next pass; with ``record`` on, ``recorded[block]`` keeps each block's activations
    (rows, tokens, width) as the model computed them."""

    def __init__(self, model, names: list[str]):
        self.modules = [model.module.get_submodule(name) for name in names]
        self.overwrite: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.recorded: list[torch.Tensor | None] = [None] * len(names)
        self.record = False

    def _hook(self, layer: int):
        def pre(_module, args):
            h = args[0]
            if h.ndim != 3:
                raise ExplainerError(f"neuron-path needs token activations (batch, tokens, neurons); block {layer}'s "
                                     f"FFN gives a {h.ndim}-D one.")
            if self.record:
                self.recorded[layer] = h
            if layer in self.overwrite:
                index, values = self.overwrite[layer]
                h = h.clone()
                h[torch.arange(h.shape[0], device=h.device), :, index] = values.to(h.dtype)
                return (h, *args[1:])
            return None
        return pre

    @contextmanager
    def installed(self):
        handles = [m.register_forward_pre_hook(self._hook(i)) for i, m in enumerate(self.modules)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self.overwrite.clear()


def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights of the n-point Gauss–Legendre rule on [0, 1]."""
    points, weights = np.polynomial.legendre.leggauss(n)
    return (points + 1) / 2, weights / 2


def joint_influence(model, x: torch.Tensor, target: int, neurons: list[tuple[int, int]], n_steps: int = 32,
                    batch_size: int = BATCH) -> float:
    """JI of one set of ``(block, neuron)`` pairs on the preprocessed input ``x`` (1, 3, h, w) for class ``target``
    (at most one neuron per block): the integral of the module docstring over ``n_steps`` Gauss–Legendre points."""
    names = neuron_layers(model)
    acts = _activations(model, x, names)
    influences = _influences(model, x, target, names, acts, neurons, [], n_steps, batch_size)
    return float(influences[0])


def _activations(model, x, names) -> list[torch.Tensor]:
    neurons = _Neurons(model, names)
    neurons.record = True
    with neurons.installed(), torch.inference_mode():
        model.forward(x)
    return [a[0].detach().clone() for a in neurons.recorded]


def _influences(model, x, target, names, acts, path, candidates, n_steps, batch_size) -> np.ndarray:
    """JI(path ∪ {(len(path), c)}) for each candidate neuron c of the next block (JI(path) when there are none):
    rows = candidates × steps, each one forward and one backward, in batches through the engine."""
    alphas, weights = _gauss_legendre(n_steps)
    sets = [list(path) + [(len(path), int(c))] for c in candidates] or [list(path)]
    blocks = [block for block, _ in sets[0]]
    if len(set(blocks)) != len(blocks):
        raise ExplainerError("A set of neurons for the joint influence holds at most one neuron per block.")
    n = len(sets) * n_steps
    device = x.device
    alpha_rows = torch.tensor(np.tile(alphas, len(sets)), dtype=torch.float32, device=device)
    chosen = torch.tensor([[n for _, n in s] for s in sets], dtype=torch.long, device=device).repeat_interleave(
        n_steps, dim=0)  # (rows, blocks in the set): each row's neuron per block
    hooks = _Neurons(model, names)

    def make_batch(i, j):
        return torch.arange(i, j, device=device)  # the rows; ``run`` builds their inputs

    def run(rows: torch.Tensor) -> torch.Tensor:
        b = rows.shape[0]
        alpha = alpha_rows[rows]
        leaves = []
        for member, block in enumerate(blocks):
            index = chosen[rows, member]
            a = acts[block][:, index].T  # (rows, tokens): each row's neuron's activation
            z = (alpha[:, None] * a).detach().requires_grad_(True)
            hooks.overwrite[block] = (index, z)
            leaves.append((z, a))
        probs = torch.softmax(model.forward(x.expand(b, *x.shape[1:])).float(), dim=1)[:, target]
        grads = torch.autograd.grad(probs.sum(), [z for z, _ in leaves])
        model.count_backward(b)
        return sum((g * a).sum(1) for g, (_, a) in zip(grads, leaves))

    with hooks.installed():
        per_row = batched_logits(model, n, make_batch, batch_size=batch_size, forward=run, grad=True)
    per_row = per_row.cpu().numpy().astype(np.float64).reshape(len(sets), n_steps)
    return per_row @ weights


def _first_order(model, x, names, target):
    """One forward and backward at the image: the target (top class when None), its probability, every block's
    activations (tokens, width) and each neuron's gradient × activation summed over tokens (JI's linearisation)."""
    hooks = _Neurons(model, names)
    hooks.record = True
    with hooks.installed(), torch.enable_grad():
        logits = model.forward(x.detach().requires_grad_(True))  # the activations need a graph (frozen weights)
        index = int(logits[0].argmax()) if target is None else int(target)
        prob = torch.softmax(logits.float(), dim=1)[0, index]
        grads = torch.autograd.grad(prob, hooks.recorded)
    model.count_backward(1)
    passes_made(1)
    acts = [a[0].detach() for a in hooks.recorded]
    scores = [(g[0] * a).sum(0) for g, a in zip(grads, acts)]
    return index, float(prob.detach()), acts, scores


def ablation(model, x, target, names, paths: list[list[int]], batch_size: int) -> np.ndarray:
    """The class probability with each path's neurons (one per block) zeroed at every token: one forward per path."""
    hooks = _Neurons(model, names)
    chosen = torch.tensor(paths, dtype=torch.long, device=x.device)  # (paths, blocks)
    def run(rows):
        for layer in range(len(names)):
            hooks.overwrite[layer] = (chosen[rows, layer], torch.zeros((), device=x.device))
        return torch.softmax(model.forward(x.expand(rows.shape[0], *x.shape[1:])).float(), dim=1)[:, target]

    with hooks.installed():
        probs = batched_logits(model, len(paths), lambda i, j: torch.arange(i, j, device=x.device),
                               batch_size=batch_size, forward=run)
    return probs.cpu().numpy().astype(np.float64)


def grid_map(model, activation: torch.Tensor) -> torch.Tensor:
    """One neuron's activation over the tokens (tokens,) laid on the patch grid (h, w)."""
    return to_feature_map(activation[None, :, None], model.layout, model.input_size)[0, 0]


@register(METHOD, modality="image", family="neurons", cost=neuron_path_cost, memory=neuron_path_memory,
          signed=True, requires=is_vit,
          defaults={"n_steps": N_STEPS, "candidates": CANDIDATES, "n_random": N_RANDOM, "seed": 0,
                    "batch_size": BATCH},
          limits={"n_steps": (1, 256), "candidates": (0, 4096), "n_random": (1, 200), "seed": SEED,
                  "batch_size": (1, 1024)})
def neuron_path(model, image, target, n_steps=N_STEPS, candidates=CANDIDATES, n_random=N_RANDOM, seed=0,
                batch_size=BATCH):
    """Influential neuron path (Wang et al., ICLR 2025): the FFN neuron per block that, added to the path so far, has the greatest joint influence.

    Joint influence: integrated gradients with the path's neurons scaled jointly from 0 to their activations
    (``n_steps`` Gauss–Legendre points), of the class probability; at each block the ``candidates`` neurons with the
    largest gradient × activation are tried (0: all). The map: where the path's neurons fire on the image. The
    ablation check zeroes the path, ``n_random`` random paths (seeded) and the top-activation path.
    """
    names = neuron_layers(model)
    if not names:
        raise ExplainerError(NOT_A_VIT)
    steps, k = _check("n_steps", n_steps, 1), _check("candidates", candidates, 0)
    n_random, batch = _check("n_random", n_random, 1), _check("batch_size", batch_size, 1)
    _check("seed", seed, 0)
    x = model.preprocess(image)
    index, prob, acts, first = _first_order(model, x, names, target)
    path: list[tuple[int, int]] = []
    influence: list[float] = []
    for layer, score in enumerate(first):
        tried = torch.argsort(score, descending=True)[:_candidates(k, score.numel())].cpu().numpy()
        ji = _influences(model, x, index, names, acts, path, tried, steps, batch)
        best = int(np.argmax(ji))
        path.append((layer, int(tried[best])))
        influence.append(float(ji[best]))
    rng = np.random.default_rng(int(seed))
    width = [a.shape[1] for a in acts]
    random_paths = [[int(rng.integers(w)) for w in width] for _ in range(n_random)]
    top_paths = [int(a.mean(0).argmax()) for a in acts]
    found = [n for _, n in path]
    probs = ablation(model, x, index, names, [found, top_paths, *random_paths], batch)
    maps = torch.stack([grid_map(model, acts[layer][:, n]) for layer, n in path]).float()
    peaks = maps.flatten(1).abs().amax(1).clamp_min(1e-12)
    mean = (maps / peaks[:, None, None]).mean(0)
    scores = scale_by_max_abs(resize_map(mean, image.shape[0], image.shape[1]))
    extras = {
        "path": path,
        "joint_influence": influence,
        "layers": names,
        "neuron_maps": maps.cpu().numpy().astype(np.float32),
        "candidates": [_candidates(k, w) for w in width],
        "ablation": {
            "probability": prob,
            "path": float(probs[0]),
            "top_activation": float(probs[1]),
            "top_activation_path": top_paths,
            "random": [float(p) for p in probs[2:]],
            "random_paths": random_paths,
        },
    }
    return scores, index, {"extras": extras}


def ablation_study(model, images, targets=None, progress=None, **params) -> dict:
    """The paper's check over a set of images: neuron-path on each (``params``: its parameters; ``targets``: a class
    per image, None: each image's top class), and how often zeroing the found path lowers the class probability more
    than the mean of the random paths and than the top-activation path. Returns the per-image probabilities
    (nothing zeroed, path, top-activation path, random paths' mean) and those two fractions;
    ``progress(done, total)`` after each image."""
    from explainers.core.explain import explain

    rows = {"probability": [], "path": [], "top_activation": [], "random_mean": [], "path_layers": []}
    for i, image in enumerate(images):
        target = None if targets is None else int(targets[i])
        a = explain(model, image, METHOD, target=target, **params).extras
        rows["probability"].append(a["ablation"]["probability"])
        rows["path"].append(a["ablation"]["path"])
        rows["top_activation"].append(a["ablation"]["top_activation"])
        rows["random_mean"].append(float(np.mean(a["ablation"]["random"])))
        rows["path_layers"].append([n for _, n in a["path"]])
        if progress is not None:
            progress(i + 1, len(images))
    path, random, top = (np.array(rows[k]) for k in ("path", "random_mean", "top_activation"))
    return {**rows, "n": len(path), "beats_random": float(np.mean(path < random)),
            "beats_top_activation": float(np.mean(path < top))}


def neuron_map_explanations(e, height: int, width: int) -> list:
    """Each path neuron's activation map of a neuron-path explanation ``e`` as an image explanation of its own
    (``extras["neuron"] = (block, neuron)``): the patch-grid map brought onto a ``height``×``width`` image and
    divided by its largest |value|, for the image overlay to draw over the input."""
    from explainers.core.explanation import Explanation

    out = []
    for (layer, neuron), grid in zip(e.extras["path"], np.asarray(e.extras["neuron_maps"])):
        scores = scale_by_max_abs(resize_map(torch.as_tensor(grid, dtype=torch.float32), height, width))
        out.append(Explanation(scores, method=e.method, modality=e.modality, model=e.model, target=e.target,
                               target_label=e.target_label, params=dict(e.params), device=e.device, signed=True,
                               extras={"neuron": (int(layer), int(neuron))}))
    return out


def path_rows(e) -> list[dict]:
    """The path as table rows: step, block, its FFN layer, neuron, joint influence after the step."""
    layers = e.extras.get("layers") or [""] * len(e.extras["path"])
    return [{"step": i + 1, "block": int(layer), "layer": layers[int(layer)] if int(layer) < len(layers) else "",
             "neuron": int(neuron), "joint influence": float(ji)}
            for i, ((layer, neuron), ji) in enumerate(zip(e.extras["path"], e.extras["joint_influence"]))]
