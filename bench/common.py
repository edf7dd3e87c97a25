"""Helpers shared by the benchmarks: device-synchronised timing, the floors, interleaved runs."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def timed(fn: Callable[[], object], device) -> float:
    """Seconds for one call of ``fn``, with CUDA work finished before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], device, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn, device) for _ in range(repeats))


def forward_backward(model, x: torch.Tensor, target: int) -> Callable[[], None]:
    """The physical floor of a gradient method: one bare forward and one ``logit.backward()`` of the module."""

    def floor():
        model.module.zero_grad(set_to_none=True)
        model.module(x)[0, target].backward()

    return floor


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device, warmup: int = 1) -> dict[str, list[float]]:
    """Time every function ``repeats`` times, one of each per round, so that load drifts hit all alike."""
    for _ in range(warmup):  # allocator, autograd, thread pools
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def best_forward_per_image(model, x: torch.Tensor, batch_sizes=(1, 4, 8, 16, 32, 64), repeats: int = 3) -> tuple[float, int]:
    """The fastest per-image forward time over batch sizes, and the batch that gives it: the perturbation floor."""
    best = (float("inf"), 1)
    with torch.inference_mode():
        for b in batch_sizes:
            batch = x.expand(b, *x.shape[1:]).contiguous(memory_format=_memory_format(x))
            t = median_time(lambda: model.module(batch), model.device, repeats) / b
            best = min(best, (t, b))
    return best


def _memory_format(x: torch.Tensor):
    """``x``'s layout, kept by a batch built from it (``contiguous()`` alone turns channels-last back)."""
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
