"""Methods for image classifiers."""
