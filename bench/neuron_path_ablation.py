"""The neuron path's ablation check over held-out digits (issue 20's acceptance): on the embedded digits ViT, how
often zeroing the influential path lowers the class probability more than the mean of 20 random paths (and than
the top-activation path), with the figure's data: the drops per digit as JSON and the distribution as PNG.

    python -m bench.neuron_path_ablation --out /tmp/neuron_path_ablation [--n 100] [--n_steps 16] [--candidates 16]

Result (2 cores shared, 1 torch thread, defaults n_steps 16, candidates 16, 100 test digits, 28 s):
    path beats the mean of 20 random paths on 100 % of the digits; beats the top-activation path on 98 %.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from explainers.neurons.neuron_path import ablation_study
from models.embedded.digits_vit import digit_images, vit_digits
from reports.figures import renderer


def drops(study: dict) -> dict[str, list[float]]:
    """The class probability's drop per digit for each kind of path (the figure's groups, in order)."""
    p = np.array(study["probability"])
    return {"influential path": (p - np.array(study["path"])).tolist(),
            "top-activation path": (p - np.array(study["top_activation"])).tolist(),
            "random paths (mean of 20)": (p - np.array(study["random_mean"])).tolist()}


def figure_png(study: dict) -> bytes:
    data = renderer("distribution").prepare(
        drops(study), title=f"Ablation over {study['n']} held-out digits (digits ViT)",
        value_title="drop of the class probability when the path's neurons are zeroed")
    return renderer("distribution").png(data)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for ablation.json and ablation.png")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--n_steps", type=int, default=16)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for this tiny model)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = vit_digits(device="cpu")
    images, _ = digit_images("test")
    start = time.perf_counter()
    study = ablation_study(model, images[: args.n], n_steps=args.n_steps, candidates=args.candidates)
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps({**study, "drops": drops(study), "seconds": seconds}))
    (args.out / "ablation.png").write_bytes(figure_png(study))
    print(f"{study['n']} digits in {seconds:.1f} s: the path beats the mean of 20 random paths on "
          f"{study['beats_random']:.0%}, the top-activation path on {study['beats_top_activation']:.0%}; "
          f"figure data in {args.out}")
    return study


if __name__ == "__main__":
    main()
