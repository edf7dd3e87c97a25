"""The time estimate shown before Run against the time the run then takes, for every method on the embedded models.

    python -m bench.bench_estimates [--modalities image,text,generation,tabular] [--quick] [--methods a,b]

For each embedded model (image: efficientnet-lite0, vit-digits; text: minilm-sentiment on a short and a long
review; generation: smollm2-135m; tables: the bundled scikit-learn models), every method a page offers for it:
the estimate a page shows (``explainers.core.cost.estimate``, with the input's sizes, as the pages call it), then
``explain`` timed end to end. Prints method | model | estimate s | measured s | ratio (estimate / measured), and how
many ratios lie in [0.7, 1.3]. Runs shorter than ``FLOOR_S`` are "too short to time": a few milliseconds of a
scikit-learn model or a CAM are mostly Python overhead and scheduler noise, their ratio says nothing about a
wait a person would notice, so they are listed but not counted.

shap is imported before the first run (seconds, once per server process: no method's time). The
probe is measured once per model (a text: per length) before the first estimate (as a page does at first use) and the
calibration from recorded runs is switched off (``--calibrated`` keeps it), so the table judges the probe
and the pass counts alone, not the runs before it.

``--quick``: fewer samples/steps/masks per method (the same parameters go into the estimate and the run), so a
run of every modality should fit in about 10 minutes on 2 idle CPU cores (generation's integrated gradients: a
budget of 32 gradients per token, 8 tokens). ``--threads 1``: one torch thread; on a machine shared with other
jobs, two OpenMP threads that wait for each other at every operation slow down unpredictably (a 24-token MiniLM
pass probed at 27 ms on one thread, 570 ms on two), one thread far less so. ``--cpu-time``: the probe and the runs
timed in this process's CPU seconds, on one thread: on a machine shared with other jobs the wall clock measures the
others (a probe taken at load 11 and runs at load 5: every generation ratio 1.2-3.9), CPU time the passes' own
work (cache contention still adds some).

Latest, generation on a quiet machine (2026-12-07, later; load 0.2-1.3, 2 threads; ``--modalities generation
--quick``): 7 of 7 in [0.7, 1.3] after two changes. smollm2-135m: occlusion 0.78, attention 1.04 (was 1.57),
gradient-x-input 1.00 (was 1.48), integrated-gradients 1.09, random 0.95 (was 1.23), reagent 1.02 (364 passes
estimated, 410 run), lm-neurons 1.06 (was 0.65). (1) The generation-step probe now times steps of ``generate``'s own
loop, four in a row around the probed length (``CausalLMAdapter.probe_step``/``_greedy``), not one step again and
again: that was ~1.3x a step of the loop. (2) lm-neurons' backwards run one at a time on its forward's graph
(``register(one_graph=True)``): timed as one forward and a backward per token at batch 1, no longer as paired
forward + backward passes at the probe's batch. The image and text rows below are unchanged by either.

Before those, on a quiet machine (2026-12-07, 2 threads, load < 1.2, ``--modalities image,text,generation --quick``):
18 of 20 ratios in [0.7, 1.3], median 0.96, min 0.75, max 1.57. efficientnet-lite0: integrated-gradients 0.88,
smoothgrad 1.14, gradient-shap 1.01, score-cam 1.04, occlusion 0.77, rise 0.96, sobol 1.06, shap 0.93;
minilm 9 tokens: shap 0.75, lime 0.91; 254 tokens: integrated-gradients 0.79, occlusion 0.90, shap 0.84, lime 0.82;
smollm2-135m: occlusion 0.96, integrated-gradients 1.03, random 1.23, reagent 1.10, attention 1.57 and
gradient-x-input 1.48 (fixed since: above). The new methods' runs (neuron-path, channel-attribution: under 0.2 s)
are too short to time; shap-kl on the bundled tables (0.1-0.2 s) estimates 2-4x its run.

Results on a quiet machine (2026-12-06, 2 CPU cores, load < 1, 2 threads as the app;
``python -m bench.bench_estimates --modalities image,text,generation --quick``; ratio = estimate / measured, runs of
0.2 s or more; shap warmed once per process first): 16 of 21 ratios in [0.7, 1.3], median 0.97. The five outside
and what was done (2026-12-07):

- generation integrated-gradients 0.17: an adaptive rule that halved the path's worst intervals until it converged
  (1293 + 888 passes for 153 + 128 first steps). Now it spends a fixed budget, ``n_steps`` gradients per token,
  trisecting the worst intervals (stopping earlier only when every row is complete), and its cost is those passes:
  estimate and run 465 + 256 passes, pass for pass.
- generation reagent 5.0: its cost assumed 10 steps per probe; SmolLM2's probes make 1.3-2.2 on average
  (``reagent.PRIOR_PROBE_STEPS``, then the median of the model's own recent runs), its set-up rows were over-counted
  by one position, and its rows (the prompt, or the prompt and earlier target tokens) were timed as whole probed
  rows: now as they go (``registry`` ``row_groups``: the set-up in the engine's batches, each token's first step
  with all its probes, the later steps a row at a time), each row its share of a probed row in a batch of as many
  tokens. Estimate 364 passes, run 410.
- generation random 1.41 (the continuation alone): every new token was timed as a full-logits forward of the probed
  length; the probe now times a greedy step (one row, last position's logits) at two lengths, the continuation the
  sum of its steps on that line.
- text shap 0.42 on the 9-token review (warming fixed that) then 1.87 by CPU time: shap's Partition explainer
  stops when the text's token tree is expanded whole, 92 passes there of a budget of 150; the text's sizes now give
  that count (``explainers.text.methods.shap_full_evals``) and the estimate is the smaller: 92 = 92.
- texts and prompts were probed at their length rounded up to a multiple of 8 (the 11-token review at 16): now by
  less than 1/8 of it (``cost.TOKEN_SHARE``); lime on the short review 1.33 → 0.98 (CPU time).
- image gradient-shap 1.30 (and smoothgrad 1.25): NOT fixed. The probe's batch of eight copies of the photo takes
  ~60 ms per input forward + backward (EfficientNet-Lite0, CPU time, one thread), the methods' noisy or scaled copies
  ~51 ms: a content effect of the CPU's backward, not subnormals (``torch.set_flush_denormal`` changes nothing).

Results on a loaded machine (2026-12-07, 2 cores shared with two other sessions' tests, load 3-11; ``--quick
--cpu-time``, one run each, noisy):

- smollm2-135m (8 new tokens; reagent 4), last run (``--modalities generation``, all changes in): 6 of 6 in
  [0.7, 1.3]: occlusion 0.76, attention 0.97, gradient-x-input 0.92, integrated-gradients 1.04 (465 + 256 passes,
  estimate = run), random 1.00, reagent 0.98 (passes: estimate 364, run 410). Over four runs: occlusion 0.71-0.76,
  integrated-gradients 0.96-1.07, random 0.91-1.07; reagent 0.50-0.55 while its later steps, a few probes at a
  time, were timed at the engine's batch.
- minilm-sentiment, last run: 7 of 7 in [0.7, 1.3]. 9 tokens: integrated-gradients 0.90, shap 0.93 (92 = 92
  passes), lime 1.00; 254 tokens: integrated-gradients 0.75, occlusion 0.98, shap 0.97, lime 1.01. Before short
  rows were probed at the engine's batch (``cost.PROBE_CPU_TOKENS``) the 9-token integrated gradients was at 0.58:
  its batch of 32 was timed on the line through batches 1 and 8, and a CPU's time per input stops falling past a
  few inputs. Long-text integrated gradients stays near the edge (0.63-0.76 here, 0.82 on the quiet machine): its
  batch of 32 rows of 256 tokens is still timed on that line (probing it would take seconds).
- efficientnet-lite0 (one run, before the last two probe changes, which leave images as they were): 6 of 8:
  integrated-gradients 0.85, smoothgrad 1.31, gradient-shap 1.31 (see above), score-cam 0.91, occlusion 0.77,
  rise 0.86, sobol 0.84, shap 0.92; every vit-digits run under 0.2 s.
- scikit-learn models: not rerun (every run under 0.2 s but shap-permutation, whose estimate is off both ways,
  0.18 to 5.5: the explainer calls the model with row counts of its own, not the background's).
- shap: its first run in a process compiles shap's numba code (text: ~4 s, image: ~5 s, once); the page says so
  beside a shap estimate, and the bench runs each shap method once per modality, untimed, first.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from explainers import explain
from explainers.core import cost
from explainers.core.modality import input_sizes, prepare_input
from explainers.core.registry import methods_for

FLOOR_S = 0.2  # runs shorter than this are reported as "too short to time"
SHORT_REVIEW = "The food was awful and the service was slow"
LONG_REVIEW = " ".join([
    "I went to see this film on a rainy Sunday afternoon with low expectations, having read mixed reviews.",
    "The first hour is slow: the characters are introduced one by one and the dialogue often feels stiff.",
    "The cinematography is lovely though, with long shots of the coast and a warm palette throughout.",
    "Halfway through, the plot finally picks up when the sister returns and the family secret comes out.",
    "The lead actress carries the second half with a restrained and moving performance.",
    "Some scenes drag and the score is too loud at times, but the ending is earned and quietly devastating.",
    "By the time the credits rolled I had forgiven the slow start entirely.",
    "In the end it is a thoughtful, beautifully acted drama and I would recommend it without hesitation.",
] * 2)
PROMPT = "The capital of France is"

# --quick: the parameters that set a method's passes, smaller (the defaults otherwise)
QUICK = {
    "image": {
        "integrated-gradients": {"n_steps": 16}, "smoothgrad": {"n_samples": 8}, "gradient-shap": {"n_samples": 8},
        "rise": {"n_masks": 200}, "sobol": {"nb_design": 8}, "shap": {"max_evals": 200},
        "occlusion": {"window": 48, "stride": 32},
    },
    "text": {"integrated-gradients": {"n_steps": 32}, "shap": {"max_evals": 150}, "lime": {"n_samples": 100}},
    "generation": {"*": {"max_new_tokens": 8}, "integrated-gradients": {"max_new_tokens": 8, "n_steps": 32},
                   "reagent": {"max_new_tokens": 4, "max_probe_steps": 200}},
    "tabular": {"shap-kernel": {"nsamples": 256}},
}


def cases(modalities: set[str]):
    """(modality, model name, model, input, target) for every embedded model of the chosen modalities."""
    from models import load_model
    from models.inputs.samples import sample_image

    if "image" in modalities:
        yield "image", "efficientnet-lite0", load_model("efficientnet-lite0"), sample_image("chelsea (cat)"), None
        yield "image", "vit-digits", load_model("vit-digits"), sample_image("digit 3 (for vit-digits)"), None
    if "text" in modalities:
        text = load_model("minilm-sentiment")
        yield "text", "minilm-sentiment (short)", text, SHORT_REVIEW, None
        yield "text", "minilm-sentiment (long)", text, LONG_REVIEW, None
    if "generation" in modalities:
        yield "generation", "smollm2-135m", load_model("smollm2-135m"), PROMPT, None
    if "tabular" in modalities:
        from models.adapters.tabular import MODEL_KINDS, train_model
        from models.inputs.tables import load_dataset

        for dataset in ("breast_cancer", "tips"):
            data = load_dataset(dataset)
            for kind in MODEL_KINDS:
                model = train_model(data, kind)
                yield "tabular", f"{kind} ({dataset})", model, data.features.iloc[3].to_dict(), None


def params_for(modality: str, method: str, quick: bool) -> dict:
    if not quick:
        return {}
    table = QUICK.get(modality, {})
    return {**table.get("*", {}), **table.get(method, {})} if method != "random" else dict(table.get("*", {}))


timer = time.perf_counter  # --cpu-time: time.process_time, in the probe too


def measure(model, x, method: str, params: dict, target) -> tuple[tuple[int, int, float], float, tuple[int, int]]:
    """(the estimate a page shows, the run's end-to-end seconds, the passes the run counted)."""
    sizes = input_sizes(model, prepare_input(model, x), target, params)
    if target is not None:
        sizes["targeted"] = 1  # the class is given: no pass need find it
    estimate = cost.estimate(model, method, params, **sizes)
    start = timer()
    e = explain(model, x, method=method, target=target, **params)
    return estimate, timer() - start, (e.n_forward, e.n_backward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modalities", default="image,text,generation,tabular")
    parser.add_argument("--methods", default="", help="only these methods (comma-separated)")
    parser.add_argument("--quick", action="store_true", help="fewer samples/steps per method")
    parser.add_argument("--calibrated", action="store_true", help="keep the calibration from recorded runs")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, as the app)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the probe and the runs in this process's CPU seconds, on one thread (a machine "
                             "shared with other jobs: the passes' own work, not the waits for a core)")
    args = parser.parse_args()
    if args.cpu_time:
        global timer
        import types

        timer, args.threads = time.process_time, 1
        cost.time = types.SimpleNamespace(perf_counter=time.process_time)  # the probe's clock (cost._timed)
    if args.threads:  # 1 on a machine shared with other jobs: spinning OpenMP threads slow down unpredictably
        import torch

        torch.set_num_threads(args.threads)
    if not args.calibrated:
        cost.record_run = lambda *a, **k: None  # noqa: E731 - judge the probe alone
        import explainers.core.explain as explain_module

        explain_module.record_run = cost.record_run
    only = {m for m in args.methods.split(",") if m}
    import shap  # noqa: F401 - a library's first import (seconds, once per server) is no method's time
    rows, compiled = [], set()
    print(f"{'method':22} {'model':30} {'passes est':>12} {'passes run':>12} {'estimate s':>10} {'measured s':>10} {'ratio':>6}",
          flush=True)
    for modality, name, model, x, target in cases(set(args.modalities.split(","))):
        if modality != "generation":  # the pages explain a chosen class (the top one by default): given, as there
            target = explain(model, x, method="random").target
        tokens = cost.probe_tokens(model, **input_sizes(model, prepare_input(model, x), target))
        start = timer()
        found = cost.probe(model, tokens)  # the probe, as at a page's first use (a text: at its length)
        probe_s = timer() - start
        print(f"-- {name}: probe {probe_s:.2f} s; ms per input at batch 1 and {found.batch}: forward "
              f"{found.forward[0] * 1e3:.1f}, {found.forward[1] * 1e3:.1f}; backward {found.backward[0] * 1e3:.1f}, "
              f"{found.backward[1] * 1e3:.1f} (runs at batch {found.run_batch})", flush=True)
        for spec in methods_for(model):
            if only and spec.id not in only:
                continue
            params = params_for(modality, spec.id, args.quick)
            if spec.id.startswith("shap") and (modality, spec.id) not in compiled:  # first use compiles shap's
                compiled.add((modality, spec.id))  # numba code: seconds once per process (the page says so)
                with contextlib.suppress(Exception):
                    explain(model, x, method=spec.id, target=target, **params)
            try:
                (f_est, b_est, seconds), measured, counted = measure(model, x, spec.id, params, target)
            except Exception as error:  # noqa: BLE001 - say it and go on with the others
                print(f"{spec.id:22} {name:30} failed: {error}", flush=True)
                continue
            ratio = seconds / measured if measured > 0 else float("nan")
            short = measured < FLOOR_S and seconds < FLOOR_S
            rows.append((spec.id, name, seconds, measured, ratio, short))
            shown = "short" if short else f"{ratio:.2f}"
            print(f"{spec.id:22} {name:30} {f'{f_est}+{b_est}':>12} {f'{counted[0]}+{counted[1]}':>12} "
                  f"{seconds:10.2f} {measured:10.2f} {shown:>6}", flush=True)
    timed = [r for r in rows if not r[5]]
    within = [r for r in timed if 0.7 <= r[4] <= 1.3]
    print(f"\n{len(within)} of {len(timed)} ratios in [0.7, 1.3]; {len(rows) - len(timed)} runs under {FLOOR_S} s "
          "(too short to time)")
    if timed:
        ratios = np.array([r[4] for r in timed])
        print(f"ratio: median {np.median(ratios):.2f}, min {ratios.min():.2f}, max {ratios.max():.2f}")
    for method, name, seconds, measured, ratio, _ in timed:
        if not 0.7 <= ratio <= 1.3:
            print(f"  outside: {method} on {name}: estimate {seconds:.2f} s, measured {measured:.2f} s")


if __name__ == "__main__":
    main()
