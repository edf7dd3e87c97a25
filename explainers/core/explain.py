"""``explain()``: run one registered method on one input and measure what it cost."""

from __future__ import annotations

import time
from functools import partial
from contextlib import contextmanager, nullcontext

from explainers.core.cost import known_pass_times, predicted_s, probed, record_run
from explainers.core.budget import check_run, inputs_at_once
from explainers.core.engine import (
    NOT_ENOUGH_MEMORY, Cancelled, check_cancel, finish, is_out_of_memory, release_cached, run_control,
)
from explainers.core.explanation import Explanation
from explainers.core.registry import get_method, share_groups
from explainers.core.modality import get_modality, input_sizes
from models.errors import ExplainerError
from models.locks import counting, waiting_reports

# Explanation fields a method may set besides ``scores`` and ``target``.
_METHOD_FIELDS = ("tokens", "target_tokens", "feature_names", "base_value", "extras", "target_label")


def explain(
    model, x, method: str = "grad-cam", target=None, *, progress=None, cancel=None, waiting=None, **params
) -> Explanation:
    """Explain ``model``'s output for ``x``.

    ``target``: class index or label; None explains the top class.
    ``progress``: ``progress(done, total)`` in forward passes, called after each batch of
    the perturbation engine; ``cancel``: a ``threading.Event`` that stops the run
    (``Cancelled``) before its next batch; ``waiting(sentence)``: called when the run must
    wait for another run on the same model, saying about how long (default: the callback a page set
    with ``models.locks.waiting_reports``, if any). None of them is a method parameter.
    ``params``: the method's parameters (unknown names are an error).

    A method with hooks (``Method.exclusive``) holds the model's lock for its whole run; the
    others take it per pass only (models/locks.py), so a long perturbation run does not block
    a short CAM. Passes are counted per run, not from the model's shared totals.
    """
    spec = get_method(method, model.modality)
    params = spec.resolve_params(params)
    data, index = _prepared(model, spec, params, x, target)
    with _run(model, spec, params, data, progress, cancel, waiting, index) as run:
        scores, index, *rest = spec.fn(model, data, index, **params)
    if not spec.many:
        record_run(model, run.n_forward, run.n_backward, run.runtime_s, _predicted_s(model, spec, params, data, index))
    return _explanation(model, spec, params, (scores, index, *rest), run)


class _Run:
    """What one run (or one shared pass) cost: its counted passes and its seconds."""

    n_forward = n_backward = 0
    runtime_s = 0.0


def expected_passes(model, spec, params, data, target=None) -> int | None:
    """The forward passes ``spec`` with (resolved) ``params`` is expected to make on prepared ``data`` (its cost
    function, as the estimate shown before a run reads it): the fixed total of the run's progress; None when its
    cost cannot be told (the progress then counts passes as they come)."""
    try:
        if spec.many:
            n = sum(int(spec.estimate(params, model, **input_sizes(model, one, target))[0]) for one in data)
        else:
            sizes = input_sizes(model, data, target)
            n = int(spec.estimate(params, model, **sizes)[0])
            if spec.family != "global":  # a table's methods cost per explained row (a global run: several rows)
                n *= sizes.get("n_rows", 1)
    except Exception:  # noqa: BLE001 - a cost that needs more than the input: passes as they come
        return None
    return max(1, n)


@contextmanager
def _run(model, spec, params, data, progress, cancel, waiting, target=None):
    """The model's lock (for the whole run when the method is ``exclusive``), the pass counting, progress and
    cancel around one run; yields a ``_Run`` filled when the block ends. Progress reports the run's expected
    passes (``expected_passes``) as its total from the first report to the last, ``(total, total)``, said when
    the run ends."""
    holder = None
    run = _Run()

    def report(done, total):
        if holder is not None:
            holder.done, holder.total = done, total
        if progress is not None:
            progress(done, total)

    with waiting_reports(waiting) if waiting is not None else nullcontext(), counting() as count:
        with model.lock.hold(_estimate_s(model, spec, params, data)) if spec.exclusive else nullcontext() as holder:
            start = time.perf_counter()
            total = None if progress is None else expected_passes(model, spec, params, data, target)
            with run_control(progress=report, cancel=cancel, total=total):
                yield run
                finish()
            run.runtime_s = time.perf_counter() - start
    run.n_forward, run.n_backward = count.n_forward, count.n_backward


def _prepared(model, spec, params, x, target):
    """The input as the method reads it (its modality's ``prepare``, once) and the target as a class index,
    after the run budget's check."""
    kind = get_modality(model.modality)
    try:
        data = kind.prepare(x, model)  # once: every pass, the size estimate and the method read this
    except Exception:
        check_run(spec, model, params, x, target)  # a refused input: an over-budget run is still said first
        raise
    check_run(spec, model, params, data, target)  # refuses a run whose peak memory would exceed the run budget
    method = spec.id
    if spec.many and not isinstance(data, list):
        data = [data]
    elif isinstance(data, list) and not spec.many:
        raise ExplainerError(f"{method} explains one input at a time; give one, not a list of {len(data)}.")
    if spec.many and not data:
        raise ExplainerError(f"{method} needs at least one input; the list is empty.")
    # classifiers turn a label into its index; a generative model takes its target (a continuation text) as given
    index = target if target is None else model.class_index(target)
    return data, index


def _explanation(model, spec, params, result, run, extras: dict | None = None) -> Explanation:
    scores, index, *rest = result
    method = spec.id
    fields = dict(rest[0]) if rest else {}
    unknown = set(fields) - set(_METHOD_FIELDS)
    if unknown:
        raise ExplainerError(f"{method} returned unknown Explanation fields: {', '.join(sorted(unknown))}.")
    if "target_label" not in fields:
        fields["target_label"] = None if index is None else model.labels[index]
    if extras:
        fields["extras"] = {**fields.get("extras", {}), **extras}
    if not isinstance(index, (int, type(None))):
        index = None  # only a class index goes into ``target``; a method reports other targets in its fields
    return Explanation(
        scores=scores,
        method=method,
        modality=model.modality,
        model=model.name,
        target=index,
        params=params,
        device=str(model.device),
        runtime_s=run.runtime_s,
        n_forward=run.n_forward,
        n_backward=run.n_backward,
        signed=spec.signed,
        **fields,
    )


def explain_many(model, x, methods: dict[str, dict], target=None, *, progress=None, cancel=None, waiting=None,
                 on_error=None) -> dict[str, Explanation]:
    """``explain`` of ``x`` by each method (with its params), making the passes that methods share once.

    Methods that declare the same ``SharedPass`` (``register(..., shares=...)``) with equal key parameters
    (the gradient CAMs on one layer) share it: one forward and one backward to the layer for all of them,
    each map equal to the one ``explain`` computes alone. The others run alone. How the shared passes are
    attributed: see ``SharedRuns``.

    ``target`` None: the first explanation's target (its modality's ``explained_target``) is then explained by
    every later method, as on Compare. ``progress(method, done, total)`` in passes of the method running;
    ``cancel`` and ``waiting`` as in ``explain``; ``on_error(method, exc)`` receives a method's failure (else it
    is raised) and the others still run. Returns {method: Explanation}, in the order of ``methods``.
    """
    runs = SharedRuns(model, x, methods)
    out = {}
    for method in methods:
        try:
            out[method] = runs.explain(method, target, cancel=cancel, waiting=waiting,
                                       progress=None if progress is None else partial(progress, method))
        except Exception as exc:  # noqa: BLE001 - the caller decides how to show it
            if on_error is None or type(exc).__name__ == "Cancelled":
                raise
            on_error(method, exc)
            continue
        if target is None:
            target = get_modality(model.modality).explained_target(out[method])
    return out


class SharedRuns:
    """Explain the methods of ``methods`` on one input one at a time, making the passes they share once: for
    loops that explain and show each method in turn (``explain_many``, ``compare``, the image page).

    Methods that declare the same ``SharedPass`` with equal key parameters form a group. The first time a
    member is asked for, the group's passes are made once (under the model's lock, counted) and every member
    not yet handed out gets its map from them (``passes=``); the others are then handed out as they are asked
    for, if asked for the same target (None, or the class the group explained); otherwise, and for every
    other method, ``explain`` runs it alone.

    Honest counts: the member asked for first carries the shared passes (its ``n_forward``/``n_backward``, and
    its ``runtime_s`` = the passes' seconds + its own rule's); each other member shows 0 passes and its own
    rule's seconds. Every member's ``extras["shared_pass"]`` says so: ``{"pass": name, "with": [members],
    "carried_by": method}``. Summed over the group, the counts are the passes the model made.
    """

    def __init__(self, model, x, methods: dict[str, dict]):
        self.model, self.x = model, x
        self.methods = {m: dict(p or {}) for m, p in methods.items()}
        self.groups = share_groups(model.modality, self.methods)
        self._ready: dict[str, Explanation | Exception] = {}  # made in a shared pass, not yet handed out
        self._handed: set[str] = set()

    def explain(self, method: str, target=None, *, progress=None, cancel=None, waiting=None) -> Explanation:
        """The explanation of ``method`` (a key of ``methods``) for ``target``, from a shared pass when it can."""
        params = self.methods[method]
        ready = self._ready.pop(method, None)
        if ready is not None and _same_target(self.model, ready, target):
            self._handed.add(method)
            if isinstance(ready, Exception):
                raise ready
            return ready
        group = next((g for g in self.groups if method in g), [])
        members = [method] + [m for m in group if m != method and m not in self._handed and m not in self._ready]
        self._handed.add(method)
        if len(members) < 2:
            return explain(self.model, self.x, method=method, target=target, progress=progress, cancel=cancel,
                           waiting=waiting, **params)
        made = self._run_group(members, target, progress, cancel, waiting)
        self._ready.update({m: made[m] for m in members[1:]})
        if isinstance(made[method], Exception):
            raise made[method]
        return made[method]

    def _run_group(self, members: list[str], target, progress, cancel, waiting) -> dict:
        model = self.model
        specs = {m: get_method(m, model.modality) for m in members}
        params = {m: specs[m].resolve_params(self.methods[m]) for m in members}
        first = specs[members[0]]
        data, index = _prepared(model, first, params[members[0]], self.x, target)
        for m in members[1:]:
            check_run(specs[m], model, params[m], data, target)
        shared = first.shares
        with _run(model, first, params[members[0]], data, progress, cancel, waiting, index) as run:
            passes, index = shared.compute(model, data, index, **{k: params[members[0]][k] for k in shared.keys})
        record_run(model, run.n_forward, run.n_backward, run.runtime_s)
        made: dict[str, Explanation | Exception] = {}
        with run_control(cancel=cancel):
            for m in members:
                check_cancel()
                own = _Run()
                if m == members[0]:
                    own.n_forward, own.n_backward = run.n_forward, run.n_backward
                note = {"shared_pass": {"pass": shared.name, "with": list(members), "carried_by": members[0]}}
                try:
                    start = time.perf_counter()
                    result = specs[m].fn(model, data, index, passes=passes, **params[m])
                    own.runtime_s = time.perf_counter() - start + (run.runtime_s if m == members[0] else 0.0)
                    made[m] = _explanation(model, specs[m], params[m], result, own, note)
                except Exception as exc:  # noqa: BLE001 - this member's failure, said when it is asked for
                    if m == members[0] or type(exc).__name__ == "Cancelled":
                        raise
                    made[m] = exc
        return made


def _same_target(model, ready, target) -> bool:
    """An explanation made in a shared pass answers a request for ``target``: None, or the class it explains."""
    if target is None:
        return True
    if isinstance(ready, Exception):
        return False
    try:
        return model.class_index(target) == ready.target
    except Exception:  # noqa: BLE001 - a target this model does not know: the run alone says why
        return False


def _predicted_s(model, spec, params, data, target) -> float | None:
    """What the unscaled probe predicted for this run (the calibration compares it with its runtime); None when
    unknown (this measures nothing)."""
    if not probed(model):
        return None  # nothing to calibrate: the input's sizes are not worth reading
    try:
        sizes = get_modality(model.modality).sizes(model, data, target, params)
    except Exception:  # noqa: BLE001 - sizes it cannot read: the flat pass times judge the run
        return None
    return predicted_s(model, spec.id, params, **sizes)


def _estimate_s(model, spec, params, data) -> float | None:
    """The run's expected seconds from the pass times already measured (this measures nothing), for the
    sentence another run waiting on it shows; None when unknown."""
    times = known_pass_times(model)
    if times is None:
        return None
    try:
        n_forward, n_backward = spec.estimate(params, model)
    except Exception:  # noqa: BLE001 - a cost that needs more than the parameters: the run's pace tells later
        return None
    return (n_forward * times[0] + n_backward * times[1]) * (len(data) if isinstance(data, list) else 1)


def explain_batch(model, xs: list, method: str = "grad-cam", targets: list | None = None, *, progress=None,
                  cancel=None, waiting=None, chunk: int | None = None, **params) -> list[Explanation]:
    """``explain`` of each input in ``xs`` by one method (``targets[i]`` for ``xs[i]``; None: each input's top class):
    one Explanation per input, in order, each with the scores, target and fields that
    ``explain(model, xs[i], method, targets[i], **params)`` gives (up to float rounding: a batched convolution
    may sum in another order). The dataset runner calls this with a batch of inputs.

    A method whose ``SharedPass`` has a ``batch`` form (``Method.batches``: the gradient CAMs, Eigen-CAM, saliency,
    gradient × input) explains the inputs ``chunk`` at a time (default: ``budget.inputs_at_once``, the engine's
    batch size within the run budget), each chunk in one forward of the stack of its inputs (each preprocessed as
    alone, so inputs of different sizes mix) and, for gradient methods, one backward of the sum of each row's
    target output; then each input's own rule on its own row, onto its own pixel grid. The other methods run per
    input (``explain``): their passes batch within one input already (the engine, Captum's internal batches).

    How a chunk's passes and time are attributed to its members: the adapter counts one forward (backward) pass
    per input that goes through the network, so a chunk of k images makes k forward and k backward passes, split
    evenly in whole numbers (each CAM: 1 and 1, as alone; they sum to what the model made). Each member's
    ``runtime_s`` is its 1/k share of the chunk's passes' seconds plus its own rule's seconds. Every member's
    ``extras["batch"]`` says so: ``{"inputs": k, "n_forward": ..., "n_backward": ..., "runtime_s": ...}``, the
    whole chunk's. Batched runs do not feed the pass-time calibration (explainers/core/cost.py): a member's share
    is not what a run alone takes.

    A chunk that runs out of memory is retried as chunks of half its size (kept for the rest), as the engine
    does; out of memory on one input is an ``ExplainerError`` that says so. An input that cannot be read, or a
    target the model does not know, raises its error (as ``explain`` would) before its chunk's passes.
    ``progress(done, total)`` in inputs, after each chunk (per input for the others); ``cancel``: a
    ``threading.Event`` checked between chunks (and inside per-input runs); ``waiting`` as in ``explain``.
    """
    targets = [None] * len(xs) if targets is None else list(targets)
    if len(targets) != len(xs):
        raise ExplainerError(f"explain_batch got {len(xs)} inputs and {len(targets)} targets; give one per input.")
    spec = get_method(method, model.modality)
    out: list[Explanation] = []
    if not spec.batches or len(xs) < 2:
        for x, t in zip(xs, targets):
            out.append(explain(model, x, method=method, target=t, cancel=cancel, waiting=waiting, **params))
            if progress is not None:
                progress(len(out), len(xs))
        return out
    params = spec.resolve_params(params)
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ExplainerError(f"chunk must be a whole number of at least 1 (got {chunk!r}).")
    size, start = chunk, 0
    while start < len(xs):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        first = _prepared(model, spec, params, xs[start], targets[start])
        if size is None:  # from the first input's sizes (an image's: its count, whatever its pixels)
            size = inputs_at_once(spec, model, params, len(xs), **input_sizes(model, first[0], first[1]))
        end = min(len(xs), start + size)
        prepared = [first] + [_prepared(model, spec, params, x, t) for x, t in zip(xs[start + 1:end],
                                                                                  targets[start + 1:end])]
        try:
            out.extend(_explain_chunk(model, spec, params, prepared, cancel, waiting))
        except RuntimeError as error:  # torch.cuda.OutOfMemoryError is one: half as many at once, as the engine
            if not is_out_of_memory(error):
                raise
            if end - start == 1:
                raise ExplainerError(NOT_ENOUGH_MEMORY) from None
            size = max(1, (end - start) // 2)
            release_cached(model)
            continue
        start = end
        if progress is not None:
            progress(len(out), len(xs))
    return out


def _explain_chunk(model, spec, params, prepared: list, cancel, waiting) -> list[Explanation]:
    """One chunk of ``explain_batch``: the method's ``SharedPass.batch`` on the prepared inputs (one forward, one
    backward of their stack), then each input's rule on its own passes; passes and time attributed as
    ``explain_batch`` says."""
    data = [d for d, _ in prepared]
    shared = spec.shares
    with _run(model, spec, params, data, None, cancel, waiting) as run:
        made = shared.batch(model, data, [index for _, index in prepared], **{k: params[k] for k in shared.keys})
    k = len(data)
    chunk = {"inputs": k, "n_forward": run.n_forward, "n_backward": run.n_backward, "runtime_s": run.runtime_s}
    out = []
    for i, (image, (passes, index)) in enumerate(zip(data, made)):
        own = _Run()
        own.n_forward, own.n_backward = _share(run.n_forward, k, i), _share(run.n_backward, k, i)
        start = time.perf_counter()
        result = spec.fn(model, image, index, passes=passes, **params)
        own.runtime_s = time.perf_counter() - start + run.runtime_s / k
        out.append(_explanation(model, spec, params, result, own, {"batch": dict(chunk)}))
    return out


def _share(total: int, k: int, i: int) -> int:
    """Member ``i``'s whole-number share of ``total`` passes among ``k`` (the shares sum to ``total``)."""
    return total // k + (1 if i < total % k else 0)
