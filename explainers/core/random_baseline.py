"""The random baseline: scores drawn uniformly at random, seeded — the reference every metric is read against."""

from __future__ import annotations

import numpy as np

from explainers.generation.methods import MAX_NEW_TOKENS, one_pass_memory
from explainers.core.registry import SEED, register


def _one_pass_unless_targeted(params, model=None, **sizes):
    """One forward pass for the top class, none when the class is given (``targeted``, as Compare gives it)."""
    return (0 if sizes.get("targeted") else 1), 0


@register("random", "image", "baseline", cost=_one_pass_unless_targeted, defaults=dict(seed=0),
          limits={"seed": SEED}, exclusive=False)
def random_image(model, image, target, *, seed):
    """Uniform random scores in [0, 1] for every pixel (seeded): what any explainer must beat."""
    index = model.class_index(target, image)  # None: one forward pass for the top class
    h, w = image.shape[:2]
    return np.random.default_rng(seed).random((h, w), dtype=np.float32), index


@register("random", "text", "baseline", cost=_one_pass_unless_targeted, defaults=dict(seed=0), signed=True,
          limits={"seed": SEED}, exclusive=False)
def random_text(model, text, target, *, seed):
    """Uniform random scores in [-1, 1] for every token (seeded; special tokens 0): what any explainer must beat."""
    from explainers.text.methods import encode, fields, finish, top_index

    enc = encode(model, text)
    index = top_index(model, enc, target)
    scores = np.random.default_rng(seed).uniform(-1, 1, len(enc.tokens)).astype(np.float32)
    return finish(scores, enc), index, fields(enc)


@register("random", "tabular", "baseline", cost=_one_pass_unless_targeted, defaults=dict(seed=0), signed=True,
          limits={"seed": SEED}, exclusive=False)
def random_tabular(model, frame, target, *, seed):
    """Uniform random scores in [-1, 1] for every feature of one row (seeded): what any explainer must beat."""
    frame = model.rows(frame)
    index = model.class_index(target, frame.iloc[:1])
    scores = np.random.default_rng(seed).uniform(-1, 1, len(model.feature_names)).astype(np.float32)
    return scores, index, {"feature_names": model.feature_names}


@register("random", "generation", "baseline", cost=lambda params, model=None, **sizes: (0, 0),
          defaults=dict(max_new_tokens=20, seed=0), signed=True,
          limits={"max_new_tokens": MAX_NEW_TOKENS, "seed": SEED}, memory=one_pass_memory, exclusive=False)
def random_generation(model, text, target, *, max_new_tokens, seed):
    """Uniform random scores in [-1, 1] for every (generated token, prompt token) pair (seeded)."""
    from explainers.generation.methods import make_task

    task = make_task(model, text, target, max_new_tokens)
    shape = (len(task.encoded.target_ids), task.n_prompt)
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32), None, task.fields()
