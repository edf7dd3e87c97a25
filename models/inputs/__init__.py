"""Inputs in: images, texts, tables, bundled samples, and the one upload size limit."""
