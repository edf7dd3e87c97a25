"""Neuron bars: the units an explanation ranks (``extras["neurons"]``: CNN channels, LM neurons) as ranked bars
labelled with what each unit is — its layer and index, and for an LM neuron the tokens it promotes (↑) and
suppresses (↓). The data is ranked bars' own (``Bars``), so every form draws it as ranked bars."""

from __future__ import annotations

from reports.figures.ranked_bars import Bars, prepare_values

SHOWN_TOKENS = 4  # decoded tokens per side in a bar's label


def unit_label(neuron: dict, tokens: int = SHOWN_TOKENS) -> str:
    """'L29 #1512 ↑ city, cities ↓ block' for an LM neuron; 'features.3 #7' for a channel."""
    layer = neuron["layer"]
    name = f"L{layer} #{neuron['index']}" if isinstance(layer, int) else f"{layer} #{neuron['index']}"
    up = [str(t).strip() or repr(t) for t, _ in neuron.get("promoted_tokens", [])[:tokens]]
    down = [str(t).strip() or repr(t) for t, _ in neuron.get("suppressed_tokens", [])[:tokens]]
    if up:
        name += " ↑ " + ", ".join(up)
    if down:
        name += " ↓ " + ", ".join(down)
    return name


def prepare(explanation, top: int | None = None) -> Bars:
    neurons = explanation.extras.get("neurons") or []
    kind = "neuron" if any("promoted_tokens" in n for n in neurons) else "channel"
    what = explanation.extras.get("rule", "gradient × activation")
    return prepare_values([unit_label(n) for n in neurons], [n["score"] for n in neurons], order="magnitude", top=top,
                          x_title=f"{what} for {explanation.target_label}", y_title=kind)


def has_neurons(explanation) -> bool:
    neurons = explanation.extras.get("neurons")
    return isinstance(neurons, list) and bool(neurons) and all(isinstance(n, dict) and "score" in n for n in neurons)
