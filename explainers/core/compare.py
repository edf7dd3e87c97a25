"""Compare explainers on one input: run each, measure how faithful it is, and how much they agree.

``compare`` is what the Compare page and the command line call. The input is prepared once (its modality
spec's ``prepare``) and handed to every method and metric. Each explanation gets ``e.faithfulness`` (the
modality's figures, explainers/core/modality.py) and, when asked, ``extras["sanity"]`` (the
model-randomisation check). The random baseline is always among the methods, so every figure has its reference.
"""

from __future__ import annotations

from explainers.core.explain import SharedRuns
from explainers.core.engine import run_control
from explainers.core.explanation import Explanation
from explainers.core.modality import faithfulness as measure, get_modality, prepare_input
from explainers.metrics.sanity import sanity_check


def compare(model, x, methods: dict[str, dict], target=None, *, faithfulness: bool = True, sanity: bool = False,
            sanity_layers: int = 2, progress=None, cancel=None, on_error=None) -> list[Explanation]:
    """Explanations of ``x`` by each method (with its params), the random baseline included.

    ``progress(fraction, text)`` as the passes go (fraction of the whole comparison in
    [0, 1]); ``on_error(method, exc)`` receives a method's failure (else it is
    raised), and the others still run. Methods that share passes (the gradient CAMs on one layer) make them
    once: the first carries the passes, the others 0 (``SharedRuns``), so the model's counters and the
    explanations' counts agree.
    """
    methods = dict(methods)
    methods.setdefault("random", {})
    x = prepare_input(model, x)  # once, for every method and metric (a text: cleaned and tokenised once)
    runs = SharedRuns(model, x, methods)  # the passes several methods share (the gradient CAMs') are made once
    out = []
    for step, method in enumerate(methods):

        def report(done, total, stage, step=step, method=method):
            if progress is not None:  # each method: half for explaining, half for measuring
                share = 0.5 * (done / max(total, 1)) + (0.5 if stage == "measuring" else 0.0)
                progress(min(1.0, (step + share) / len(methods)), f"{method}: {stage}, {done}/{total} passes")

        try:
            e = runs.explain(method, target, cancel=cancel, progress=lambda d, t: report(d, t, "explaining"))
            if target is None:  # every method explains the same class, or the same continuation (as token ids)
                target = get_modality(model.modality).explained_target(e)
            with run_control(progress=lambda d, t: report(d, t, "measuring"), cancel=cancel):
                if faithfulness:
                    measure(model, x, e)
                if sanity and method != "random":
                    result = sanity_check(model, x, e, n_layers=sanity_layers)
                    e.extras["sanity"] = {"spearman": result.spearman, "passed": result.passed,
                                          "randomized_layers": result.randomized_layers}
            out.append(e)
        except Exception as exc:  # noqa: BLE001 - the caller decides how to show it
            if on_error is None or type(exc).__name__ == "Cancelled":
                raise
            on_error(method, exc)
        if progress is not None:
            progress((step + 1) / len(methods), f"{method} done")
    return out


def figures_table(results: list[Explanation]) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """Compare's table of ``results`` (one modality): a row per method (the random baseline included) with its
    headline faithfulness figures (the spec's ``better``, in its order) and, when run, the sanity check's ρ and
    verdict; {figure: "lower" | "higher"}, the direction each figure is better in (the first is the headline);
    and {figure: column header}, with its unit and direction."""
    if not results:
        return [], {}, {}
    spec = get_modality(results[0].modality)
    better = spec.better
    rows = []
    for e in results:
        row = {"method": e.method, **{name: float(e.faithfulness[name]) for name in better if name in e.faithfulness}}
        if "sanity" in e.extras:
            row["sanity ρ"] = float(e.extras["sanity"]["spearman"])
            row["sanity"] = "passes" if e.extras["sanity"]["passed"] else "FAILS"
        rows.append(row)
    shown = {name: way for name, way in better.items() if any(name in row for row in rows)}
    headers = {name: name.replace("_", " ") + (f" ({spec.units[name]})" if name in spec.units else "")
               + f" — {way} is better" for name, way in shown.items()}
    return rows, shown, headers


def best(rows: list[dict], better: dict[str, str]) -> dict[str, str]:
    """{figure: the method with the best value of it} (ties: the first row)."""
    out = {}
    for name, way in better.items():
        values = [(row[name], row["method"]) for row in rows if name in row and row[name] == row[name]]  # not NaN
        if values:
            pick = min if way == "lower" else max
            out[name] = pick(values, key=lambda v: v[0])[1]
    return out
