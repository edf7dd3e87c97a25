"""Gradient attributions for images, computed by Captum.

Every method works on the model's input grid: the image is preprocessed to
``x`` (1, 3, h, w) in the model's normalised space, Captum attributes the
target logit to ``x``, the (3, h, w) attribution is reduced over colour
channels to one map and brought onto the image's own pixel grid (bilinear).
Signed methods (``signed=True``: the sum over channels) are divided by their
largest absolute value into [-1, 1]; unsigned ones by their maximum into [0, 1].

The network is only ever called through ``model.forward`` (which counts
forward passes); a hook on the logits counts every sample that is
back-propagated, so ``Explanation.n_forward`` and ``n_backward`` are measured.

Baselines: ``"black"`` is a black image in the model's normalised space
(``model.preprocess`` of an all-zero image), ``"zeros"`` is the all-zero
tensor in that space (mid-grey for the embedded CNN). Black is the default.

Target: when no class is given, the top class is read from a forward pass at
``x``. Saliency, gradient × input, guided backprop and DeepLIFT read it from
their own first pass; integrated gradients, SmoothGrad and GradientSHAP never
evaluate ``x`` itself and spend one extra forward pass on it. Their cost
models count the passes for a given class.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import numpy as np
import torch
from captum.attr import (
    DeepLift,
    GradientShap,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)
from captum._utils.common import _register_backward_hook
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR, nonlinear
from timm.layers import activations as timm_act
from torch import nn

from explainers.core.engine import check_cancel, passes_made
from explainers.image.cam import preprocess_stack, row_targets
from explainers.image.maps import resize_map, scale_by_max_abs
from explainers.core.budget import image_backward_bytes
from explainers.core.registry import SEED, SharedPass, get_method, register
from models.errors import ExplainerError
from models.seeding import seeded as global_seeded

BASELINES = ("black", "zeros")
# Captum's riemann_trapezoid is left out: its weights sum to (n - 1) / n, not 1, so it scales the result.
QUADRATURES = ("gausslegendre", "riemann_middle", "riemann_left", "riemann_right")

# Element-wise non-linearities DeepLIFT's Rescale rule is applied to, beyond the ones Captum knows
# (ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus; max-pooling and softmax have their own rules).
ELEMENTWISE = (
    nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.SELU, nn.CELU,
    nn.PReLU, nn.Softsign, timm_act.Swish, timm_act.Mish, timm_act.Sigmoid, timm_act.Tanh, timm_act.HardSwish,
    timm_act.HardSigmoid, timm_act.HardMish, timm_act.GELU, timm_act.GELUTanh, timm_act.QuickGELU,
)  # fmt: skip
# Activations whose backward pass guided backprop clips to its positive part.
RELU_LIKE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.CELU, nn.SELU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish,
    nn.Softplus, timm_act.Swish, timm_act.Mish, timm_act.HardSwish, timm_act.HardMish, timm_act.GELU,
    timm_act.GELUTanh, timm_act.QuickGELU,
)  # fmt: skip


class CountedTarget(nn.Module):
    """The model's network as a module returning the target logit, called through ``model.forward``.

    ``index`` None: the top class of the first row of the first batch (that row
    must be ``x``). The network is a submodule, so Captum's module hooks reach it.
    """

    def __init__(self, model, index: int | None):
        super().__init__()
        self.net = model.module
        self.model = model
        self.index = index

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        check_cancel()
        logits = self.model.forward(batch)
        passes_made(batch.shape[0])  # Captum batches internally: progress and Cancel from here
        if self.index is None:
            self.index = int(logits[0].argmax())
        if logits.requires_grad:
            logits.register_hook(lambda grad: self.model.count_backward(int(grad.shape[0])))
        return logits[:, self.index]


def reference_input(model, kind: str) -> torch.Tensor:
    """The (1, 3, h, w) reference input: ``"black"`` (a preprocessed black image) or ``"zeros"``."""
    if kind == "black":
        return model.preprocess(np.zeros((*model.input_size, 3), dtype=np.uint8))
    if kind == "zeros":
        return torch.zeros(1, 3, *model.input_size, device=model.device)
    raise ExplainerError(f"Unknown baseline '{kind}'. Choose one of: {', '.join(BASELINES)}.")


def value_range(x: torch.Tensor) -> float:
    return float(x.detach().max() - x.detach().min())


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed the generators Captum draws from (torch's and numpy's global ones, under the process-wide RNG lock), restored afterwards."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ExplainerError(f"seed must be a whole number (got {seed!r}).")
    with global_seeded(seed, device):
        yield


def top_class(model, x: torch.Tensor, index: int | None) -> int:
    if index is not None:
        return index
    with torch.inference_mode():
        return int(model.forward(x)[0].argmax())


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ExplainerError(f"{name} must be a whole number of at least 1 (got {value!r}).")
    return int(value)


def non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise ExplainerError(f"{name} must be a non-negative number (got {value!r}).")
    return float(value)


class ExtendedDeepLift(DeepLift):
    """Captum's DeepLIFT with the Rescale rule also on ``ELEMENTWISE`` activations (ReLU6, SiLU, GELU, ...)."""

    def _is_non_linear(self, module: nn.Module) -> bool:
        return type(module) in SUPPORTED_NON_LINEAR or isinstance(module, ELEMENTWISE)

    def _register_hooks(self, module: nn.Module, attribute_to_layer_input: bool = True) -> None:
        hooked = len(self.forward_handles)
        super()._register_hooks(module, attribute_to_layer_input)
        if len(self.forward_handles) > hooked:
            # Hand the next module a copy of the output. Otherwise, when two hooked modules are adjacent
            # (max-pool then ReLU), this one records its output gradient before the next one has
            # rescaled it (Captum issue #1104) and summation-to-delta fails.
            self.forward_handles.append(module.register_forward_hook(lambda _m, _i, out: out.clone()))

    def _backward_hook(self, module, grad_input, grad_output):
        if type(module) in SUPPORTED_NON_LINEAR:
            return super()._backward_hook(module, grad_input, grad_output)
        if not self.satisfies_attribute_criteria(module):
            raise ExplainerError("DeepLIFT needs every activation module to be used once; this model reuses one.")
        multipliers = nonlinear(module, module.input, module.output, grad_input, grad_output, eps=self.eps)
        del module.input, module.output
        return multipliers


class ReluLikeGuidedBackprop(GuidedBackprop):
    """Captum's guided backprop with its ReLU rule on every ``RELU_LIKE`` activation, not only ``nn.ReLU``."""

    def _register_hooks(self, module: nn.Module) -> None:
        if isinstance(module, RELU_LIKE):
            self.backward_hooks.extend(_register_backward_hook(module, self._backward_hook, self))


def max_abs_channel(attribution: torch.Tensor) -> torch.Tensor:
    return attribution.abs().amax(dim=0)


def sum_channels(attribution: torch.Tensor) -> torch.Tensor:
    return attribution.sum(dim=0)


def captum_method(reduce: Callable[[torch.Tensor], torch.Tensor]):
    """The family builder (``register(..., wrap=captum_method(reduce))``): turn
    ``attribute(model, x, index, **params) -> ((1, 3, h, w), index)`` into an image explainer that reduces
    the attribution over colour channels with ``reduce``, brings it onto the image's grid and scales it."""

    def wrap(attribute, id: str):
        def explain_with(model, image, target, passes=None, **params):
            if passes is not None:  # the input gradients already made (INPUT_GRADIENTS): the method's rule on them
                params = {**params, "passes": passes}
            attribution, index = _grid_attribution(model, image, id, attribute, target, params)
            grid = resize_map(reduce(attribution), image.shape[0], image.shape[1])
            return scale_by_max_abs(grid), index

        explain_with.__doc__ = attribute.__doc__
        explain_with.attribute = attribute  # for ``model_grid_attribution``: the raw attribution
        return explain_with

    return wrap


def model_grid_attribution(model, image, method: str, target: int | None = None, **params):
    """The raw (3, h, w) attribution of ``method`` on the model's input grid, and the target index.

    ``image``: an H×W×3 uint8 array; ``params``: the method's parameters
    (defaults filled in from the registry).
    """
    spec = get_method(method, "image")
    return _grid_attribution(model, image, method, spec.fn.attribute, target, spec.resolve_params(params))


def _grid_attribution(model, image, method: str, attribute, target, params):
    with model.lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting .*hooks")  # Captum announcing its own (removed) hooks
        x = model.preprocess(image).requires_grad_(True)
        with torch.enable_grad():
            try:
                attribution, index = attribute(model, x, target, **params)
            except (RuntimeError, AssertionError) as exc:
                raise ExplainerError(f"{method} could not run on this model: {exc}") from exc
    return attribution.detach()[0], index


def one_pass(params, model=None, **sizes):
    return 1, 1


def input_gradients(model, image, target):
    """One forward and one backward of the target logit to the input (as Captum's ``Saliency`` makes them):
    ((x, ∂y/∂x, index), index), x and ∂y/∂x (1, 3, h, w) in the model's normalised space."""
    with model.lock:
        x = model.preprocess(image).requires_grad_(True)
        f = CountedTarget(model, target)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(torch.unbind(f(x)), x)
    return (x.detach(), grad.detach(), f.index), f.index


def input_gradients_batch(model, images, targets):
    """``input_gradients`` of several images in one forward of their stack and one backward of the sum of each
    row's target logit to the input: [((x, ∂y/∂x, index), index), ...], each as for that image alone (rows are
    independent in eval mode). Counts n forward and n backward passes (one per image, as alone)."""
    with model.lock:
        x = preprocess_stack(model, images).requires_grad_(True)
        with torch.enable_grad():
            logits = model.forward(x)
            index = row_targets(logits, targets)
            rows = torch.arange(len(images), device=logits.device)
            (grad,) = torch.autograd.grad(logits[rows, torch.tensor(index, device=logits.device)].sum(), x)
        model.count_backward(len(images))
    x, grad = x.detach(), grad.detach()
    return [((x[i:i + 1], grad[i:i + 1], index[i]), index[i]) for i in range(len(images))]


# One forward and one backward to the input, shared by saliency and gradient × input on one image and target;
# ``explain_batch``: one forward and one backward for a stack of images.
INPUT_GRADIENTS = SharedPass("input gradients", keys=(), compute=input_gradients, batch=input_gradients_batch)


def per_step(params, model=None, **sizes):
    return params["n_steps"], params["n_steps"]


def per_sample(params, model=None, **sizes):
    return params["n_samples"], params["n_samples"]


def two_inputs(params, model=None, **sizes):  # x and x' in one pass of two
    return 2, 2


# Peak memory: the images Captum sends through the network and back at once (explainers/core/budget.py).
ONE_INPUT = lambda params, model, **_: image_backward_bytes(model, 1)  # noqa: E731


# Captum's GradientSHAP has no batch size: all n_samples (input, baseline) pairs go through at once.
def in_batches(count: str):
    """``batch_size`` of the ``count`` points at once (fewer when there are fewer points)."""
    return lambda params, model, **_: image_backward_bytes(model, min(params["batch_size"], params[count]), copies=5)


ALL_SAMPLES = lambda params, model, **_: image_backward_bytes(model, params["n_samples"], copies=5)  # noqa: E731
# Maxima: n_steps and n_samples only cost time (batched), except GradientSHAP's samples (one batch);
# 32 images with autograd on the embedded EfficientNet take about 2.5 GB (76 MB saved for backward each).
STEP_LIMITS = {"n_steps": (1, 2048), "batch_size": (1, 32)}
SAMPLE_LIMITS = {"n_samples": (1, 4096), "noise_level": (0.0, 10.0), "batch_size": (1, 32), "seed": SEED}

CAPTUM = dict(modality="image", family="gradient")  # every Captum gradient method's place


@register("saliency", **CAPTUM, wrap=captum_method(max_abs_channel), cost=one_pass, memory=ONE_INPUT,
          shares=INPUT_GRADIENTS)
def _saliency(model, x, index, passes=None):
    """Saliency (Simonyan, Vedaldi & Zisserman, ICLR workshop 2014): max over colour channels of |∂y/∂x|."""
    if passes is not None:  # Captum's Saliency(abs=True) on gradients already made
        return passes[1].abs(), passes[2]
    f = CountedTarget(model, index)
    return Saliency(f).attribute(x, abs=True), f.index


@register("gradient-x-input", **CAPTUM, wrap=captum_method(sum_channels), cost=one_pass, memory=ONE_INPUT, signed=True,
          shares=INPUT_GRADIENTS)
def _gradient_x_input(model, x, index, passes=None):
    """Gradient × input (Shrikumar et al., 2016): Σ_c x_c ∂y/∂x_c, with x in the model's normalised space."""
    if passes is not None:  # Captum's InputXGradient on gradients already made
        return passes[0] * passes[1], passes[2]
    f = CountedTarget(model, index)
    return InputXGradient(f).attribute(x), f.index


@register("integrated-gradients", **CAPTUM, wrap=captum_method(sum_channels), cost=per_step,
          memory=in_batches("n_steps"), signed=True, limits=STEP_LIMITS,
          choices={"baseline": BASELINES, "quadrature": QUADRATURES},
          defaults={"n_steps": 32, "quadrature": "gausslegendre", "baseline": "black", "batch_size": 16})
def _integrated_gradients(model, x, index, n_steps=32, quadrature="gausslegendre", baseline="black", batch_size=16):
    """Integrated gradients (Sundararajan, Taly & Yan, ICML 2017): (x − x')·∫₀¹ ∂y/∂x(x' + α(x − x')) dα.

    Summed over colour channels. The integral is a ``quadrature`` over
    ``n_steps`` points (Gauss–Legendre by default), ``batch_size`` points per
    pass; x' is the baseline. The attributions sum to y(x) − y(x') up to the
    quadrature error, which on ReLU networks shrinks slowly: on the embedded
    CNN it takes about 256 steps to get within 1%.
    """
    if quadrature not in QUADRATURES:
        raise ExplainerError(f"Unknown quadrature '{quadrature}'. Choose one of: {', '.join(QUADRATURES)}.")
    steps, batch = positive_int("n_steps", n_steps), positive_int("batch_size", batch_size)
    if steps < 2 and quadrature != "gausslegendre":
        raise ExplainerError("Riemann sums need n_steps of at least 2.")
    reference = reference_input(model, baseline)
    f = CountedTarget(model, top_class(model, x, index))
    ig = IntegratedGradients(f)
    return ig.attribute(x, baselines=reference, n_steps=steps, method=quadrature, internal_batch_size=batch), f.index


@register("smoothgrad", **CAPTUM, wrap=captum_method(max_abs_channel), cost=per_sample,
          memory=in_batches("n_samples"), limits=SAMPLE_LIMITS,
          defaults={"n_samples": 16, "noise_level": 0.15, "batch_size": 16, "seed": 0})
def _smoothgrad(model, x, index, n_samples=16, noise_level=0.15, batch_size=16, seed=0):
    """SmoothGrad (Smilkov et al., 2017): the mean of |∂y/∂x| over noisy copies x + N(0, σ²) of the input.

    σ = noise_level·(max x − min x); the mean is of absolute gradients
    (Captum's ``smoothgrad`` over ``Saliency``), not of squared ones; then the
    max over colour channels. ``batch_size`` noisy copies per pass.
    """
    samples, batch = positive_int("n_samples", n_samples), positive_int("batch_size", batch_size)
    sigma = non_negative("noise_level", noise_level) * value_range(x)
    f = CountedTarget(model, top_class(model, x, index))
    tunnel = NoiseTunnel(Saliency(f))
    with seeded(seed, x.device):
        attribution = tunnel.attribute(
            x, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=batch, stdevs=sigma, abs=True
        )
    return attribution, f.index


@register("deeplift", **CAPTUM, wrap=captum_method(sum_channels), cost=two_inputs,
          memory=lambda params, model, **_: 2 * image_backward_bytes(model, 2),  # x, x'; the hooks keep as much
          signed=True, defaults={"baseline": "black"}, choices={"baseline": BASELINES})
def _deeplift(model, x, index, baseline="black"):
    """DeepLIFT, Rescale rule (Shrikumar, Greenside & Kundaje, ICML 2017): contributions summing to y(x) − y(x').

    Summed over colour channels; x' is the baseline. Captum's implementation,
    with the Rescale rule (multiplier Δout/Δin) on every activation module:
    ReLU, ReLU6, LeakyReLU, PReLU, ELU, CELU, SELU, SiLU/Swish, GELU,
    Hardswish, Hardsigmoid, Hardtanh, Mish, Sigmoid, Tanh, Softplus, Softsign
    (torch's and timm's classes), and Captum's rules for max-pooling and
    softmax modules; in-place activations are fine. Everything else is taken
    as linear, so non-linearities written as functions inside ``forward``
    (squeeze-excitation gating, attention) break summation-to-delta, and an
    activation module used twice is refused. One pass of x and x' together.
    """
    reference = reference_input(model, baseline)
    f = CountedTarget(model, index)
    try:
        attribution = ExtendedDeepLift(f).attribute(x, baselines=reference)
    finally:
        forget_deeplift_state(model.module)
    return attribution, f.index


@register("gradient-shap", **CAPTUM, wrap=captum_method(sum_channels), cost=per_sample, memory=ALL_SAMPLES,
          signed=True, defaults={"n_samples": 16, "noise_level": 0.1, "seed": 0},
          limits={"n_samples": (1, 32), "noise_level": (0.0, 10.0), "seed": SEED})
def _gradient_shap(model, x, index, n_samples=16, noise_level=0.1, seed=0):
    """GradientSHAP (Lundberg & Lee, NeurIPS 2017): E[(x − x')·∂y/∂x(x' + α(x − x'))], x' ~ baselines, α ~ U(0, 1).

    Expected gradients, summed over colour channels. The baselines x' are
    ``n_samples`` black images plus Gaussian noise of standard deviation
    noise_level·(max x − min x); Captum draws ``n_samples`` (x', α) pairs.
    """
    samples = positive_int("n_samples", n_samples)
    sigma = non_negative("noise_level", noise_level) * value_range(x)
    f = CountedTarget(model, top_class(model, x, index))
    black = reference_input(model, "black")
    with seeded(seed, x.device):
        references = black + sigma * torch.randn((samples, *black.shape[1:]), device=x.device)
        attribution = GradientShap(f).attribute(x, baselines=references, n_samples=samples, stdevs=0.0)
    return attribution, f.index


@register("guided-backprop", **CAPTUM, wrap=captum_method(max_abs_channel), cost=one_pass, memory=ONE_INPUT)
def _guided_backprop(model, x, index):
    """Guided backpropagation (Springenberg et al., ICLR workshop 2015): ∂y/∂x with negative gradients stopped at ReLUs.

    Max over colour channels of the absolute value. At every ReLU-like
    activation module (ReLU, ReLU6, LeakyReLU, PReLU, ELU, CELU, SELU,
    SiLU/Swish, GELU, Hardswish, Mish, Softplus; torch's and timm's classes)
    the gradient, after the activation's own derivative, is clipped to its
    positive part. Other modules back-propagate as usual. Its maps hardly
    depend on the class (Nie, Zhang & Patel, ICML 2018).
    """
    f = CountedTarget(model, index)
    return ReluLikeGuidedBackprop(f).attribute(x), f.index


def forget_deeplift_state(module: nn.Module) -> None:
    """Drop the tensors DeepLIFT leaves on activations its backward pass did not reach."""
    for m in module.modules():
        if type(m) in SUPPORTED_NON_LINEAR or isinstance(m, ELEMENTWISE):
            for name in ("input", "output"):
                if isinstance(getattr(m, name, None), torch.Tensor):
                    delattr(m, name)
