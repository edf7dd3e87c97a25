"""Concept methods (CRAFT) and what they build on."""
