"""Text classifier methods on minilm-sentiment: CPU time and passes for a 20-token input, against the floors.

    python -m bench.bench_text [--repeats 3] [--methods a,b]

Floors: one bare forward + backward at batch 1 (gradient methods; × backward passes for IG), one
forward at batch 1 (attention methods), and the best
per-text forward time over batch sizes (perturbation methods: passes × that).
Ratios are the method's median time over its floor.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench.common import median_time, timed
from explainers import explain, list_explainers
from models import load_model

TEXT = "The food was awful , the service was slow and the waiter was rude to everyone at our table tonight"  # 20 tokens
GRADIENT = {"saliency", "gradient-x-input", "integrated-gradients"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default=",".join(list_explainers("text")))
    args = parser.parse_args()
    model = load_model("minilm-sentiment")
    enc = model.encode(TEXT)
    n = len(enc.content)
    ids, mask = enc.input_ids, enc.attention_mask

    def forward_backward():
        seen = []
        h = model.embeddings.register_forward_hook(lambda _m, _i, out: seen.append(out))
        with torch.enable_grad():
            out = model.module(ids, mask)
            torch.autograd.grad(out[0, 1], seen[-1])
        h.remove()

    fb = median_time(forward_backward, model.device, args.repeats)
    best = (float("inf"), 1)
    with torch.inference_mode():
        for b in (1, 4, 8, 16, 32, 64):
            batch, m = ids.expand(b, -1).contiguous(), mask.expand(b, -1).contiguous()
            best = min(best, (median_time(lambda: model.module(batch, m), model.device, args.repeats) / b, b))
    per_pass, best_batch = best
    with torch.inference_mode():
        forward1 = median_time(lambda: model.module(ids, mask), model.device, args.repeats)
    print(f"minilm-sentiment on {model.device_description}; {n} tokens (+2 special); repeats {args.repeats}")
    print(f"floor: forward+backward at batch 1 {fb * 1000:.1f} ms; best forward {per_pass * 1000:.2f} ms/text at batch {best_batch}; forward at batch 1 {forward1 * 1000:.1f} ms")
    print(f"{'method':22} {'median s':>9} {'fwd':>5} {'bwd':>5} {'floor s':>8} {'ratio':>6}")
    for method in args.methods.split(","):
        explain(model, TEXT, method=method, target="positive")  # warm-up (numba compile for shap)
        times, e = [], None
        for _ in range(args.repeats):
            holder = {}
            times.append(timed(lambda: holder.setdefault("e", explain(model, TEXT, method=method, target="positive")),
                               model.device))
            e = holder["e"]
        t = statistics.median(times)
        if method in GRADIENT:
            floor = fb * max(1, e.n_backward) if method == "integrated-gradients" else fb
        elif e.n_forward == 1:  # attention methods: one forward at batch 1
            floor = forward1
        else:
            floor = e.n_forward * per_pass
        ratio = f"{t / floor:6.1f}" if floor > 0 else f"{'—':>6}"  # the random baseline makes no pass
        print(f"{method:22} {t:9.3f} {e.n_forward:5d} {e.n_backward:5d} {floor:8.3f} {ratio}")


if __name__ == "__main__":
    main()
