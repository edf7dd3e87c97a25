"""The run budget: how much memory one explanation may take, and each run's peak estimated before it starts.

Two guards, both before anything is allocated:

- **Maxima per parameter** (``register(..., limits=...)``): ``Method.resolve_params`` refuses a value
  beyond its maximum with a sentence that names the maximum. Pages give their widgets the same bounds.
- **A peak-memory estimate per run** (``register(..., memory=...)``): ``memory(params, model, **sizes)``
  in bytes, from the parameters, the model and the input's size. ``check_run`` refuses a run whose
  estimate exceeds ``run_budget()`` and names the largest value of the parameter that drives it.

The estimates are built from a few measured quantities of the model, measured once per model and
kept in a per-model store (models/per_model.py; never on the shared model object):
``activation_bytes``, the tensors autograd saves for one input (what a backward pass needs), and the
largest of them (what a forward pass without gradients needs at once, roughly three of those).
They are counted with ``torch.autograd.graph.saved_tensors_hooks`` (a per-thread hook, so no module
hook is ever visible to another session), under the model's lock.
"""

from __future__ import annotations

import math
import os

import psutil
import torch

from models.errors import ExplainerError
from models.per_model import PerModel

RUN_MEMORY_BYTES = 4 * 2**30  # one run's peak: a shared server keeps room for other sessions
AVAILABLE_SHARE = 0.5  # ... and never more than this share of the memory available when the run starts
ENV_VAR = "LUMEN_RUN_MEMORY_MB"  # operators: the run budget in MiB (still capped by the available share)
FLOAT = 4
DOUBLE = 8
_PROBE_TOKENS = (16, 32)  # sequence lengths the per-token and per-token² activation bytes are fitted from
_UNMEASURED_BYTES_PER_VALUE = 40  # a model whose autograd graph cannot be observed (TorchScript): a generous guess

DEVICE_SIZED_BATCH = 32  # see counted_batch
RUN_OVERHEAD_BYTES = 2 * 2**20  # a run's own Python objects (tokens, Captum's and shap's bookkeeping): a few MB

_MEASURED = PerModel()  # (model, "image" | "sequence") -> measured activation bytes


def configured_budget() -> int:
    """``RUN_MEMORY_BYTES``, or ``$LUMEN_RUN_MEMORY_MB`` when the operator sets it. Methods that size their
    batches from the budget use this one, so that their results never depend on the memory free at the time."""
    setting = os.environ.get(ENV_VAR, "").strip()
    if not setting:
        return RUN_MEMORY_BYTES
    try:
        return int(float(setting) * 2**20)
    except ValueError:
        raise ExplainerError(f"{ENV_VAR} must be a number of megabytes; it is {setting!r}.") from None


def run_budget() -> int:
    """Bytes one run may use: ``configured_budget()``, at most ``AVAILABLE_SHARE`` of the memory available now."""
    return int(min(configured_budget(), AVAILABLE_SHARE * psutil.virtual_memory().available))


def gigabytes(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 / 10 else f"{max(n, 0) / 2**20:.0f} MB"


# ---------------------------------------------------------------- measured once per model


def _saved(module: torch.nn.Module, run) -> tuple[int, int]:
    """(total, largest) bytes of the distinct tensors autograd saves during ``run()`` (parameters left out)."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return t
        key = storage.data_ptr()
        if key and key not in params:
            seen[key] = max(seen.get(key, 0), storage.nbytes())
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    del out
    return sum(seen.values()), max(seen.values(), default=0)


def _cached(model, key, measure):
    def locked():
        with model.lock:  # no other session's pass (or hook) runs on the shared model meanwhile
            return measure()

    return _MEASURED.get(model, key, locked)


def image_activation_bytes(model) -> tuple[int, int]:
    """(saved, largest) bytes of one image input through the network with autograd on."""

    def measure():
        x = torch.zeros(1, 3, *model.input_size, device=model.device, requires_grad=True)
        total, largest = _saved(model.module, lambda: model.module(x))
        if total == 0:
            total = largest = _UNMEASURED_BYTES_PER_VALUE * x.numel()
        return total, largest

    return _cached(model, "image", measure)


def sequence_activation_bytes(model, n_tokens: int) -> tuple[int, int]:
    """(saved, largest) bytes of one sequence of ``n_tokens`` with autograd on, from a fit a·L + b·L²
    to two short probes (text classifiers: token ids; language models: input embeddings)."""

    def probe(length: int):
        if model.modality == "generation":
            embeds = model.embeddings(torch.full((1, length), 1, device=model.device)).detach().requires_grad_(True)
            return _saved(model.module, lambda: model.module(inputs_embeds=embeds, use_cache=False, logits_to_keep=1))
        ids = torch.full((1, length), int(model.pad_token_id), device=model.device)
        ones = torch.ones_like(ids)
        return _saved(model.module, lambda: model.module(ids, ones))

    def measure():
        short, long = _PROBE_TOKENS
        return [_fit(short, long, a, b) for a, b in zip(probe(short), probe(long))]

    (a_total, b_total), (a_big, b_big) = _cached(model, "sequence", measure)
    n = max(1, int(n_tokens))
    return int(a_total * n + b_total * n * n), int(a_big * n + b_big * n * n)


def _fit(l1: int, l2: int, y1: int, y2: int) -> tuple[float, float]:
    """(a, b) >= 0 with a·l + b·l² through (l1, y1) and (l2, y2)."""
    b = max(0.0, (y2 / l2 - y1 / l1) / (l2 - l1))
    a = max(0.0, y1 / l1 - b * l1, y2 / l2 - b * l2)
    return a, b


def _config(model):
    """A transformers config among the model's modules (layers, heads, hidden size), or None."""
    for module in model.module.modules():
        config = getattr(module, "config", None)
        if all(hasattr(config, name) for name in ("num_hidden_layers", "num_attention_heads")):
            return config
    return None


def attention_bytes(model, n_tokens: int) -> int:
    """Every layer's attention weights (layers × heads × L² floats), as attention methods ask for them."""
    config = _config(model)
    if config is None:
        return 0
    return int(config.num_hidden_layers * config.num_attention_heads * n_tokens * n_tokens * FLOAT)


# ---------------------------------------------------------------- building blocks of the estimates


def forward_bytes(largest: int, input_bytes: int) -> int:
    """One input through the network without autograd: its input, and about three activations alive at once."""
    return input_bytes + 3 * largest


def image_input_bytes(model) -> int:
    h, w = model.input_size
    return 3 * h * w * FLOAT


def n_classes(model) -> int:
    return max(1, len(getattr(model, "labels", None) or [1]))


def counted_batch(model, batch: int) -> int:
    """A batch size as the estimates count it. On CUDA, batches Lumen sizes itself fit the GPU's free memory
    (and halve on out-of-memory), so they are counted as a CPU-sized batch: the run budget bounds the server."""
    if torch.device(model.device).type == "cuda":
        return max(1, min(int(batch), DEVICE_SIZED_BATCH))
    return max(1, int(batch))


def engine_bytes(model, n: int, batch_size: int | None = None, mask_bytes: int = 0) -> int:
    """The perturbation engine on an image model: one batch of masked inputs through the network,
    and its output (n × classes floats)."""
    from explainers.core.engine import default_batch_size

    batch = min(n, int(batch_size)) if batch_size else counted_batch(model, default_batch_size(model, n))
    _, largest = image_activation_bytes(model)
    per_input = forward_bytes(largest, image_input_bytes(model)) + image_input_bytes(model) + mask_bytes
    return batch * per_input + n * n_classes(model) * FLOAT


def image_backward_bytes(model, n_inputs: int, copies: int = 3) -> int:
    """``n_inputs`` images through the network and back at once, with ``copies`` input-sized tensors each
    (the input, its gradient, the method's own: baselines, noise, scaled inputs)."""
    saved, _ = image_activation_bytes(model)
    return n_inputs * (saved + copies * image_input_bytes(model))


def text_forward_bytes(model, n_tokens: int, batch: int) -> int:
    n = n_tokens + 2  # [CLS] and [SEP]
    _, largest = sequence_activation_bytes(model, n)
    return batch * (forward_bytes(largest, n * 8) + attention_bytes(model, n) // max(1, _layers(model)))


def _layers(model) -> int:
    config = _config(model)
    return int(config.num_hidden_layers) if config is not None else 1


def lm_logits_bytes(model, n_target: int) -> int:
    """The kept logits of one row and their log-softmax: (n_target + 1) × vocabulary floats, twice."""
    return 2 * (n_target + 1) * int(model.vocab_size) * FLOAT


# ---------------------------------------------------------------- the check


def input_sizes(model, x, target=None, params: dict | None = None) -> dict[str, int]:
    """The sizes of an input that estimates take: its modality spec's ``sizes`` (explainers/core/modality.py)."""
    from explainers.core.modality import input_sizes as sizes

    return sizes(model, x, target, params)


def run_memory(spec, params: dict, model, **sizes: int) -> int:
    """Peak bytes of ``spec`` with resolved ``params`` on ``model``; 0 when either is unknown."""
    if model is None or spec.memory is None:
        return 0
    return int(spec.memory(params, model, **_taken(spec.memory, sizes))) + RUN_OVERHEAD_BYTES


def inputs_at_once(spec, model, params: dict, n: int, **sizes: int) -> int:
    """How many of ``n`` inputs ``explain_batch`` sends through ``spec``'s batched passes at once: the engine's
    batch size (``default_batch_size``: fixed on CPU, sized to the free memory on CUDA), fewer when that many
    inputs' peak (``run_memory`` of one input of ``sizes``, times the inputs) would exceed ``run_budget()``."""
    from explainers.core.engine import default_batch_size

    size = default_batch_size(model, max(1, int(n)))
    per_input = run_memory(spec, params, model, **sizes)
    if per_input > 0:
        size = min(size, max(1, run_budget() // per_input))
    return max(1, int(size))


def _taken(fn, sizes: dict) -> dict:
    """The ``sizes`` that ``fn`` takes: all of them when it has ``**sizes``, else those it names (a size the cost
    estimates read, such as the tokens a language model generates first, is not every memory estimate's)."""
    import inspect

    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return sizes
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return sizes
    return {k: v for k, v in sizes.items() if k in parameters}


def check_run(spec, model, params: dict, x=None, target=None, **sizes: int) -> int:
    """Refuse a run whose estimated peak exceeds the run budget, naming the largest value of the parameter
    that drives it. ``params`` are resolved; ``sizes`` default to ``input_sizes(model, x, target)``.
    Returns the estimate."""
    sizes = sizes or input_sizes(model, x, target, params)
    try:
        need = run_memory(spec, params, model, **sizes)
    except ExplainerError:
        return 0  # parameters the method refuses itself, with its own sentence, before it allocates
    budget = run_budget()
    if need <= budget:
        return need
    head = f"{spec.id} would need about {gigabytes(need)}; the run budget is {gigabytes(budget)}"
    found = largest_allowed(spec, model, params, budget, **sizes)
    if found is None:
        raise ExplainerError(f"{head}: use a smaller input (a shorter text or target, fewer images or rows).")
    name, value = found
    head = (f"{spec.id} with {name} {_plain(params[name])} would need about {gigabytes(need)}; "
            f"the run budget is {gigabytes(budget)}")
    raise ExplainerError(f"{head}: use {name} {_plain(value)} or less.")


def _plain(value) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def largest_allowed(spec, model, params: dict, budget: int, **sizes: int) -> tuple[str, int] | None:
    """(parameter, its largest value that fits ``budget``) for the whole-number parameter whose lowering
    helps most; None when lowering no single parameter is enough."""

    def need(name, value) -> float:
        try:
            return run_memory(spec, {**params, name: value}, model, **sizes)
        except ExplainerError:
            return math.inf

    def fits(name, value) -> bool:
        try:
            spec.cost({**params, name: value}, model)  # the method's own checks (e.g. nb_design a power of two)
        except ExplainerError:
            return False
        return need(name, value) <= budget

    best = None
    for name, (low, _high) in spec.limits.items():
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        low = 1 if low is None else int(math.ceil(low))
        if value <= low or not fits(name, low):
            continue
        lo, hi = low, value  # fits(lo), not fits(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if need(name, mid) <= budget else (lo, mid)
        while lo > low and not fits(name, lo):
            lo -= 1
        if best is None or lo / value > best[1] / params[best[0]]:  # the one that keeps most of its value
            best = (name, lo)
    return best


def limits_table(methods) -> str:
    """The parameter limits of ``methods`` ((modality, method spec) pairs), as a Markdown table
    (``python cli.py list --limits``)."""
    lines = ["| Modality | Method | Parameter | Smallest | Largest |", "| --- | --- | --- | --- | --- |"]
    for kind, spec in methods:
        for name, (low, high) in spec.limits.items():
            shown = ["" if v is None else _plain(v) for v in (low, high)]
            lines.append(f"| {kind} | {spec.id} | {name} | {shown[0]} | {shown[1]} |")
    return "\n".join(lines)
