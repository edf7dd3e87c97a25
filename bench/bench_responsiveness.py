"""Feature responsiveness for one row vs its floor: the model calls it makes × the best batched per-row predict time.

    python -m bench.bench_responsiveness [--rows 10000] [--features 20] [--kind gradient-boosting] [--repeats 5]

A synthetic table (scikit-learn ``make_classification``: ``--rows`` rows, ``--features`` features, 8 of them
informative, seeded), a model trained on it by Lumen (``train_model``, 75 % of the rows), and one held-out row (the
first the model is less than 90 % sure of, so that some features can flip it) explained with ``explain(m, row, method="responsiveness", actions=...)`` under two action sets over every feature,
bounds from the data:

- ``exact``: a step of 1/200 of each feature's range (201 values a feature: every one evaluated);
- ``sampled``: no step (continuous ranges: ``samples`` = 200 draws a feature, Wilson intervals);
- ``exact-10x``: a step of 1/2000 of the range (2,001 values a feature, ``max_exact=2001``): ten times the rows,
  to show how the run's fixed costs (checking the row and the action set, the run budget) spread out.

The floor: the run's model rows (``n_forward``, counted by the engine) × the best per-row time of the model's own
batched predict (``TabularModel._raw_output`` on a frame of that many rows, batch sizes 256 .. 8192, the best of
``--repeats``, measured in the same run). The ratio says what the action set, the candidate rows, the engine's
batching and the decoding of encoded rows back to a frame add on top of the predictions themselves.
The run's time is the best of ``--repeats``.

Latest (2026-12-07, CPU, 2 cores SHARED with other jobs, load average about 6, so times are noisy and only the
ratios within one run mean much; ``python -m bench.bench_responsiveness``, gradient boosting, held-out accuracy 0.958):

    floor: 2.16 µs per row (model's own predict, best batch 8192)
    exact   : 4,021 model rows · best 38.2 ms (median 47.5) · floor 8.7 ms · ratio 4.39x · responsive features 5/20
    sampled : 4,001 model rows · best 37.8 ms (median 46.5) · floor 8.7 ms · ratio 4.37x · responsive features 5/20
    exact-10x: 40,021 model rows · best 136.4 ms (median 171.7) · floor 86.6 ms · ratio 1.57x

About 30 ms a run is fixed (checking the row and the action set, the run budget's estimate, the explanation); the
rest is within 1.6x of the model's own batched predict. With the engine's batches at 2,048 rows (shap_methods'
size) the same run was 3.2x the floor at 40,021 rows, hence ``ROWS_PER_BATCH = 8192`` here; before the encoded
background was kept per model, parsing the action set encoded it once per feature (60x the floor).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

def synthetic(rows: int, features: int, seed: int = 0):
    from sklearn.datasets import make_classification

    from models.inputs.tables import Dataset

    X, y = make_classification(n_samples=rows, n_features=features, n_informative=min(8, features),
                               n_redundant=min(4, max(0, features - 8)), random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(features)])
    frame["label"] = np.where(y == 1, "yes", "no")
    return Dataset("synthetic", frame, "label", "classification")


def best_per_row(model, rows: pd.DataFrame, repeats: int) -> tuple[float, int]:
    """The best seconds per row of the model's own predict over batch sizes, and the batch size that gave it."""
    best, best_size = float("inf"), 0
    for size in (256, 1024, 2048, 4096, 8192):
        batch = rows.iloc[np.arange(size) % len(rows)].reset_index(drop=True)
        for _ in range(repeats):
            start = time.perf_counter()
            model._raw_output(batch)
            per_row = (time.perf_counter() - start) / size
            if per_row < best:
                best, best_size = per_row, size
    return best, best_size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--kind", default="gradient-boosting")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from explainers import explain
    from models.adapters.tabular import train_model

    dataset = synthetic(args.rows, args.features)
    start = time.perf_counter()
    model = train_model(dataset, args.kind)
    print(f"{args.rows:,} rows × {args.features} features; {args.kind} trained in {time.perf_counter() - start:.1f} s "
          f"(held-out {model.score_name} {model.score:.3f})")
    X = model.held_out[0]
    confidence = model.estimator.predict_proba(X).max(axis=1)  # the first row the model is less than 90 % sure of
    row = X.iloc[int(np.flatnonzero(confidence < 0.9)[0])]
    per_row, size = best_per_row(model, X, args.repeats)
    print(f"floor: {per_row * 1e6:.2f} µs per row (model's own predict, best batch {size})")
    for name, steps, params in (("exact", 200, {}), ("sampled", None, {}),
                                ("exact-10x", 2000, {"max_exact": 2001})):
        actions = {}
        for f in model.feature_names:
            lo, hi = float(X[f].min()), float(X[f].max())
            actions[f] = {"lower": lo, "upper": hi, "direction": "both", **({"step": (hi - lo) / steps} if steps else {})}
        times, e = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            e = explain(model, row, method="responsiveness", actions=actions, **params)
            times.append(time.perf_counter() - t0)
        floor = e.n_forward * per_row
        best = min(times)
        print(f"{name:8s}: {e.n_forward:,} model rows · best {best * 1e3:.1f} ms (median {np.median(times) * 1e3:.1f}) · "
              f"floor {floor * 1e3:.1f} ms · ratio {best / floor:.2f}x · fixed={e.extras['fixed']} · "
              f"responsive features {int((e.scores > 0).sum())}/{len(e.scores)}")


if __name__ == "__main__":
    main()
