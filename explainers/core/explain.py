"""``explain()``: run one registered method on one input and measure what it cost."""

from __future__ import annotations

import time
from contextlib import nullcontext

from explainers.core.cost import known_pass_times, record_run
from explainers.core.budget import check_run
from explainers.core.engine import run_control
from explainers.core.explanation import Explanation
from explainers.core.registry import get_method
from explainers.core.modality import get_modality
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
    kind = get_modality(model.modality)
    try:
        data = kind.prepare(x, model)  # once: every pass, the size estimate and the method read this
    except Exception:
        check_run(spec, model, params, x, target)  # a refused input: an over-budget run is still said first
        raise
    check_run(spec, model, params, data, target)  # refuses a run whose peak memory would exceed the run budget
    if spec.many and not isinstance(data, list):
        data = [data]
    elif isinstance(data, list) and not spec.many:
        raise ExplainerError(f"{method} explains one input at a time; give one, not a list of {len(data)}.")
    if spec.many and not data:
        raise ExplainerError(f"{method} needs at least one input; the list is empty.")
    # classifiers turn a label into its index; a generative model takes its target (a continuation text) as given
    index = target if target is None else model.class_index(target)
    holder = None

    def report(done, total):
        if holder is not None:
            holder.done, holder.total = done, total
        if progress is not None:
            progress(done, total)

    with waiting_reports(waiting) if waiting is not None else nullcontext(), counting() as count:
        with model.lock.hold(_estimate_s(model, spec, params, data)) if spec.exclusive else nullcontext() as holder:
            start = time.perf_counter()
            with run_control(progress=report, cancel=cancel):
                scores, index, *rest = spec.fn(model, data, index, **params)
            runtime = time.perf_counter() - start
    n_forward, n_backward = count.n_forward, count.n_backward
    if not spec.many:
        record_run(model, n_forward, n_backward, runtime)
    fields = rest[0] if rest else {}
    unknown = set(fields) - set(_METHOD_FIELDS)
    if unknown:
        raise ExplainerError(f"{method} returned unknown Explanation fields: {', '.join(sorted(unknown))}.")
    if "target_label" not in fields:
        fields["target_label"] = None if index is None else model.labels[index]
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
        runtime_s=runtime,
        n_forward=n_forward,
        n_backward=n_backward,
        signed=spec.signed,
        **fields,
    )


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
    return (n_forward * times[0] + n_backward * times[1]) * (len(data) if spec.many else 1)
