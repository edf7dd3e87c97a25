"""Methods for generative language models."""
