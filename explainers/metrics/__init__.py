"""How faithful explanations are (one module per modality), how much they agree, and the sanity check."""

from explainers.core.modality import HEADLINE  # noqa: E402  ({modality: (figure, "higher" | "lower")})

__all__ = ["HEADLINE"]
