"""Timing helpers shared by the benchmarks: same process, interleaved, medians."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds for one call of ``fn``, with CUDA work finished before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn, device) for _ in range(repeats))


def forward_backward_floor(model, x: torch.Tensor, target: int) -> Callable[[], None]:
    """One bare forward + full backward pass of the model on a preprocessed input."""

    def run() -> None:
        model.module.zero_grad(set_to_none=True)
        model.module(x)[0, target].backward()

    return run


def best_forward_per_image(model, x: torch.Tensor, batch_sizes=(1, 4, 8, 16, 32, 64), repeats: int = 3) -> tuple[float, int]:
    """The fastest per-image forward time over batch sizes, and the batch that gives it."""
    best = (float("inf"), 1)
    with torch.inference_mode():
        for b in batch_sizes:
            batch = x.expand(b, *x.shape[1:]).contiguous()
            t = median_time(lambda: model.module(batch), model.device, repeats) / b
            best = min(best, (t, b))
    return best
