"""Faithfulness metrics on the embedded CNN: deletion + insertion for one image at 224 px, against the floor.

    python -m bench.bench_metrics [--device cpu|cuda] [--repeats 3] [--pixels-per-step 224]

Floor: the passes the two curves make (2 × (224·224 / pixels_per_step + 1)) × the
best per-image forward time over batch sizes (bare module, ``torch.inference_mode``),
measured in the same run — what any implementation of the RISE curves must pay.
Metric time: ``deletion_curve`` + ``insertion_curve`` end to end from a uint8 image
and a Grad-CAM map (ranking, masked inputs, the passes through the engine, the
area), median of ``--repeats``. Ratio = metric / floor.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import best_forward_per_image, median_time
from explainers import explain
from explainers.metrics.image import deletion_curve, insertion_curve
from models import load_model
from models.inputs.samples import sample_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pixels-per-step", type=int, default=224)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = load_model("efficientnet-lite0", device=device)
    image = sample_image("chelsea (cat)")
    e = explain(model, image, method="grad-cam")
    step = args.pixels_per_step

    def both():
        deletion_curve(model, image, e.scores, e.target, step)
        insertion_curve(model, image, e.scores, e.target, step)

    before = model.n_forward
    both()
    passes = model.n_forward - before
    metric = median_time(both, device, args.repeats, warmup=0)
    x = model.preprocess(image)
    if device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    per_image, batch = best_forward_per_image(model, x, batch_sizes=(1, 4, 8, 16, 32, 64) if device.type == "cpu"
                                              else (32, 64, 128, 256, 512))
    floor = passes * per_image
    print(f"deletion + insertion on {model.name}, chelsea at {model.input_size[0]} px, {step} pixels per step, "
          f"device {device}, torch threads {torch.get_num_threads()}, {time.strftime('%Y-%m-%d')}")
    print(f"passes {passes}; best forward {per_image * 1e3:.2f} ms per image at batch {batch}")
    print(f"metric {metric:.3f} s   floor {floor:.3f} s   ratio {metric / floor:.2f}")


if __name__ == "__main__":
    main()
