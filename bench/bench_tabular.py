"""Tabular SHAP: TreeSHAP vs KernelSHAP on a 100-tree random forest, against the bare model's predict.

    python -m bench.bench_tabular [--rows 1000 10000] [--kernel-rows 10] [--repeats 2]

Data: ``make_classification`` (20 numeric features), a 100-tree random forest trained
through Lumen (``train_model``) on 75% of the rows. For 1 000 and 10 000 rows:

- floor: the bare pipeline's ``predict_proba`` on those rows (what any explanation that
  looks at the model's output for them must at least pay);
- shap (library): ``shap.TreeExplainer`` on the forest, the rows preprocessed beforehand —
  the peer: Lumen's overhead is the ratio between the two lines below;
- shap-tree: the whole ``explain_global(..., method="shap-tree")`` call;
- shap-kernel: Kernel SHAP at its Lumen defaults (20 k-means centroids, 512 coalitions)
  is far too slow to run on 10 000 rows: it is timed on ``--kernel-rows`` rows and
  **extrapolated linearly** per row (each row is explained independently), and says so.
  The k-means background summary is computed once per model, inside the first measured row.

Times are the best of ``--repeats``; ratios are to the floor.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import shap
    from sklearn.datasets import make_classification

    from explainers import explain
    from explainers.tabular.shap_methods import explain_global
    from models.inputs.tables import Dataset
    from models.adapters.tabular import train_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--kernel-rows", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    n_max = max(args.rows)
    X, y = make_classification(n_samples=n_max + 4000, n_features=20, n_informative=8, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = np.where(y == 1, "yes", "no")
    start = time.perf_counter()
    model = train_model(Dataset("synthetic", frame.iloc[:4000], "label", "classification"), "random-forest")
    print(f"100-tree forest, 20 features, trained on 3000 rows in {time.perf_counter() - start:.1f} s "
          f"(held-out accuracy {model.score:.3f})")
    explain_rows = frame.drop(columns=["label"]).iloc[4000:]

    kernel_sample = explain_rows.iloc[: args.kernel_rows]
    kernel_total = best(lambda: [explain(model, kernel_sample.iloc[[i]], method="shap-kernel")
                                 for i in range(len(kernel_sample))], 1)
    kernel_per_row = kernel_total / len(kernel_sample)
    print(f"shap-kernel: {kernel_per_row * 1000:.0f} ms per row, measured on {len(kernel_sample)} rows "
          "(one explain() call each) and extrapolated per row below")

    print(f"\n{'rows':>6} | {'floor predict':>13} | {'shap library':>12} | {'shap-tree':>10} | "
          f"{'shap-kernel*':>12} | tree/floor | kernel/floor | kernel/tree | tree/library")
    for n in args.rows:
        rows = explain_rows.iloc[:n].reset_index(drop=True)
        floor = best(lambda: model.estimator.predict_proba(rows), args.repeats)
        matrix = model.transform(rows)
        library = best(lambda: shap.TreeExplainer(model.final).shap_values(matrix, check_additivity=False),
                       args.repeats)
        tree = best(lambda: explain_global(model, rows, method="shap-tree", rows=n), args.repeats)
        kernel = kernel_per_row * n
        print(f"{n:>6} | {floor:>11.3f} s | {library:>10.2f} s | {tree:>8.2f} s | {kernel:>10.0f} s | "
              f"{tree / floor:>10.0f} | {kernel / floor:>12.0f} | {kernel / tree:>11.0f} | {tree / library:>12.2f}")
    print("* shap-kernel extrapolated from the per-row time above.")


if __name__ == "__main__":
    main()
