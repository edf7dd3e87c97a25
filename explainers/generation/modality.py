"""The generation modality: a prompt (clean text) and the continuation to explain, given or generated.

The prompt is tokenised with its target (the continuation changes how the prompt's end is split), so it is
prepared as clean text and tokenised once per method run (``make_task``).
"""

from __future__ import annotations

from explainers.core.modality import Modality, register_modality
from explainers.text.modality import read_lines
from models.adapters.causal_lm import prepare_prompt


def prepare(x, model=None) -> str:
    return prepare_prompt(x)


def sizes(model, prompt, target=None, params=None) -> dict[str, int]:
    encoded = model.encode(prompt, target)
    n_target = len(encoded.target_ids) or int((params or {}).get("max_new_tokens") or 20)
    return {"n_prompt": len(encoded.prompt_ids), "n_target": n_target}


def faithfulness(model, prompt, e) -> dict:
    from explainers.metrics.generation import soft_ns_nc

    return soft_ns_nc(model, e)


GENERATION = register_modality(Modality(
    id="generation",
    label="Prompt (generation)",
    prepare=prepare,
    sizes=sizes,
    # occlusion: exact, deterministic and a few passes per prompt token; ReAGent is offered beside it
    default_methods=("occlusion",),
    faithfulness=faithfulness,
    better={"soft_ns_mean": "higher", "soft_nc_mean": "higher"},
    figures=("generation_matrix", "ranked_bars", "agreement_matrix"),
    read_path=read_lines,
    target_kind="continuation",
    explained_target=lambda e: list(e.extras["target_ids"]),  # the continuation, as token ids
))
