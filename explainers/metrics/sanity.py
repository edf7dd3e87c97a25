"""Model-randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

Re-initialise the model's top parameterised layers (cascading from the logits
down, seeded), explain the same input again with the same method, and compare the
two maps by Spearman's rank correlation of their absolute values (as the paper
does). An explanation that still looks the same once the model it explains is
destroyed does not depend on what the model learned: it fails the check.
``PASS_BELOW``, the correlation under which a method passes, is a convention of
this dashboard (the paper reports the curves, not a threshold).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explainers.core.explain import explain
from explainers.core.explanation import Explanation
from explainers.metrics.agreement import pairwise_agreement
from models.errors import ExplainerError
from models.seeding import seeded

PASS_BELOW = 0.5
_SEED_OFFSET = 0x5A17  # keeps seed 0 from replaying the initialisation of a model built after manual_seed(0)


@dataclass
class SanityResult:
    method: str
    randomized_layers: list[str]
    spearman: float  # of |original| vs |randomised| maps
    passed: bool
    randomized: Explanation


def parameterised_layers(module: nn.Module) -> list[str]:
    """Names of the leaf modules that hold parameters, in registration order (input side first)."""
    return [name for name, m in module.named_modules()
            if name and not list(m.children()) and any(True for _ in m.parameters(recurse=False))]


# the per-module dictionaries where torch keeps hooks (forward, pre-forward, backward, full backward, state dict)
HOOK_DICTS = (
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks",
)


def hook_count(module: nn.Module) -> int:
    """How many hooks ``module`` and its submodules carry, of every kind in ``HOOK_DICTS``."""
    return sum(len(getattr(m, name, None) or {}) for m in module.modules() for name in HOOK_DICTS)


def _drop_hooks(module: nn.Module) -> None:
    for m in module.modules():
        for name in HOOK_DICTS:
            hooks = getattr(m, name, None)
            if hooks:
                hooks.clear()
        m._is_full_backward_hook = None
    if hook_count(module):
        raise AssertionError("a randomised copy kept a hook")


def randomized_copy(model, n_layers: int = 2, seed: int = 0):
    """A copy of the adapter whose top ``n_layers`` parameterised layers are re-initialised; the original is untouched.

    The copy is made under the model's lock (a run with hooks holds it for its whole length, so no
    other session's hook is on the module then) and then stripped of every hook all the same: a
    copy never carries another session's hooks, and nobody sees the copy's passes."""
    memo: dict = {}
    with model.lock:
        module = copy.deepcopy(model.module, memo)
    _drop_hooks(module)
    names = parameterised_layers(module)[-max(1, int(n_layers)):]
    with seeded(_SEED_OFFSET + int(seed), numpy=False), torch.no_grad():
        for name in names:
            layer = module.get_submodule(name)
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
            else:
                for p in layer.parameters(recurse=False):
                    p.normal_(0, 0.02)
            for attr in ("running_mean", "running_var"):  # a batch norm's statistics are learned too
                if isinstance(getattr(layer, attr, None), torch.Tensor):
                    getattr(layer, attr).copy_(torch.zeros_like(getattr(layer, attr)) if attr == "running_mean"
                                               else torch.ones_like(getattr(layer, attr)))
    clone = model.fresh_copy()  # its own lock and pass counts; a new key for every per-model store
    for attr, value in vars(model).items():  # submodules the adapter holds (e.g. the embeddings) follow the copy
        if isinstance(value, nn.Module):
            setattr(clone, attr, memo.get(id(value), value))
    clone.module = module.eval()
    clone.name = f"{model.name} (top {len(names)} layers randomised)"
    clone.randomized_layers = names
    return clone


def sanity_applies(model) -> bool:
    """Whether ``model`` has layers to randomise: a torch network (not a scikit-learn or boosted-tree model)."""
    return isinstance(getattr(model, "module", None), nn.Module)


def sanity_check(model, x, explanation: Explanation, n_layers: int = 2, seed: int = 0) -> SanityResult:
    """Re-run ``explanation``'s method with its params, for the same target (a class, or a generation's
    continuation), on a randomised copy of ``model``."""
    from explainers.core.modality import get_modality

    if not sanity_applies(model):
        raise ExplainerError(f"The sanity check randomises a neural network's layers; {model.name} has none to "
                             "randomise.")
    randomized_model = randomized_copy(model, n_layers, seed)
    target = get_modality(explanation.modality).explained_target(explanation)
    again = explain(randomized_model, x, method=explanation.method, target=target, **explanation.params)
    rho = pairwise_agreement(np.abs(explanation.scores), np.abs(again.scores), "spearman")
    return SanityResult(explanation.method, randomized_model.randomized_layers, rho, bool(rho < PASS_BELOW), again)
