"""Methods that explain a model by its units: CNN channels, LM neurons (and ViT neuron paths)."""
