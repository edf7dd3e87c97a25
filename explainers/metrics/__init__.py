"""How faithful explanations are (one module per modality), how much they agree, and the sanity check."""
