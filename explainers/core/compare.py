"""Compare explainers on one input: run each, measure how faithful it is, and how much they agree.

``compare`` is what the Compare page and the command line call. The input is prepared once (its modality
spec's ``prepare``) and handed to every method and metric. Each explanation gets ``e.faithfulness`` (the
modality's figures, explainers/core/modality.py) and, when asked, ``extras["sanity"]`` (the
model-randomisation check). The random baseline is always among the methods, so every figure has its reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from explainers.core import cost
from explainers.core.engine import run_control
from explainers.core.explain import SharedRuns
from explainers.core.explanation import Explanation
from explainers.core.registry import get_method
from explainers.core.modality import (faithfulness as measure_one, faithfulness_many, faithfulness_passes, figure_options,
                                      get_modality, input_sizes, prepare_input)
from explainers.metrics.sanity import sanity_applies, sanity_check
from models.errors import ExplainerError
from models.units import duration


@dataclass(frozen=True)
class CompareCost:
    """What a comparison will cost, known before it runs: the passes of each stage, and seconds on this device."""

    explaining: dict[str, tuple[int, int]]  # method -> (forward, backward); a shared pass carried by its first member
    measuring: int  # forward passes of the faithfulness figures of every map (the random baseline's included)
    sanity: dict[str, tuple[int, int]]  # method -> the passes of its re-run on the randomised copy
    seconds: float | None  # None when this model's time per pass cannot be measured

    @property
    def n_forward(self) -> int:
        return sum(f for f, _ in self.explaining.values()) + self.measuring + sum(f for f, _ in self.sanity.values())

    @property
    def n_backward(self) -> int:
        return sum(b for _, b in self.explaining.values()) + sum(b for _, b in self.sanity.values())

    def sentence(self, device: str = "") -> str:
        """"Estimated cost: 640 forward + 6 backward passes (explaining 140 + 6, faithfulness 500) ≈ 12 s on cpu."""
        f = sum(f for f, _ in self.explaining.values())
        b = sum(b for _, b in self.explaining.values())
        parts = [f"explaining {f:,} + {b:,}"]
        if self.measuring:
            parts.append(f"faithfulness {self.measuring:,}")
        if self.sanity:
            parts.append("sanity check {:,} + {:,}".format(*map(sum, zip(*self.sanity.values()))))
        time = "" if self.seconds is None else f" ≈ {duration(self.seconds)}" + (f" on {device}" if device else "")
        return (f"Estimated cost: {self.n_forward:,} forward + {self.n_backward:,} backward passes "
                f"({', '.join(parts)}){time}.")


def compare_cost(model, x, methods: dict[str, dict], target=None, *, faithfulness: bool = True,
                 faithfulness_options: dict | None = None, sanity: bool = False, timed: bool = True) -> CompareCost:
    """The passes ``compare`` with these arguments will make (the random baseline included) and, when ``timed``,
    about how long they take here (passes × measured time per pass). A method whose parameters are refused
    counts 0: ``compare`` will report it and go on. Exact for methods whose passes do not depend on the data."""
    methods = dict(methods)
    methods.setdefault("random", {})
    x = prepare_input(model, x)
    sizes = input_sizes(model, x, target)
    # the first method finds the class (unless it is given); the others are given it (``targeted``)
    alone = {m: _passes_or_zero(model, m, p, {**sizes, "targeted": int(k > 0 or target is not None)})
             for k, (m, p) in enumerate(methods.items())}
    explaining = cost.shared_passes(model, methods, alone)
    measuring = len(methods) * faithfulness_passes(model, x, target, **(faithfulness_options or {})) \
        if faithfulness else 0
    checked = {m: alone[m] for m in methods if m != "random"} if sanity and sanity_applies(model) else {}
    seconds = None
    if timed:
        try:
            found = cost.probe(model, cost.probe_tokens(model, **sizes))
        except Exception:  # noqa: BLE001 - a model the probe cannot run: passes only
            found = None
        if found is not None:  # each run's passes at the batches it makes them in; the figures' at the engine's
            runs = [(m, *explaining[m]) for m in methods] + [(m, *passes) for m, passes in checked.items()]
            seconds = round(sum(_seconds_or_zero(found, model, m, f, b, methods[m], sizes) for m, f, b in runs)
                            + cost.seconds(found, measuring, 0), 3)
    return CompareCost(explaining, measuring, checked, seconds)


def _seconds_or_zero(found, model, method, n_forward, n_backward, params, sizes) -> float:
    """``cost.run_seconds`` of a method's passes; 0 for one whose parameters are refused (it runs nothing)."""
    try:
        return cost.run_seconds(found, n_forward, n_backward, get_method(method, model.modality), params, sizes,
                                model)
    except Exception:  # noqa: BLE001
        return 0.0


def _passes_or_zero(model, method, params, sizes) -> tuple[int, int]:
    """A method's passes, or (0, 0) for one whose parameters are refused (``compare`` reports it and goes on)."""
    try:
        return cost.estimate_passes(model, method, params, **sizes)
    except Exception:  # noqa: BLE001
        return 0, 0


def compare(model, x, methods: dict[str, dict], target=None, *, faithfulness: bool = True,
            faithfulness_options: dict | None = None, sanity: bool = False, sanity_layers: int = 2, progress=None,
            cancel=None, on_error=None) -> list[Explanation]:
    """Explanations of ``x`` by each method (with its params), the random baseline included.

    Every method explains first (methods that share passes, the gradient CAMs on one layer, make them once:
    the first carries the passes, the others 0, ``SharedRuns``); then the faithfulness figures of every map are
    measured together (``faithfulness_many``: their passes batched through the engine), with
    ``faithfulness_options`` (the modality's ``faithfulness_options``); then, with ``sanity``, each method is
    re-run on a copy of the model with its top ``sanity_layers`` layers randomised (``extras["sanity"]``, its
    passes in ``extras["sanity"]["passes"]``: they run on the copy, not on ``model``).

    ``progress(fraction, text)``: the fraction of the comparison's estimated passes made so far (``compare_cost``),
    in [0, 1] and never going back. ``on_error(method, exc)`` receives a method's failure (else it is raised), and
    the others still run. The model's counters count every pass made on it; ``compare_cost`` says them before.
    """
    methods = dict(methods)
    methods.setdefault("random", {})
    if sanity and not sanity_applies(model):
        raise ExplainerError(f"The sanity check randomises a neural network's layers; {model.name} has none to "
                             "randomise: compare without it.")
    raw = x  # the randomised copies of the sanity check prepare it themselves (a tokenisation is bound to its model)
    x = prepare_input(model, x)  # once, for every method and metric (a text: cleaned and tokenised once)
    options = figure_options(model.modality, faithfulness_options) if faithfulness else {}
    plan = compare_cost(model, x, methods, target, faithfulness=faithfulness, faithfulness_options=options,
                        sanity=sanity, timed=False)
    meter = _Meter(progress, plan)
    runs = SharedRuns(model, x, methods)  # the passes several methods share (the gradient CAMs') are made once
    out = []

    def failed(method, exc):
        if on_error is None or type(exc).__name__ == "Cancelled":
            raise exc
        on_error(method, exc)

    for method in methods:
        stage = meter.stage(f"{method}: explaining", sum(plan.explaining.get(method, (0, 0))))
        try:
            e = runs.explain(method, target, cancel=cancel, progress=stage)
        except Exception as exc:  # noqa: BLE001 - the caller decides how to show it
            failed(method, exc)
            continue
        if target is None:  # every method explains the same class, or the same continuation (as token ids)
            target = get_modality(model.modality).explained_target(e)
        out.append(e)
    if faithfulness and out:
        stage = meter.stage("faithfulness of every map", plan.measuring)
        with run_control(progress=stage, cancel=cancel):
            try:
                faithfulness_many(model, x, out, **options)
            except Exception as exc:  # noqa: BLE001 - measure one by one, so the failure is the method's
                if on_error is None or type(exc).__name__ == "Cancelled":
                    raise
                for e in out:
                    try:
                        measure_one(model, x, e, **options)
                    except Exception as one:  # noqa: BLE001
                        failed(e.method, one)
    if sanity:
        for e in out:
            if e.method == "random":
                continue
            stage = meter.stage(f"{e.method}: sanity check", sum(plan.sanity.get(e.method, (0, 0))))
            try:
                with run_control(progress=stage, cancel=cancel):
                    result = sanity_check(model, raw, e, n_layers=sanity_layers)
            except Exception as exc:  # noqa: BLE001
                failed(e.method, exc)
                continue
            e.extras["sanity"] = {"spearman": result.spearman, "passed": result.passed,
                                  "randomized_layers": result.randomized_layers,
                                  "passes": [result.randomized.n_forward, result.randomized.n_backward]}
    meter.done()
    return out


class _Meter:
    """Progress over a comparison's stages, each weighted by its estimated passes; never goes back."""

    def __init__(self, progress, plan: CompareCost):
        self.progress = progress
        self.total = max(1, plan.n_forward + plan.n_backward)
        self.before = 0  # the estimated passes of the stages begun before this one
        self.shown = 0.0

    def stage(self, text: str, weight: int):
        start, weight = self.before, max(1, int(weight))
        self.before += weight
        self.total = max(self.total, self.before)

        def report(done, total):
            self.show(start + weight * min(1.0, done / max(total, 1)), f"{text}, {done:,}/{total:,} passes")

        report(0, 1)
        return report

    def show(self, passes: float, text: str) -> None:
        self.shown = max(self.shown, min(1.0, passes / self.total))
        if self.progress is not None:
            self.progress(self.shown, text)

    def done(self) -> None:
        self.shown = 1.0
        if self.progress is not None:
            self.progress(1.0, "done")


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


def best(rows: list[dict], better: dict[str, str]) -> dict[str, set[str]]:
    """{figure: the methods with the best value of it}: every method tied at the best, none when all are equal
    (a figure that does not tell the methods apart has no best)."""
    out = {}
    for name, way in better.items():
        values = {row["method"]: row[name] for row in rows if name in row and row[name] == row[name]}  # not NaN
        if len(set(values.values())) > 1:
            top = (min if way == "lower" else max)(values.values())
            out[name] = {method for method, value in values.items() if value == top}
    return out
