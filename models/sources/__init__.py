"""Models someone brings: files, Hugging Face directories, TorchScript (guarded), labels."""
