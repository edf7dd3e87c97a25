"""Generation methods on the embedded SmolLM2-135M: CPU time and passes for a 20-token prompt.

ReAGent's floor: its forward passes × the best per-row time of a bare forward at its batch
(16 rows, ReAGent's probe batch, same sequence length, last position only), measured in this run.

    python -m bench.bench_generation [--methods reagent]
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import median_time
from explainers import explain
from models import load_model

PROMPT = "In the small village by the sea, the old fisherman told his grandson a story about the"
TARGET_TOKENS = 10
# On this prompt ReAGent's probes rarely meet the stopping condition (the target leaves the top 3 once all but
# 5 of 18 tokens are replaced by random ones), so each would run 3000 steps; a cap keeps the run short.
# The ratio to the floor is per pass, so the cap does not change what it measures.
REAGENT = {"max_probe_steps": 10}
METHODS = ("attention", "gradient-x-input", "occlusion", "integrated-gradients", "reagent")
SAMPLERS = ("fill-in", "uniform")  # ReAGent's default, and Inseq's simplest (no set-up passes)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model = load_model("smollm2-135m", device="cpu")
    print(f"load (cached fp32 copy): {time.perf_counter() - start:.2f} s")
    encoded = model.encode(PROMPT)
    target = model.generate(encoded, TARGET_TOKENS)
    print(f"prompt: {len(encoded.prompt_ids)} tokens; greedy target: {len(target)} tokens {model.decode(target)!r}")
    ids = torch.tensor([encoded.prompt_ids], device=model.device)
    rows = ids.repeat(16, 1)
    with torch.inference_mode():
        per_row = median_time(lambda: model.module(input_ids=rows, use_cache=False, logits_to_keep=1), model.device, 5) / 16
    print(f"floor: bare forward at batch 16, {ids.shape[1]} tokens: {per_row * 1000:.2f} ms per row")
    print(f"{'method':<22}{'seconds':>9}{'forward':>9}{'backward':>9}")
    runs = [(m, {}) for m in args.methods if m != "reagent"]
    runs += [("reagent", {**REAGENT, "sampler": s}) for s in SAMPLERS if "reagent" in args.methods]
    for method, params in runs:
        e = explain(model, PROMPT, method=method, target=target, **params)
        name = f"{method} ({params['sampler']})" if "sampler" in params else method
        print(f"{name:<22}{e.runtime_s:>9.2f}{e.n_forward:>9}{e.n_backward:>9}")
        if method == "reagent":
            floor = e.n_forward * per_row
            print(f"  reagent: steps per token {e.extras['steps']}; floor {floor:.2f} s; ratio {e.runtime_s / floor:.2f}")
        if method == "integrated-gradients":
            print(f"  IG: max relative completeness error {max(e.extras['relative_completeness']):.4f}; "
                  f"steps per token {e.extras['steps']}")


if __name__ == "__main__":
    main()
