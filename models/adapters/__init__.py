"""One adapter per kind of model, all on ModelAdapter (base.py)."""
