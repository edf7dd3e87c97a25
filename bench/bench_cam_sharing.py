"""Six gradient CAMs for the price of one pass: shared vs six separate runs vs one Grad-CAM alone.

    python -m bench.bench_cam_sharing [--repeats 10] [--device cpu|cuda] [--image "chelsea (cat)"]

On the embedded CNN (efficientnet-lite0) and one bundled image, for a known class, times (best of
``--repeats``, interleaved so that load drifts hit all alike):

- ``shared``: ``explain_many`` of grad-cam, grad-cam++, xgrad-cam, hires-cam, layer-cam and cf-cam
  (one forward + one backward to the layer, then each rule; what Compare and the image page run);
- ``separate``: the six through ``explain`` one after the other (six forwards + six backwards);
- ``grad-cam``: one ``explain`` of Grad-CAM alone;
- ``shared-5``: ``shared`` without cf-cam (its DBSCAN clustering is work of its own, not passes).

Prints the passes each made (counted by the adapter) and the ratios shared / grad-cam (goal ≤ 1.2)
and separate / shared; then each rule's own seconds inside the shared run (what it adds to the pass);
then CF-CAM's rule alone on that layer's activations and gradients (``cluster_filter_weights``, best
of 5 × ``--repeats``), beside the slow reference kept in tests/unit/test_cf_cam_clustering.py
(scipy pdist over every weak channel + scikit-learn DBSCAN, the rule as first written).

Results (``python -m bench.bench_cam_sharing --repeats 10``, CPU, 2 threads, chelsea, class 285):

- before the fast CF-CAM clustering (pdist + scikit-learn DBSCAN): shared 40.7 ms, grad-cam alone
  24.6 ms, shared / grad-cam 1.65, shared-5 / grad-cam 1.04; CF-CAM's rule 17.5 ms.
- after (one distance matrix of the distinct maps, our DBSCAN), the CPU shared with other jobs;
  three runs of ``--repeats 10`` at load 1.3: shared 25.1 / 25.0 / 26.7 ms, grad-cam alone 21.2 /
  21.0 / 23.7 ms, shared / grad-cam 1.19 / 1.19 / 1.12, shared-5 / grad-cam 1.07 / 1.08 / 1.16,
  separate / shared 5.2-5.8; CF-CAM's rule 1.5 ms beside the reference's 14.7-16.2 ms (best of 50).
  At load 3-5 grad-cam alone reads 27-70 ms and the ratios scatter (0.6-1.3): compare only quiet runs.
  CF-CAM now adds about 2 ms to the shared run (its rule, ~1-1.5 ms, and its map's resize, as each CAM).
"""

from __future__ import annotations

import argparse

import torch

from bench.common import interleaved
from explainers import explain
from explainers.core.explain import explain_many
from explainers.image.cam import layer_gradients
from explainers.image.cf_cam import cluster_filter_weights
from models import load_model
from models.inputs.samples import sample_image

SIX = ("grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam", "cf-cam")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default=None)
    parser.add_argument("--image", default="chelsea (cat)")
    args = parser.parse_args()

    model = load_model("efficientnet-lite0", device=args.device)
    image = sample_image(args.image)
    target = int(model.predict(image).probs.argmax())
    methods = {m: {} for m in SIX}

    def passes(fn):
        before = (model.n_forward, model.n_backward)
        fn()
        return model.n_forward - before[0], model.n_backward - before[1]

    runs = {
        "shared": lambda: explain_many(model, image, methods, target=target),
        "shared-5": lambda: explain_many(model, image, {m: {} for m in SIX if m != "cf-cam"}, target=target),
        "separate": lambda: [explain(model, image, method=m, target=target) for m in SIX],
        "grad-cam": lambda: explain(model, image, method="grad-cam", target=target),
    }
    counted = {name: passes(fn) for name, fn in runs.items()}
    times = {name: min(ts) for name, ts in interleaved(runs, args.repeats, model.device, warmup=1).items()}

    print(f"device: {model.device_description}, torch {torch.__version__}, image {args.image} "
          f"{image.shape[1]}x{image.shape[0]}, class {target}, best of {args.repeats}")
    print(f"{'run':<10}{'passes (f + b)':>16}{'best ms':>10}")
    for name in runs:
        f, b = counted[name]
        print(f"{name:<10}{f'{f} + {b}':>16}{times[name] * 1e3:>10.1f}")
    print(f"shared / grad-cam alone = {times['shared'] / times['grad-cam']:.2f} (goal <= 1.2)")
    print(f"shared-5 / grad-cam     = {times['shared-5'] / times['grad-cam']:.2f} (the five without cf-cam)")
    print(f"separate / shared       = {times['separate'] / times['shared']:.2f}")
    rule_times(model, image, target, args.repeats)
    together = explain_many(model, image, methods, target=target)
    print("each rule's own seconds in the shared run (the first also carries the passes):")
    for method, e in together.items():
        print(f"  {method:<12}{e.runtime_s * 1e3:>8.1f} ms  {e.n_forward} + {e.n_backward} passes")


def rule_times(model, image, target, repeats: int) -> None:
    """CF-CAM's rule alone (weights from A, G), and the slow reference where the tests are at hand."""
    A, G, _ = layer_gradients(model, image, target)
    rules = {"cf-cam rule": lambda: cluster_filter_weights(A, G)}
    try:
        from tests.unit.test_cf_cam_clustering import reference_weights
    except ImportError:  # the bench without the tests
        reference_weights = None
    if reference_weights is not None:
        rules["reference (pdist + sklearn)"] = lambda: reference_weights(A.cpu(), G.cpu())
    times = {name: min(ts) for name, ts in interleaved(rules, 5 * repeats, model.device, warmup=1).items()}
    weak = int((A.flatten(1).norm(dim=1) < A.flatten(1).norm(dim=1).quantile(0.75)).sum())
    print(f"CF-CAM's rule on {tuple(A.shape)} ({weak} weaker channels), best of {5 * repeats}:")
    for name, t in times.items():
        print(f"  {name:<30}{t * 1e3:>8.2f} ms")


if __name__ == "__main__":
    main()
