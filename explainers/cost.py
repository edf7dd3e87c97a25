"""What a method will cost on this device, before it runs: passes × measured time per pass."""

from __future__ import annotations

import time

import numpy as np
import torch

from explainers.registry import get_method

_PROBE_BATCH = 8


def pass_times(model) -> tuple[float, float]:
    """Seconds per forward pass (per image, at a small batch) and per backward pass, measured once per model."""
    cached = getattr(model, "_lumen_pass_times", None)
    if cached is not None:
        return cached
    with model.lock:
        measure = getattr(model, "measure_pass_times", None)  # models without an image input measure themselves
        model._lumen_pass_times = measure() if measure else _measure(model)
    return model._lumen_pass_times


def _measure(model) -> tuple[float, float]:
    if hasattr(model, "measure_pass_times"):  # models whose input is not an image (text) probe themselves
        return model.measure_pass_times()
    x = torch.zeros(_PROBE_BATCH, 3, *model.input_size, device=model.device)
    with torch.inference_mode():
        model.module(x)  # warm-up
        _sync(model.device)
        start = time.perf_counter()
        model.module(x)
        _sync(model.device)
        forward = (time.perf_counter() - start) / _PROBE_BATCH
    x1 = x[:1].clone().requires_grad_(True)
    start = time.perf_counter()
    with torch.enable_grad():
        out = model.module(x1)
        forward_one = time.perf_counter() - start
        out[0].sum().backward()
    _sync(model.device)
    backward = max(time.perf_counter() - start - forward_one, 0.0)
    model.module.zero_grad(set_to_none=True)
    return forward, backward


def estimate(model, method: str, params: dict | None = None, **sizes: int) -> tuple[int, int, float]:
    """(n_forward, n_backward, seconds) for ``method`` with ``params`` on ``model``'s device, for an input
    of ``sizes`` (see ``Method.estimate``)."""
    n_forward, n_backward = get_method(method, model.modality).estimate(params, model, **sizes)
    forward, backward = pass_times(model)
    return n_forward, n_backward, float(np.round(n_forward * forward + n_backward * backward, 3))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def estimate_memory(model, method: str, params: dict | None = None, **sizes: int) -> int:
    """Peak bytes ``method`` with ``params`` would need on ``model`` for an input of ``sizes`` (explainers/budget.py);
    a run above ``budget.run_budget()`` is refused before it starts."""
    return get_method(method, model.modality).estimate_memory(params, model, **sizes)
