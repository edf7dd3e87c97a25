"""The one perturbation engine: every method that runs the model many times goes through here.

``batched_logits`` owns batching, ``torch.inference_mode``, optional autocast,
halving the batch on out-of-memory, progress reporting and cancellation.
``run_control`` (set by ``explain()``) tells it whom to report to and what to
watch for a cancel, so methods never pass callbacks around.
"""

from __future__ import annotations

import contextvars
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from models.errors import ExplainerError

# CPU: small batches stay in cache and channels-last convolutions are faster (EfficientNet-Lite0, 2 cores:
# ~9 ms per image at batch 4-8 channels-last, ~18 ms at 32, ~27 ms at 32 channels-first; bench.bench_perturbation).
CPU_BATCH_SIZE = 8
CPU_CHANNELS_LAST = True
CUDA_MAX_BATCH = 512
_CUDA_BYTES_PER_PIXEL = 4 * 3 * 40  # a generous guess at activation memory per input value, refined by OOM halving
_CUDA_FREE_SHARE = 0.5
NOT_ENOUGH_MEMORY = "Not enough memory to run the model on even one input; free memory or use a smaller model."


class Cancelled(ExplainerError):
    """The person pressed Cancel; the run stopped between two batches."""

    def __init__(self, message: str = "Cancelled by the user."):
        super().__init__(message)


@dataclass
class _Control:
    progress: Callable[[int, int], None] | None
    cancel: threading.Event | None
    done: int = 0
    total: int = 0  # passes announced by ``expect`` or seen so far; grows when a method runs longer
    fixed: int | None = None  # the total announced before the run (``run_control(total=...)``): it never changes
    shown: int = -1  # the last ``done`` reported under a fixed total (it never goes back)
    part: tuple[int, int, int] | None = None  # (low, high, passes counted when it began): see ``begin_part``

    def report(self) -> None:
        """Tell ``progress`` the passes made: as they are counted, or, under a fixed total, as ``shown`` —
        never above ``fixed - 1`` before ``finish`` (a run longer than its estimate waits at the end) and never back."""
        if self.progress is None:
            return
        if self.fixed is None:
            self.progress(self.done, self.total)
            return
        low, high, base = self.part or (0, self.fixed, 0)
        self._show(low + min(max(self.done - base, 0), max(high - low - 1, 0)))

    def _show(self, shown: int) -> None:
        shown = min(shown, self.fixed - 1)
        if shown > self.shown:
            self.shown = shown
            self.progress(shown, self.fixed)


_CONTROL: contextvars.ContextVar[_Control | None] = contextvars.ContextVar("lumen_run_control", default=None)


@contextmanager
def run_control(progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None,
                total: int | None = None):
    """Route the progress and cancel of every ``batched_logits`` call inside the block.

    ``progress(done, total)`` counts forward passes over the whole block (all the
    engine calls a method makes), ``cancel`` is a ``threading.Event``: once set, the
    next batch raises ``Cancelled``.

    ``total``: the passes the block is expected to make, known before it starts (``explain`` gives its method's
    estimate): every report then carries this total, ``done`` never goes back and stays below it until
    ``finish`` says ``(total, total)``, however many passes the run makes (a data-dependent method that runs
    longer than its estimate waits just short of the end; one that stops earlier jumps to it).
    """
    token = _CONTROL.set(_Control(progress, cancel, fixed=None if total is None else max(1, int(total))))
    try:
        yield
    finally:
        _CONTROL.reset(token)


def finish() -> None:
    """The run under a fixed total is over: report ``(total, total)`` (the only report that reaches it)."""
    control = _CONTROL.get()
    if control is not None and control.fixed is not None and control.progress is not None \
            and control.shown < control.fixed:
        control.shown = control.fixed
        control.progress(control.fixed, control.fixed)


def begin_part(k: int, n: int) -> None:
    """A method whose passes depend on the data (ReAGent: each target token's probes stop when they do) says it
    begins part ``k`` of ``n`` equal parts of its run: under a fixed total, progress jumps to the part's start and
    the part's passes fill only its share. Nothing otherwise."""
    control = _CONTROL.get()
    if control is None or control.fixed is None or n <= 0:
        return
    low, high = control.fixed * k // n, control.fixed * (k + 1) // n
    control.part = (low, high, control.done)
    if control.progress is not None and low > 0:
        control._show(low)


def expect(total: int) -> None:
    """Announce how many passes the current run will make in all (for methods that call the
    engine several times, like shap), so that progress reports a stable total."""
    control = _CONTROL.get()
    if control is not None:
        control.total = max(control.total, int(total))


def check_cancel() -> None:
    """Raise ``Cancelled`` if the person pressed Cancel (for loops that do not go through ``batched_logits``)."""
    control = _CONTROL.get()
    if control is not None and control.cancel is not None and control.cancel.is_set():
        raise Cancelled()


def report_progress(done: int, total: int) -> None:
    """Cancel check and progress report for work that does not go through ``batched_logits`` (e.g. TreeSHAP):
    ``done`` of ``total`` of its own units; under a fixed total, that share of it (or of the current part)."""
    check_cancel()
    control = _CONTROL.get()
    if control is None or control.progress is None or not done:
        return
    if control.fixed is None:
        control.progress(done, total)
        return
    low, high, _ = control.part or (0, control.fixed, 0)
    control._show(low + int((high - low) * min(1.0, done / max(total, 1))))


def passes_made(n: int) -> None:
    """Count ``n`` passes made outside ``batched_logits`` (inside Captum's batching), report
    progress, and stop with ``Cancelled`` if Cancel was pressed (wrappers call this after each pass)."""
    control = _CONTROL.get()
    if control is not None:
        control.done += int(n)
        control.total = max(control.total, control.done)
        control.report()
    check_cancel()


def default_batch_size(model, n: int) -> int:
    """CUDA: what fits in half the free memory by a generous per-input guess; CPU: a fixed size."""
    device = torch.device(model.device)
    if device.type != "cuda":
        return max(1, min(n, CPU_BATCH_SIZE))
    free, _total = torch.cuda.mem_get_info(device)
    h, w = model.input_size
    per_input = _CUDA_BYTES_PER_PIXEL * h * w
    return max(1, min(n, CUDA_MAX_BATCH, int(free * _CUDA_FREE_SHARE // per_input)))


def engine_layout(batch: torch.Tensor) -> torch.Tensor:
    """A batch of images laid out as the engine feeds them: channels-last on CPU (same values, faster
    convolutions); as they come on CUDA."""
    if CPU_CHANNELS_LAST and batch.device.type == "cpu" and batch.ndim == 4:
        return batch.contiguous(memory_format=torch.channels_last)
    return batch


def batched_logits(
    model,
    n: int,
    make_batch: Callable[[int, int], torch.Tensor],
    batch_size: int | None = None,
    autocast: bool = False,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    grad: bool = False,
) -> torch.Tensor:
    """Logits (n, n_classes), float32, on ``model.device``, for n perturbed inputs.

    ``make_batch(i, j)`` returns the preprocessed inputs i..j-1 as a (j-i, 3, h, w)
    tensor on ``model.device``; it runs under ``torch.inference_mode`` too. Every
    input goes through ``model.forward`` (so it is counted; a batch that ran out of
    memory was attempted and stays counted). On out-of-memory the batch is halved and
    the same inputs are retried; the smaller size is kept. CPU batches are fed
    channels-last (same logits, faster convolutions). Progress is reported after each
    batch; a set cancel event stops before the next.

    ``forward(batch)``, optional, replaces ``model.forward`` and returns one row per input
    of any shape, e.g. a language model's target log-probabilities, or the head above a
    layer for concept importance (counting its passes is then its own business);
    ``grad=True`` runs it with autograd on instead of ``inference_mode`` (gradient methods
    whose ``forward`` back-propagates and returns gradients), with the same batching.
    """
    n = int(n)
    if n <= 0:
        raise ExplainerError("Nothing to evaluate: the method asked for no model passes.")
    control = _CONTROL.get()
    if control is not None:
        control.total = max(control.total, control.done + n)
    size = max(1, int(batch_size)) if batch_size else default_batch_size(model, n)
    on_cuda = torch.device(model.device).type == "cuda"
    use_autocast = bool(autocast) and on_cuda
    run = forward or model.forward
    out: torch.Tensor | None = None
    i = 0
    with torch.enable_grad() if grad else torch.inference_mode():
        while i < n:
            check_cancel()
            j = min(n, i + size)
            try:
                batch = make_batch(i, j)
                batch = engine_layout(batch)
                with torch.autocast("cuda") if use_autocast else nullcontext():
                    logits = run(batch)
            except RuntimeError as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(error):
                    raise
                if size == 1:
                    raise ExplainerError(NOT_ENOUGH_MEMORY) from None
                size = max(1, size // 2)
                release_cached(model)
                continue
            if out is None:
                out = torch.empty((n, *logits.shape[1:]), dtype=torch.float32, device=logits.device)
            out[i:j] = logits.detach().float()
            if control is not None:
                control.done += j - i
                control.report()
            i = j
    return out


def batched_logits_sets(model, sets: Sequence[tuple[int, Callable[[int, int], torch.Tensor]]], **kwargs) -> list[torch.Tensor]:
    """``batched_logits`` of several sets of inputs in ONE engine call: ``sets`` is ``[(n, make_batch), ...]``, each
    ``make_batch(i, j)`` indexed from 0 within its set, all giving inputs of one shape; the batches fill across the
    sets' boundaries (the metric curves of several maps on one input: a GPU batch holds them all). Returns the
    logits of each set, in order; the same passes as one call per set, fewer (and fuller) batches."""
    sizes = [int(n) for n, _ in sets]
    starts = [sum(sizes[:k]) for k in range(len(sizes))]

    def make(i, j):
        pieces = []
        for start, n, (_, make_set) in zip(starts, sizes, sets):
            lo, hi = max(i, start), min(j, start + n)
            if lo < hi:
                pieces.append(make_set(lo - start, hi - start))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    logits = batched_logits(model, sum(sizes), make, **kwargs)
    return [logits[start: start + n] for start, n in zip(starts, sizes)]


def is_out_of_memory(error: RuntimeError) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error).lower()
    return "out of memory" in message or "allocate" in message


def release_cached(model) -> None:
    if torch.device(model.device).type == "cuda":
        torch.cuda.empty_cache()
