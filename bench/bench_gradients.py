"""Captum-backed gradient methods vs the physical floor, and Integrated Gradients vs plain Captum.

    python -m bench.bench_gradients [--repeats 5] [--device cpu|cuda]

Floor: one bare forward + ``logit.backward()`` of the same model on the same
preprocessed input (bench.common.forward_backward). Each method: the whole
``explain()`` call from a uint8 image with a given target and default
parameters; its ratio is normalised by its number of passes (samples sent
forward and back), i.e. time / (passes × floor). Integrated Gradients: our
model-grid attribution vs ``captum.attr.IntegratedGradients`` called directly
on the module, same input, target, baseline, steps, quadrature and batch size.
All timings interleaved in one process; medians (and minima).
"""

from __future__ import annotations

import argparse
import statistics

import torch
from captum.attr import IntegratedGradients

from bench.common import forward_backward, interleaved
from explainers import explain, get_method
from explainers.image.gradients import model_grid_attribution, reference_input
from models import load_model
from models.inputs.samples import sample_image

METHODS = [
    "saliency",
    "gradient-x-input",
    "guided-backprop",
    "deeplift",
    "smoothgrad",
    "gradient-shap",
    "integrated-gradients",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    model = load_model("efficientnet-lite0", device=args.device)
    image = sample_image("chelsea (cat)")
    x = model.preprocess(image)
    target = int(model.predict(image).probs.argmax())

    fns = {"floor": forward_backward(model, x, target)}
    for method in METHODS:
        fns[method] = lambda method=method: explain(model, image, method=method, target=target)
    times = interleaved(fns, args.repeats, model.device)
    floor = statistics.median(times["floor"])

    print(f"device: {model.device_description}, torch {torch.__version__}, image {image.shape[1]}x{image.shape[0]}, "
          f"repeats {args.repeats}")
    print("ratio = time / (passes x floor), from medians and from minima (minima resist load from other processes)")
    print(f"{'what':<22}{'passes':>7}{'median ms':>11}{'min ms':>10}{'ratio (median)':>16}{'ratio (min)':>13}")
    for name in ["floor", *METHODS]:
        passes = 1 if name == "floor" else get_method(name, "image").estimate()[1]
        t, fastest = statistics.median(times[name]), min(times[name])
        print(f"{name:<22}{passes:>7}{t * 1e3:>11.1f}{fastest * 1e3:>10.1f}"
              f"{t / (passes * floor):>16.3f}{fastest / (passes * min(times['floor'])):>13.3f}")

    defaults = get_method("integrated-gradients", "image").defaults
    black = reference_input(model, defaults["baseline"])
    captum_ig = IntegratedGradients(model.module)
    results = {}

    def ours():
        results["ours"] = model_grid_attribution(model, image, "integrated-gradients", target)[0]

    def plain():
        results["captum"] = captum_ig.attribute(
            model.preprocess(image), baselines=black, target=target, n_steps=defaults["n_steps"],
            method=defaults["quadrature"], internal_batch_size=defaults["batch_size"],
        )[0].detach()  # fmt: skip

    ig = interleaved({"ours": ours, "captum": plain}, args.repeats, model.device)
    t_ours, t_captum = statistics.median(ig["ours"]), statistics.median(ig["captum"])
    diff = float((results["ours"] - results["captum"]).abs().max())
    scale = float(results["captum"].abs().max())
    print(f"\nintegrated gradients, {defaults['n_steps']} steps {defaults['quadrature']}, batch "
          f"{defaults['batch_size']}, black baseline")
    print(f"{'lumen (model grid)':<22}{t_ours * 1e3:>11.1f} ms median{min(ig['ours']) * 1e3:>10.1f} ms min")
    print(f"{'plain captum':<22}{t_captum * 1e3:>11.1f} ms median{min(ig['captum']) * 1e3:>10.1f} ms min")
    print(f"speed ratio captum / lumen: {t_captum / t_ours:.3f}  (goal >= 1)")
    print(f"max |lumen - captum|: {diff:.2e}  (largest |attribution| {scale:.2e}; goal <= 1e-4)")


if __name__ == "__main__":
    main()
