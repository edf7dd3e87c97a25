"""Export of explanations: figures now; HTML, PDF and data bundles build on them."""
