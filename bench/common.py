"""Helpers shared by the benchmarks: device-synchronised timing, the gradient floor, interleaved runs."""

from __future__ import annotations

import time
from typing import Callable

import torch


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


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
