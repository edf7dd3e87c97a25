"""``explain()``: run one registered method on one input and measure what it cost."""

from __future__ import annotations

import time

from explainers.engine import run_control
from explainers.explanation import Explanation
from explainers.registry import get_method
from models.errors import ExplainerError
from models.images import to_rgb_array

_PREPARE = {"image": to_rgb_array}


def explain(
    model, x, method: str = "grad-cam", target=None, *, progress=None, cancel=None, **params
) -> Explanation:
    """Explain ``model``'s output for ``x``.

    ``target``: class index or label; None explains the top class.
    ``progress``: ``progress(done, total)`` in forward passes, called after each batch of
    the perturbation engine; ``cancel``: a ``threading.Event`` that stops the run
    (``Cancelled``) before its next batch. Neither is a method parameter.
    ``params``: the method's parameters (unknown names are an error).
    """
    spec = get_method(method, model.modality)
    params = spec.resolve_params(params)
    prepare = _PREPARE.get(model.modality)
    if prepare is None:
        raise ExplainerError(f"No input handling for the {model.modality} modality yet.")
    data = prepare(x)
    index = None if target is None else model.class_index(target)
    with model.lock:
        forward0, backward0 = model.n_forward, model.n_backward
        start = time.perf_counter()
        with run_control(progress=progress, cancel=cancel):
            scores, index = spec.fn(model, data, index, **params)
        runtime = time.perf_counter() - start
        n_forward, n_backward = model.n_forward - forward0, model.n_backward - backward0
    return Explanation(
        scores=scores,
        method=method,
        modality=model.modality,
        model=model.name,
        target=index,
        target_label=model.labels[index],
        params=params,
        device=str(model.device),
        runtime_s=runtime,
        n_forward=n_forward,
        n_backward=n_backward,
    )
