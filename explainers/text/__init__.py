"""Methods for text classifiers."""
