"""What a method will cost on this device, before it runs: passes × time per pass.

Time per pass starts from a probe (a few passes at first use) and follows the runs themselves: each
run of enough passes records how long it took against what the current times predict, and the
estimate is the probe scaled by the median of the last few such ratios (one odd run moves nothing).
The probe is measured again once it is ``MAX_AGE_S`` old (the load on the server changes). Kept per
model in a weak dictionary here, never on the shared model.
"""

from __future__ import annotations

import statistics
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from explainers.core.registry import get_method, share_groups

_PROBE_BATCH = 8
MAX_AGE_S = 600.0  # re-measure the probe after this long
RECENT_RUNS = 5  # runs whose ratio (measured / predicted) the median is taken over
MIN_RUN_PASSES = 8  # shorter runs are mostly overhead, not passes: they calibrate nothing
clock = time.monotonic  # tests replace it


@dataclass
class _Times:
    probe: tuple[float, float]  # (forward, backward) seconds per pass, as measured
    measured_at: float
    ratios: deque = field(default_factory=lambda: deque(maxlen=RECENT_RUNS))

    @property
    def scale(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 1.0


_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TIMES_LOCK = threading.Lock()


def pass_times(model) -> tuple[float, float]:
    """Seconds per forward pass (per input, at a small batch) and per backward pass on ``model``:
    the probe, re-measured when older than ``MAX_AGE_S``, scaled by what recent runs measured."""
    times = known_pass_times(model)
    if times is None:
        with model.lock:
            probe = _measure(model)
        with _TIMES_LOCK:
            _TIMES[model] = _Times(probe, clock())
        times = known_pass_times(model)
    return times


def known_pass_times(model) -> tuple[float, float] | None:
    """``pass_times`` if they are measured and not stale, else None (measures nothing)."""
    with _TIMES_LOCK:
        entry = _TIMES.get(model)
        if entry is None or clock() - entry.measured_at > MAX_AGE_S:
            return None
        forward, backward = entry.probe
        return forward * entry.scale, backward * entry.scale


def record_run(model, n_forward: int, n_backward: int, runtime_s: float) -> None:
    """Calibrate ``model``'s pass times from a finished run (``explain`` calls this); runs of fewer than
    ``MIN_RUN_PASSES`` passes, or on a model never probed, change nothing."""
    if n_forward + n_backward < MIN_RUN_PASSES or runtime_s <= 0:
        return
    with _TIMES_LOCK:
        entry = _TIMES.get(model)
        if entry is None:
            return
        forward, backward = entry.probe
        predicted = n_forward * forward + n_backward * backward
        if predicted > 0:
            entry.ratios.append(runtime_s / predicted)


def _measure(model) -> tuple[float, float]:
    if hasattr(model, "measure_pass_times"):  # models whose input is not an image (text, language) probe themselves
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


def estimate_passes(model, method: str, params: dict | None = None, **sizes: int) -> tuple[int, int]:
    """(n_forward, n_backward) ``method`` with ``params`` makes on ``model`` for an input of ``sizes`` (no timing)."""
    return tuple(int(n) for n in get_method(method, model.modality).estimate(params, model, **sizes))


def estimate(model, method: str, params: dict | None = None, **sizes: int) -> tuple[int, int, float]:
    """(n_forward, n_backward, seconds) for ``method`` with ``params`` on ``model``'s device, for an input
    of ``sizes`` (see ``Method.estimate``)."""
    n_forward, n_backward = estimate_passes(model, method, params, **sizes)
    forward, backward = pass_times(model)
    return n_forward, n_backward, float(np.round(n_forward * forward + n_backward * backward, 3))


def shared_passes(model, methods: dict[str, dict], alone: dict[str, tuple]) -> dict[str, tuple]:
    """``alone`` (each method's cost run alone) with the passes a group shares (``share_groups``) carried by its first
    member and 0 for the others, as the runs then count them."""
    out = dict(alone)
    for members in share_groups(model.modality, methods):
        out.update({m: tuple(0 for _ in alone[m]) for m in members[1:]})
    return out


def estimate_many(model, methods: dict[str, dict], **sizes: int) -> dict[str, tuple[int, int, float]]:
    """``estimate`` of each method of ``methods`` run together on one input (``explain_many``, Compare): a group
    that shares its passes (``share_groups``) costs them once, carried by its first member (the others: 0), as
    the runs then count them."""
    return shared_passes(model, methods, {m: estimate(model, m, p, **sizes) for m, p in methods.items()})


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def estimate_memory(model, method: str, params: dict | None = None, **sizes: int) -> int:
    """Peak bytes ``method`` with ``params`` would need on ``model`` for an input of ``sizes`` (explainers/core/budget.py);
    a run above ``budget.run_budget()`` is refused before it starts."""
    return get_method(method, model.modality).estimate_memory(params, model, **sizes)
