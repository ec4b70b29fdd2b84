"""Pure PyTorch building blocks (no scikit-learn imports)."""
