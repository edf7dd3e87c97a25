"""neuron-path: its passes against its cost model (must be equal) and its time against its floor.

    python -m bench.bench_neuron_path [--repeats 3] [--device cpu|cuda] [--threads 1]

Passes: ``explain(..., "neuron-path")`` counts every forward and backward the model makes; the cost model
(``neuron_path_cost``: 1 + blocks × candidates × n_steps forward and backward, plus 2 + n_random forward for the
ablation check) is shown before a run. Floor: passes × the best per-pass time at the best batch, measured in the
same run: a bare forward of the module and the gradient of the class probability to the input (torch.autograd.grad,
no weight gradients: the method asks for none) on the same input, repeated in
batches of 1 … 512 rows (the forward-only ablation passes at the best bare forward per row). Ratio = time / floor.
The digits ViT (3 blocks of 128 neurons), the image a held-out digit; timings interleaved, medians.

Result (2 shared cores, CPU, 1 torch thread, repeats 3; best forward+backward per row 0.316 ms at batch 512, best
forward 0.092 ms at batch 64):
    setting                                       forward  backward          cost  equal  median s  floor s  ratio
    n_steps 16 candidates 16 batch_size 64            791       769       791/769   True     0.292    0.245   1.19
    n_steps 16 candidates 16 batch_size 256           791       769       791/769   True     0.333    0.245   1.36
    n_steps 8 candidates 8 batch_size 64              215       193       215/193   True     0.082    0.063   1.30
    n_steps 16 candidates 0 batch_size 256          6,167     6,145   6,167/6,145   True     2.308    1.945   1.19
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench.common import interleaved, median_time
from explainers import explain, get_method
from models.embedded.digits_vit import digit_images, vit_digits

SETTINGS = [
    {"n_steps": 16, "candidates": 16, "batch_size": 64},
    {"n_steps": 16, "candidates": 16, "batch_size": 256},
    {"n_steps": 8, "candidates": 8, "batch_size": 64},
    {"n_steps": 16, "candidates": 0, "batch_size": 256},
]
BATCHES = (1, 8, 32, 64, 128, 256, 512)


def best_per_row(model, x: torch.Tensor, target: int, backward: bool, repeats: int) -> tuple[float, int]:
    """The fastest per-row time of a bare forward (and backward of the class probability) over batch sizes."""
    best = (float("inf"), 1)
    for b in BATCHES:
        batch = x.expand(b, *x.shape[1:]).contiguous()

        def run():
            if backward:  # the gradient of the probability to the input (no weight gradients: none is needed)
                with torch.enable_grad():
                    leaf = batch.detach().requires_grad_(True)
                    torch.autograd.grad(torch.softmax(model.module(leaf), 1)[:, target].sum(), leaf)
            else:
                with torch.inference_mode():
                    model.module(batch)

        best = min(best, (median_time(run, model.device, repeats) / b, b))
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = vit_digits(device=args.device)
    images, _ = digit_images("test")
    image = images[0]
    x = model.preprocess(image)
    target = int(model.predict(image).probs.argmax())
    spec = get_method("neuron-path", "image")

    fb, fb_batch = best_per_row(model, x, target, True, args.repeats)
    fw, fw_batch = best_per_row(model, x, target, False, args.repeats)
    print(f"device: {model.device_description}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"repeats {args.repeats}")
    print(f"best forward+backward per row {fb * 1e3:.3f} ms (batch {fb_batch}); "
          f"best forward per row {fw * 1e3:.3f} ms (batch {fw_batch})")
    print(f"{'setting':<44}{'forward':>9}{'backward':>10}{'cost':>14}{'equal':>7}{'median s':>10}{'floor s':>9}"
          f"{'ratio':>7}")
    runs = {}
    fns = {}
    for s in SETTINGS:
        name = " ".join(f"{k} {v}" for k, v in s.items())
        fns[name] = lambda s=s, name=name: runs.__setitem__(name, explain(model, image, "neuron-path", target=target,
                                                                          **s))
    times = interleaved(fns, args.repeats, model.device)
    for s in SETTINGS:
        name = " ".join(f"{k} {v}" for k, v in s.items())
        e = runs[name]
        cost = spec.estimate(s, model, targeted=1)
        floor = e.n_backward * fb + (e.n_forward - e.n_backward) * fw
        median = statistics.median(times[name])
        equal = (e.n_forward, e.n_backward) == tuple(cost)
        print(f"{name:<44}{e.n_forward:>9,}{e.n_backward:>10,}{f'{cost[0]:,}/{cost[1]:,}':>14}{str(equal):>7}"
              f"{median:>10.3f}{floor:>9.3f}{median / floor:>7.2f}")


if __name__ == "__main__":
    main()
