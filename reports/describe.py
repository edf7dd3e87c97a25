"""How the reports name an explanation: its heading, its target, a name per score, and whether it is CRAFT's."""

from __future__ import annotations

from explainers.core.explanation import Explanation


def feature_names(e: Explanation) -> list[str]:
    """A name per score of a 1-D explanation: feature names, tokens (numbered: tokens repeat) or indices."""
    n = e.scores.size
    if e.feature_names and len(e.feature_names) == n:
        return list(e.feature_names)
    if e.tokens and len(e.tokens) == n:
        return [f"\u2068{t}\u2069 #{i}" for i, t in enumerate(e.tokens)]  # isolated: "#i" stays after an RTL token
    return [str(i) for i in range(n)]


def concept_name(i: int) -> str:
    return f"concept {i + 1}"


def is_craft(e: Explanation) -> bool:
    return e.method == "craft" or "concept_bank" in e.extras


def target_text(e: Explanation) -> str:
    if e.target is None and e.target_label is None:
        return "—"
    if e.target is None:
        return str(e.target_label)
    return f"{e.target_label} (index {e.target})" if e.target_label is not None else f"index {e.target}"


def heading(e: Explanation) -> str:
    """"method — target" for titles."""
    target = e.target_label if e.target_label is not None else e.target
    return f"{e.method} — {target}" if target is not None else e.method


def _shown_value(v) -> str:
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v, "dtype").kind == "f"):
        return "missing" if v != v else f"{float(v):.6g}"
    return "missing" if v is None else str(v)


def _same(a, b) -> bool:
    try:
        fa, fb = float(a), float(b)
    except (TypeError, ValueError):
        return a == b
    return (fa != fa and fb != fb) or abs(fa - fb) <= 1e-9 * max(1.0, abs(fa), abs(fb))


def row_name(index: int, original: dict, values: dict, source: str | None = None, max_edits: int = 4) -> str:
    """A table row as a report names it: "penguins row 3", with the what-if edits the explanation was made on,
    "penguins row 3 (edited: bill_length_mm 49.5 → 55)"; missing values read "missing"."""
    edits = [f"{column} {_shown_value(original.get(column))} → {_shown_value(value)}"
             for column, value in values.items() if not _same(original.get(column), value)]
    name = f"{source} row {index}" if source else f"row {index}"
    if not edits:
        return name
    more = f", and {len(edits) - max_edits} more" if len(edits) > max_edits else ""
    return f"{name} (edited: {', '.join(edits[:max_edits])}{more})"
