"""What a method will cost on this device, before it runs: its passes, each timed at the batch the run makes it in.

The probe (at first use of a model, and again once ``MAX_AGE_S`` old) times a forward pass and a forward and
backward pass at batch 1 and at the engine's batch (at most ``PROBE_CPU_BATCH``), after one warm-up of each
kind, on a real input: images in the engine's layout on a bundled photo, a text or a prompt at its own token
length (rounded up by less than 1/``TOKEN_SHARE``; a 254-token review costs ~10× a 20-token one per pass). A batch's time
is then a fixed part plus a part per input (the line through the two points), so that ``seconds`` times a
CAM's single gradient at batch 1, integrated gradients' path points at its ``batch_size`` and a perturbation
method's inputs at the engine's batch. What was wrong before (issue 17: estimates 2-3x off both ways): the
backward was timed cold (the first one builds autograd's state, ~10x a later one), the forward in the wrong
layout at one batch for every method, and every text at 20 tokens; a language model's generation was not
counted.

The estimate then follows the runs: each run of enough passes records how long it took against what the
unscaled probe predicted for it (``predicted_s``), and the probe is scaled by the median of the last few such
ratios (one odd run moves nothing). Kept per model in a weak dictionary here, never on the shared model.
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

from explainers.core.engine import CPU_CHANNELS_LAST, default_batch_size
from explainers.core.registry import get_method, share_groups
from models.errors import ExplainerError

PROBE_REPEATS = 2  # timings per probed batch (after one warm-up at batch 1): the least is kept
PROBE_CPU_BATCH = 8  # the largest batch probed on CPU, and on CUDA (the engine's own can be 512: too long for
PROBE_CUDA_BATCH = 32  # a probe); larger batches are timed on the line through batch 1 and this one
PROBE_CPU_TOKENS = 512  # ...but rows of few tokens are probed at the engine's batch up to this many tokens in all:
# past a few inputs a CPU's time per input stops falling as the line says (MiniLM, 11 tokens: integrated gradients'
# batch of 32 timed on the line through 1 and 8 was 0.58 of its time)
PROBE_IMAGE = "chelsea (cat)"  # the bundled photo image models are probed on (models/inputs/samples.py)
TOKEN_SHARE = 8  # text and prompts are probed at their length rounded up by less than 1/this of it (probe_tokens)
MAX_AGE_S = 600.0  # re-measure the probe after this long
RECENT_RUNS = 5  # runs whose ratio (measured / predicted) the median is taken over
MIN_RUN_PASSES = 8  # shorter runs are mostly overhead, not passes: they calibrate nothing
clock = time.monotonic  # tests replace it


@dataclass(frozen=True)
class Probe:
    """Seconds per input of a forward pass and of a backward pass, measured at batch 1 and at ``batch``.

    A batch's time is modelled as a fixed part plus a part per input (a line through the two points), so a
    method's passes are timed at the batch it makes them in: a CAM's single backward at batch 1, integrated
    gradients' path points at its ``batch_size``, a perturbation method's inputs at the engine's batch."""

    forward: tuple[float, float]  # per input, at batch 1 and at ``batch``
    backward: tuple[float, float]  # per input, the backward alone (forward-and-backward minus forward)
    batch: int
    engine_batch: int = 0  # the batch a long run's forward passes go in (0: ``batch``), timed on the line
    # a language model's greedy generation step (one row, the last position's logits only): (tokens, seconds) at
    # two row lengths; a step's time on the line through them. None: a step is timed as a forward at batch 1
    step: tuple[tuple[int, float], tuple[int, float]] | None = None

    @property
    def run_batch(self) -> int:
        return self.engine_batch or self.batch

    @classmethod
    def of(cls, value) -> "Probe":
        """A ``Probe``, or a (forward, backward) pair meaning the same per-input times at every batch."""
        if isinstance(value, Probe):
            return value
        forward, backward = (float(v) for v in value)
        return cls((forward, forward), (backward, backward), 1)

    def forward_s(self, batch: int) -> float:
        return _per_input(*self.forward, self.batch, batch)

    def backward_s(self, batch: int) -> float:
        return _per_input(*self.backward, self.batch, batch)

    def step_s(self, tokens: int) -> float:
        """Seconds of one greedy generation step on a row of ``tokens`` tokens."""
        if self.step is None:
            return self.forward_s(1)
        (n0, t0), (n1, t1) = self.step
        at = t1 if n1 == n0 else t0 + (t1 - t0) * (int(tokens) - n0) / (n1 - n0)
        return max(at, min(t0, t1) * 0.5)  # far below the probed rows: no less than half the shorter one's

    def generate_s(self, n_prompt: int, generated: int) -> float:
        """Seconds to generate ``generated`` tokens greedily after ``n_prompt`` (each step a row one token longer)."""
        return float(sum(self.step_s(int(n_prompt) + i) for i in range(int(generated))))

    def scaled(self, scale: float) -> "Probe":
        step = None if self.step is None else tuple((n, t * scale) for n, t in self.step)
        return Probe(tuple(t * scale for t in self.forward), tuple(t * scale for t in self.backward), self.batch,
                     self.engine_batch, step)


def _per_input(at_one: float, at_batch: float, probed: int, batch: int) -> float:
    """Seconds per input at ``batch``, from the per-input times at batch 1 and at ``probed`` (a fixed part per
    batch and a part per input: the line through the two batch times; a negative part, noise, is taken as 0)."""
    batch = max(1, int(batch))
    if probed <= 1 or batch == probed:
        return at_batch if batch == probed else at_one
    per_input = max((at_batch * probed - at_one) / (probed - 1), 0.0)
    fixed = max(at_one - per_input, 0.0)
    return fixed / batch + per_input


@dataclass
class _Times:
    probes: dict = field(default_factory=dict)  # token length (None: the model's default) -> (Probe, measured at)
    ratios: deque = field(default_factory=lambda: deque(maxlen=RECENT_RUNS))

    @property
    def scale(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 1.0

    def fresh(self, tokens) -> Probe | None:
        entry = self.probes.get(tokens)
        if entry is None or clock() - entry[1] > MAX_AGE_S:
            return None
        return entry[0]


_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_TIMES_LOCK = threading.Lock()


def probe_tokens(model, **sizes: int) -> int | None:
    """The token length a text or prompt of ``sizes`` is probed at (rounded up by less than 1/``TOKEN_SHARE``); None for inputs
    whose passes do not depend on a length (images, table rows)."""
    if "n_tokens" in sizes:  # a classified text: its content tokens and the two special ones
        n = int(sizes["n_tokens"]) + 2
    elif "n_prompt" in sizes:  # a prompt and its continuation go through the model together
        n = int(sizes["n_prompt"]) + int(sizes.get("n_target", 0))
    else:
        return None
    # rounded up to a multiple of a power of two under 1/TOKEN_SHARE of it (exact below 2 × TOKEN_SHARE tokens), so a
    # few lengths share a probe and none is timed more than 1/TOKEN_SHARE too long: a multiple of 8 timed a 9-token
    # review (11 with its special tokens) at 16 tokens, ~1.4x its passes
    step = 1 << max(0, n.bit_length() - 1 - TOKEN_SHARE.bit_length() + 1)
    return max(1, -(-n // step) * step)


def probe(model, tokens: int | None = None) -> Probe:
    """``model``'s ``Probe`` (at ``tokens`` for a text or a prompt), measured at first use and again once older
    than ``MAX_AGE_S``, scaled by what recent runs measured."""
    found = known_probe(model, tokens)
    if found is None:
        with model.lock:
            measured = Probe.of(_measure(model) if tokens is None else _measure(model, tokens))
        with _TIMES_LOCK:
            entry = _TIMES.get(model)
            if entry is None or all(entry.fresh(t) is None for t in entry.probes):
                entry = _TIMES[model] = _Times()  # every probe stale: the old runs are forgotten with them
            entry.probes[tokens] = (measured, clock())
        found = known_probe(model, tokens)
    return found


def known_probe(model, tokens: int | None = None) -> Probe | None:
    """``probe`` if measured and not stale, else None (measures nothing)."""
    with _TIMES_LOCK:
        entry = _TIMES.get(model)
        found = None if entry is None else entry.fresh(tokens)
        return None if found is None else found.scaled(entry.scale)


def pass_times(model) -> tuple[float, float]:
    """Seconds per forward pass (per input, at the engine's batch) and per backward pass (at batch 1) on
    ``model``: its probe, re-measured when older than ``MAX_AGE_S``, scaled by what recent runs measured."""
    found = probe(model)
    return found.forward_s(found.run_batch), found.backward_s(1)


def known_pass_times(model) -> tuple[float, float] | None:
    """``pass_times`` if they are measured and not stale, else None (measures nothing)."""
    found = known_probe(model)
    return None if found is None else (found.forward_s(found.run_batch), found.backward_s(1))


def record_run(model, n_forward: int, n_backward: int, runtime_s: float, predicted_s: float | None = None) -> None:
    """Calibrate ``model``'s pass times from a finished run (``explain`` calls this): ``predicted_s``, what the
    unscaled probe predicted for it (``predicted_s``), else its passes at the probe's flat times.
    Runs of fewer than ``MIN_RUN_PASSES`` passes, or on a model never probed, change nothing."""
    if n_forward + n_backward < MIN_RUN_PASSES or runtime_s <= 0:
        return
    with _TIMES_LOCK:
        entry = _TIMES.get(model)
        if entry is None or not entry.probes:
            return
        if predicted_s is None:
            found = entry.fresh(None) or next(iter(entry.probes.values()))[0]
            predicted_s = n_forward * found.forward_s(found.run_batch) + n_backward * found.backward_s(1)
        if predicted_s > 0:
            entry.ratios.append(runtime_s / predicted_s)


def probe_batch(model, engine_batch: int | None = None, tokens: int | None = None) -> int:
    """The batch a probe times: the engine's for a long run on this model (``engine_batch``, else the image
    engine's, explainers/core/engine.py), at most ``PROBE_CPU_BATCH`` (``PROBE_CUDA_BATCH`` on CUDA), or on CPU
    for rows of ``tokens`` tokens as many as ``PROBE_CPU_TOKENS`` tokens make, if more."""
    size = default_batch_size(model, 1 << 20) if engine_batch is None else int(engine_batch)
    cap = PROBE_CUDA_BATCH if torch.device(model.device).type == "cuda" else PROBE_CPU_BATCH
    if tokens and torch.device(model.device).type != "cuda":
        cap = max(cap, PROBE_CPU_TOKENS // int(tokens))
    return max(1, min(size, cap))


def _measure(model, tokens: int | None = None) -> Probe:
    """Time ``model``'s passes: a forward at batch 1 and at the engine's batch, in the engine's layout; a forward
    and backward at the same two batches. One warm-up of each kind (the first backward builds autograd's state: ten
    times a later one), then the least of ``PROBE_REPEATS``."""
    step = None
    if hasattr(model, "probe_passes"):  # models whose input is not an image (text, language) say how to run them
        engine_batch, forward, forward_backward = model.probe_passes(tokens)
        step = getattr(model, "probe_step", None)
    elif hasattr(model, "input_size"):
        engine_batch = default_batch_size(model, 1 << 20)
        forward, forward_backward = _image_passes(model)
    else:
        raise ExplainerError(f"{getattr(model, 'name', 'This model')}'s passes cannot be timed here.")
    batch = probe_batch(model, engine_batch, tokens)
    batches = (1, batch) if batch > 1 else (1,)
    # first a pass that keeps its activations, at the batch: freeing them raises glibc's dynamic mmap threshold, and
    # from then on the process's large blocks come from its heap, not from fresh zeroed pages: a CPU forward then
    # takes half the time (EfficientNet-Lite0 at batch 8: 18 → 9 ms per input). Any gradient run or longer run
    # leaves the process so, so the probe measures the state the runs meet (it was timing the slow one: estimates
    # ~1.8x the measured time for perturbation methods)
    forward_backward(batch)()
    forwards = [_timed(forward(b), model.device, warm=b == 1) / b for b in batches]
    both = [_timed(forward_backward(b), model.device, warm=b == 1) / b for b in batches]
    model_zero_grad = getattr(getattr(model, "module", None), "zero_grad", None)
    if model_zero_grad is not None:
        model_zero_grad(set_to_none=True)
    backwards = [max(fb - f, 0.0) for fb, f in zip(both, forwards)]
    if len(batches) > 1 and backwards[-1] <= 0 < backwards[0] and forwards[0] > 0:
        # noise made the batch's backward look free: take it as batch 1's, scaled as the forward scales
        backwards[-1] = backwards[0] * forwards[-1] / forwards[0]
    steps = None
    if step is not None:  # a language model's generation: a step on a row half the probed length and one as long
        lengths = sorted({max(1, (tokens or 32) // 2), tokens or 32})
        steps = tuple((n, _step_seconds(step(n), model.device)) for n in lengths)
        steps = steps if len(steps) == 2 else (steps[0], steps[0])
    return Probe((forwards[0], forwards[-1]), (backwards[0], backwards[-1]), batches[-1], int(engine_batch), steps)


def _image_passes(model):
    """A photo's passes, not zeros': real images make subnormal activations that zeros never do, and x86 CPUs
    compute those several times slower (EfficientNet-Lite0 on 2 cores: ~2× per pass on a photo)."""
    channels_last = CPU_CHANNELS_LAST and torch.device(model.device).type != "cuda"
    one = _probe_image(model)

    def forward(b):
        x = one.expand(b, *one.shape[1:]).contiguous()
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x

        def run():
            with torch.inference_mode():
                model.module(x)
        return run

    def forward_backward(b):
        x = one.expand(b, *one.shape[1:]).contiguous()  # Captum's gradients: the adapter's layout

        def run():
            x1 = x.clone().requires_grad_(True)
            with torch.enable_grad():
                torch.autograd.grad(model.module(x1)[:, 0].sum(), x1)
        return run

    return forward, forward_backward


def _probe_image(model) -> torch.Tensor:
    """A bundled photo as ``model`` takes it, (1, 3, h, w) on its device; zeros when it cannot be had."""
    try:
        from models.inputs.samples import sample_image

        with torch.inference_mode():
            return model.preprocess(sample_image(PROBE_IMAGE)).detach().clone()
    except Exception:  # noqa: BLE001 - no sample (a trimmed install) or a preprocess that refuses it
        return torch.zeros(1, 3, *model.input_size, device=model.device)


def _step_seconds(found, device) -> float:
    """Seconds of one greedy step from a model's ``probe_step``: ``(run, k)``, ``run`` making ``k`` steps of the
    generation loop (or a bare ``run`` making one)."""
    run, k = found if isinstance(found, tuple) else (found, 1)
    return _timed(run, device) / max(1, int(k))


def _timed(run, device, warm: bool = True) -> float:
    if warm:  # the first pass of a kind builds state (autograd's, the allocator's); a larger batch needs none
        run()
    times = []
    for _ in range(PROBE_REPEATS):
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times)  # other work on the machine only ever adds time: the least is the pass's own


def estimate_passes(model, method: str, params: dict | None = None, **sizes: int) -> tuple[int, int]:
    """(n_forward, n_backward) ``method`` with ``params`` makes on ``model`` for an input of ``sizes`` (no timing):
    its ``Method.estimate``, and the ``generated`` tokens' passes when a language model's run first generates
    its continuation (no target given)."""
    n_forward, n_backward = (int(n) for n in get_method(method, model.modality).estimate(params, model, **sizes))
    return n_forward + int(sizes.get("generated", 0)), n_backward


def estimate(model, method: str, params: dict | None = None, **sizes: int) -> tuple[int, int, float]:
    """(n_forward, n_backward, seconds) for ``method`` with ``params`` on ``model``'s device, for an input
    of ``sizes`` (see ``Method.estimate``): its passes timed by ``model``'s probe at the batches the run makes
    them in (``seconds``), a text or prompt probed at its own length."""
    n_forward, n_backward = estimate_passes(model, method, params, **sizes)
    spec = get_method(method, model.modality)
    found = probe(model, probe_tokens(model, **sizes))
    return n_forward, n_backward, float(np.round(run_seconds(found, n_forward, n_backward, spec, params, sizes, model), 3))


def run_seconds(found: Probe, n_forward: int, n_backward: int, spec, params, sizes: dict, model=None) -> float:
    """``seconds`` of a run's passes (``spec``'s with ``params`` on an input of ``sizes``), its generated tokens
    (a language model's greedy steps, one at a time: each about a pass of one row) timed apart, a CAM's
    backward (to its layer, not the input) as free, and a method's ``row_groups`` (rows of their own length and
    batch, on ``model``) as they go."""
    generated = int(sizes.get("generated", 0))
    params = spec.resolve_params(params or {})
    if spec.family == "cam":  # a CAM's backward stops at its layer, near the output: a few operations of the head
        n_backward = 0
    if spec.one_graph:  # one forward's graph, its backwards one at a time (``Method.one_graph``)
        return generate_s(found, sizes) + (n_forward - generated) * found.forward_s(1) + n_backward * found.backward_s(1)
    if spec.row_groups is not None and n_backward == 0:
        # rows shorter than the probed ones, or in smaller batches (ReAGent's): a CPU's time per token follows the
        # tokens a batch holds, so each row costs its share (its tokens over the probed row's) of a probed row in a
        # batch of as many tokens; the groups' rows are the method's passes (a rest, if any, timed as probed rows)
        probed = probe_tokens(None, **sizes) or 1
        total, rows_left = 0.0, n_forward - generated
        for rows, batch, tokens in spec.row_groups(params, model, **sizes):
            rows = min(int(rows), rows_left)
            share = min(1.0, float(tokens) / probed)
            size = max(1, round((found.run_batch if batch is None else int(batch)) * share))
            total += share * _batched(rows, size, found.forward_s)
            rows_left -= rows
        return generate_s(found, sizes) + total + seconds(found, rows_left, 0, params)
    return generate_s(found, sizes) + seconds(found, n_forward - generated, n_backward, params)


def generate_s(found: Probe, sizes: dict) -> float:
    """Seconds of a language model's greedy generation of ``sizes["generated"]`` tokens after ``sizes["n_prompt"]``
    (0 when nothing is generated): each step a row one token longer, only its last position's logits."""
    generated = int(sizes.get("generated", 0))
    return found.generate_s(int(sizes.get("n_prompt", 0)), generated) if generated else 0.0


def generate_seconds(model, **sizes: int) -> float:
    """Seconds ``model`` takes to generate the continuation of an input of ``sizes`` (``generated`` tokens; 0
    when the continuation is given) before a method's passes, as a page shows it."""
    return generate_s(probe(model, probe_tokens(model, **sizes)), sizes)


def seconds(found: Probe, n_forward: int, n_backward: int, params: dict | None = None) -> float:
    """Seconds for ``n_forward`` and ``n_backward`` passes by the probe ``found``. A backward pass goes with a
    forward at its batch: the method's ``batch_size`` where it has one, else all of them up to the probe's batch
    (one at a time for a single gradient, as a CAM makes it); the other forward passes at the engine's batch
    (full batches and the rest)."""
    params = params or {}
    backward_batch = min(n_backward, int(params.get("batch_size") or found.run_batch)) if n_backward else 1
    total = _batched(n_backward, backward_batch, lambda b: found.forward_s(b) + found.backward_s(b))
    return total + _batched(max(n_forward - n_backward, 0), found.run_batch, found.forward_s)


def forward_seconds(model, n: int, batch: int | None = None, **sizes: int) -> float:
    """Seconds for ``n`` forward passes on ``model`` over an input of ``sizes`` that are not a method's own: a
    page's faithfulness figures (at the engine's batch, or at ``batch``). A generated continuation:
    ``generate_seconds``."""
    found = probe(model, probe_tokens(model, **sizes))
    if batch is not None:
        return float(n * found.forward_s(batch))
    return float(seconds(found, n, 0))


def _batched(n: int, batch: int, per_input) -> float:
    """Seconds for ``n`` inputs in batches of ``batch`` (the last one smaller), at ``per_input(b)`` each."""
    if n <= 0:
        return 0.0
    batch = max(1, min(int(batch), n))
    full, rest = divmod(n, batch)
    return full * batch * per_input(batch) + (rest * per_input(rest) if rest else 0.0)


def probed(model) -> bool:
    """Whether ``model`` has been probed at all (a run on a model never probed calibrates nothing)."""
    with _TIMES_LOCK:
        entry = _TIMES.get(model)
        return entry is not None and bool(entry.probes)


def predicted_s(model, method: str, params: dict, **sizes: int) -> float | None:
    """What the unscaled probe predicts for a run (``record_run`` takes it); None when that probe is not
    measured or stale (this measures nothing)."""
    with _TIMES_LOCK:
        entry = _TIMES.get(model)
        found = None if entry is None else entry.fresh(probe_tokens(model, **sizes))
    if found is None:
        return None
    try:
        n_forward, n_backward = estimate_passes(model, method, params, **sizes)
    except Exception:  # noqa: BLE001 - a cost that cannot be computed: the flat times judge the run
        return None
    return run_seconds(found, n_forward, n_backward, get_method(method, model.modality), params, sizes, model)


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


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def estimate_memory(model, method: str, params: dict | None = None, **sizes: int) -> int:
    """Peak bytes ``method`` with ``params`` would need on ``model`` for an input of ``sizes`` (explainers/core/budget.py);
    a run above ``budget.run_budget()`` is refused before it starts."""
    return get_method(method, model.modality).estimate_memory(params, model, **sizes)


def estimate_sentence(costs: dict[str, tuple[int, int, float]], device: str = "", note: str = "") -> str:
    """What a page shows before Run: the passes and seconds of the chosen methods together, then each method's
    (``costs``: method -> ``estimate``), e.g. "Estimated cost: 202 forward + 1 backward passes ≈ 8.2 s on CPU
    (rise 8.1 s, grad-cam 0.09 s; ...)". ``note``: said after the per-method times."""
    from models.units import duration

    n_forward = sum(c[0] for c in costs.values())
    n_backward = sum(c[1] for c in costs.values())
    total = sum(c[2] for c in costs.values())
    each = ", ".join(f"{method} {duration(c[2])}" for method, c in costs.items()) if len(costs) > 1 else ""
    first_use = ("shap: a few seconds more the first time it runs in this server (its code is compiled once)"
                 if any(method.startswith("shap") for method in costs) else "")
    details = "; ".join(part for part in (each, "passes × the time per pass measured on this device at the batch "
                                                "each run makes them in", note, first_use) if part)
    where = f" on {device}" if device else ""
    return f"Estimated cost: {n_forward:,} forward + {n_backward:,} backward passes ≈ {duration(total)}{where} ({details})."
